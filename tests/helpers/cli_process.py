"""`livesync ...` run the way a user runs it: a subprocess in a folder of
their own, read through what it prints.

`run_cli` runs a command to its end; `CliProcess` keeps a long-running one
(`livesync dev`) and waits on its printed lines, each with a timeout.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from tests.helpers.server import REPO_ROOT
from tests.helpers.timeouts import REPLY, STARTUP

__all__ = ["CliProcess", "cli_environment", "run_cli"]

_LISTENING = re.compile(r"^livesync: listening on (http://\S+)$")


def cli_environment() -> dict[str, str]:
    """The environment of a `livesync` child: the checkout's code, unbuffered."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`livesync ARGS` in `cwd`, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=cwd,
        env=cli_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=STARTUP,
    )


class CliProcess:
    """A running `livesync ARGS` in `cwd`; each printed line is kept and can
    be waited for."""

    def __init__(
        self, args: list[str], cwd: Path, *, shell: bool = False, env: dict[str, str] | None = None
    ) -> None:
        """With `shell`, `args` is one line a user types, run by bash in a
        process group of its own, so its children (pip, livesync) stop
        with it."""
        self._group = shell
        self._proc = subprocess.Popen(
            ["bash", "-c", *args] if shell else [sys.executable, "-m", "server", *args],
            cwd=cwd,
            env=env if env is not None else cli_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=shell,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._out: queue.Queue[str | None] = queue.Queue()
        self._err: queue.Queue[str | None] = queue.Queue()
        for stream, lines in ((self._proc.stdout, self._out), (self._proc.stderr, self._err)):
            threading.Thread(target=_pump, args=(stream, lines), daemon=True).start()

    def wait_listening(self) -> str:
        """The server's URL, once it says it accepts connections."""
        match = _LISTENING.match(self.expect_stdout(_LISTENING.pattern, STARTUP))
        assert match is not None
        return match.group(1)

    def expect_stdout(self, pattern: str, timeout: float = REPLY) -> str:
        """The next stdout line matching `pattern` (lines before it are kept)."""
        return self._expect(self._out, self.stdout, pattern, timeout)

    def expect_stderr(self, pattern: str, timeout: float = REPLY) -> str:
        """The next stderr line matching `pattern` (lines before it are kept)."""
        return self._expect(self._err, self.stderr, pattern, timeout)

    def _expect(
        self, lines: queue.Queue[str | None], seen: list[str], pattern: str, timeout: float
    ) -> str:
        wanted = re.compile(pattern)
        while True:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"no line matching {pattern!r} within {timeout} s\n{self}"
                ) from None
            if line is None:
                raise AssertionError(f"the process ended before {pattern!r}\n{self}")
            seen.append(line.rstrip("\n"))
            if wanted.search(seen[-1]):
                return seen[-1]

    def stop(self) -> int:
        """SIGINT (a user's Ctrl-C), then SIGKILL after a REPLY wait; the exit code."""
        if self._proc.poll() is None:
            self._signal(signal.SIGINT)
            try:
                self._proc.wait(timeout=REPLY)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self._proc.wait(timeout=REPLY)
        return self._proc.returncode

    def _signal(self, number: int) -> None:
        if self._group:
            os.killpg(self._proc.pid, number)
        else:
            self._proc.send_signal(number)

    def __str__(self) -> str:
        for lines, seen in ((self._out, self.stdout), (self._err, self.stderr)):
            while not lines.empty():
                line = lines.get_nowait()
                if line is not None:
                    seen.append(line.rstrip("\n"))
        return "stdout:\n" + "\n".join(self.stdout) + "\nstderr:\n" + "\n".join(self.stderr)


def _pump(stream: IO[str] | None, lines: queue.Queue[str | None]) -> None:
    if stream is not None:
        for line in stream:
            lines.put(line)
    lines.put(None)
