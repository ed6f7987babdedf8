"""Capturing `print()` and `logging` output of a running function as log lines.

Convex returns a function's console output to the client as lines like
`"[LOG] hello"` and `"[ERROR] boom"`. Here, `print()` becomes `[LOG] ...`
(one line per print call, as print would have written it without the final
newline) and a logging record becomes `[DEBUG]`, `[INFO]`, `[WARN]` or
`[ERROR]` with its formatted message.

Executions run concurrently on one event loop, so the collector of the
current execution lives in a context variable; one stdout proxy and one root
logging handler (each installed once) route output to whichever collector is
current, and anything written outside a function goes where it would have.
"""

from __future__ import annotations

import contextvars
import io
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["MAX_LOG_LINES", "LogCollector", "capture_logs", "current_collector"]

MAX_LOG_LINES = 256
"""Log lines kept per execution; one `[WARN] Log overflow` line follows."""

# Infrastructure loggers: their records are the server's, never the app's.
_SERVER_LOGGERS = (
    "livesync",
    "aiosqlite",
    "asyncio",
    "asyncpg",
    "websockets",
    "uvicorn",
    "httpx",
    "httpcore",
)
_LEVELS = (
    (logging.ERROR, "ERROR"),
    (logging.WARNING, "WARN"),
    (logging.INFO, "INFO"),
)


class LogCollector:
    """The log lines of one execution."""

    __slots__ = ("_lines", "_pending", "_limit", "_overflowed")

    def __init__(self, limit: int = MAX_LOG_LINES) -> None:
        self._lines: list[str] = []
        self._pending = ""
        self._limit = limit
        self._overflowed = False

    def add(self, line: str) -> None:
        if len(self._lines) < self._limit:
            self._lines.append(line)
        elif not self._overflowed:
            self._overflowed = True
            self._lines.append("[WARN] Log overflow")

    def extend(self, lines: tuple[str, ...] | list[str]) -> None:
        for line in lines:
            self.add(line)

    def write_stdout(self, text: str) -> None:
        # print() writes its text and its `end` separately; a line is done
        # when a write ends with a newline.
        self._pending += text
        if self._pending.endswith("\n"):
            self.add("[LOG] " + self._pending[:-1])
            self._pending = ""

    def lines(self) -> tuple[str, ...]:
        """Every line so far, including unterminated print output."""
        if self._pending:
            self.add("[LOG] " + self._pending)
            self._pending = ""
        return tuple(self._lines)


_current: contextvars.ContextVar[LogCollector | None] = contextvars.ContextVar(
    "livesync_log_collector", default=None
)


def current_collector() -> LogCollector | None:
    return _current.get()


class _StdoutProxy(io.TextIOBase):
    """Stands in for sys.stdout: writes inside a function go to its collector."""

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self.target = target

    def write(self, text: str) -> int:
        collector = _current.get()
        if collector is None:
            return self.target.write(text)
        collector.write_stdout(text)
        return len(text)

    def flush(self) -> None:
        if _current.get() is None:
            self.target.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


class _CaptureHandler(logging.Handler):
    """On the root logger: records from app code inside a function become log
    lines; every other record is left to the other handlers."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        collector = _current.get()
        if collector is not None and not _is_server_logger(record.name):
            collector.add(f"[{_level_name(record.levelno)}] {self.format(record)}")
            return
        last_resort = logging.lastResort
        if last_resort is not None and _only_handler(self, record):
            # Our handler hides Python's last-resort stderr output; restore it.
            if record.levelno >= last_resort.level:
                last_resort.handle(record)

    def filter(self, record: logging.LogRecord) -> bool:
        return True


def _is_server_logger(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in _SERVER_LOGGERS)


def _level_name(levelno: int) -> str:
    for threshold, name in _LEVELS:
        if levelno >= threshold:
            return name
    return "DEBUG"


def _only_handler(handler: logging.Handler, record: logging.LogRecord) -> bool:
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None:
        if any(h is not handler for h in logger.handlers):
            return False
        if not logger.propagate:
            return False
        logger = logger.parent
    return True


_handler = _CaptureHandler()


def _install() -> None:
    # Re-checked on every capture: something (a test harness) may have
    # swapped sys.stdout since the last one.
    if not isinstance(sys.stdout, _StdoutProxy) and sys.stdout is not None:
        sys.stdout = _StdoutProxy(sys.stdout)
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)


@contextmanager
def capture_logs(collector: LogCollector | None = None) -> Iterator[LogCollector]:
    """Route print and logging output of the current context to a collector."""
    _install()
    collector = collector if collector is not None else LogCollector()
    token = _current.set(collector)
    try:
        yield collector
    finally:
        _current.reset(token)
