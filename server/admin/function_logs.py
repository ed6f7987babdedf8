"""The function calls of the deployment, for the dashboard's Logs view.

The runner hands every finished run to `FunctionLog.record`, which only
appends it to a bounded buffer: the hot path makes no commit. A task of its
own writes the buffer into the `_function_logs` system table once a second,
in one transaction, and deletes the oldest calls beyond the newest `entries`
of the deployment. A query of the table (`_system/dashboard:logs`) is
therefore live like any other, a second behind at most; on PostgreSQL it
holds the calls of every node.

A document holds the calls of one second of one function, kind and outcome
(up to `CALLS_PER_DOCUMENT`), not one call: a busy node finishes thousands of
calls a second, and a document for each cost it a measurable part of its
mutation rate (BENCHMARKS.md, "Function logs"). The function, kind and
outcome are the document's own fields, so the Logs view's filters are plain
query filters; the calls are one JSON text, with their `count` beside it.

The dashboard's own functions (`_system/...`) are left out: each refresh of
the Logs view would log itself.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from typing import Any

from server.admin.dashboard import SYSTEM_PREFIX
from server.errors import LivesyncError
from server.functions.runner import CallRecord
from server.store.base import Document, Transaction
from server.store.catalog import BY_CREATION_TIME, FUNCTION_LOGS
from server.sync.engine import Engine

__all__ = [
    "BUFFERED_CALLS",
    "CALLS_PER_DOCUMENT",
    "FLUSH_INTERVAL",
    "LOG_LINE_CHARS",
    "FunctionLog",
]

log = logging.getLogger("livesync.server")

FLUSH_INTERVAL = 1.0  # seconds between writes of the buffer
# Calls held between two writes; beyond it the oldest are dropped (and
# counted): a burst must not grow the server's memory without bound, while
# a node finishing a few thousand calls a second keeps them all.
BUFFERED_CALLS = 10_000
# Calls in one document at most, and the characters of their log lines: a
# document (and the update of every Logs page showing it) stays small.
CALLS_PER_DOCUMENT = 100
DOCUMENT_LOG_CHARS = 256 * 1024
# Characters kept of one log line, and of all the lines of one call: a print
# of a whole response must not make a document huge.
LOG_LINE_CHARS = 2000
CALL_LOG_CHARS = 32 * 1024
# Characters of log lines held between two writes; beyond them calls are
# dropped too (10,000 calls of 32 KB each would be 320 MB).
BUFFERED_LOG_CHARS = 32 * 1024 * 1024


class FunctionLog:
    """Buffers finished runs and writes them to `_function_logs`.

    Args:
        node_id: this node's id (`_nodes`), stored with each call.
        entries: how many calls the table keeps, the newest.
        buffered: how many calls wait between two writes at most.
        buffered_chars: how many characters of log lines they hold at most.
    """

    def __init__(
        self,
        node_id: str,
        entries: int,
        buffered: int = BUFFERED_CALLS,
        buffered_chars: int = BUFFERED_LOG_CHARS,
    ) -> None:
        self._node_id = node_id
        self._entries = entries
        self._chars_bound = buffered_chars
        # deque.append is atomic: action threads record without a lock.
        self._buffer: collections.deque[CallRecord] = collections.deque(maxlen=buffered)
        self._buffered_chars = 0  # of the buffered calls' log lines, about
        self.dropped = 0  # calls never written: buffer overflow or a failed write
        self._reported = 0
        # Trimming reads the kept entries, so it runs once a tenth of them
        # has been written by this node, not at every write.
        self._trim_every = max(1, entries // 10)
        self._since_trim = 0
        self._engine: Engine | None = None
        self.task: asyncio.Task[None] | None = None

    def record(self, call: CallRecord) -> None:
        """Take one finished run (any thread; never blocks). Its log lines
        are cut here, so the buffer holds no more than the documents will."""
        if call.path.startswith(SYSTEM_PREFIX):
            return
        chars = sum(map(len, call.log_lines))
        if chars > LOG_LINE_CHARS:  # a line, or all of them, may be too long
            call = call._replace(log_lines=_clipped_lines(call.log_lines))
            chars = sum(map(len, call.log_lines))
        # Races between threads miscount these by a call now and then.
        if self._buffered_chars + chars > self._chars_bound:
            self.dropped += 1
            return
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += 1
        self._buffered_chars += chars
        self._buffer.append(call)

    def start(self, engine: Engine) -> None:
        """Write the buffer through `engine` every second from now on."""
        self._engine = engine
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def flush(self) -> int:
        """Write what is buffered now; returns how many calls were written."""
        assert self._engine is not None, "start() has not run"
        batch = [self._buffer.popleft() for _ in range(len(self._buffer))]
        self._buffered_chars = 0
        if self.dropped > self._reported:
            log.warning(
                "function log: %d call(s) dropped so far (more than %d a second or "
                "%d MB of log lines, or a write failed)",
                self.dropped,
                self._buffer.maxlen,
                self._chars_bound // 2**20,
            )
            self._reported = self.dropped
        if not batch:
            return 0
        docs = self._documents(batch)
        trim = self._since_trim + len(batch) >= self._trim_every

        async def write(tx: Transaction) -> None:
            for doc in docs:
                await tx.insert(FUNCTION_LOGS, doc, system=True)
            if trim:
                await self._trim(tx)

        try:
            await self._engine.transact(write)
        except LivesyncError:
            self.dropped += len(batch)
            raise
        self._since_trim = 0 if trim else self._since_trim + len(batch)
        return len(batch)

    async def close(self) -> None:
        """Stop the task, then write what is left."""
        if self.task is None:
            return
        self.task.cancel()
        # A task that died has told /health already; shutdown goes on.
        await asyncio.gather(self.task, return_exceptions=True)
        try:
            await self.flush()
        except LivesyncError as exc:
            log.warning("could not write the last function log entries: %s", exc)

    async def _trim(self, tx: Transaction) -> None:
        """Delete every call but the newest `entries` (of every node): the
        documents past them, and the older calls of the one they end in."""
        kept = 0
        index = f"{FUNCTION_LOGS}.{BY_CREATION_TIME}"
        async for _, doc in tx.scan(index, b"", None, "desc"):
            count = _call_count(doc)
            room = self._entries - kept
            if room <= 0:
                await tx.delete(doc["_id"], system=True)
            elif count > room:
                newest = json.loads(doc["calls"])[-room:]  # calls are oldest first
                fields = {key: value for key, value in doc.items() if not key.startswith("_")}
                await tx.replace(doc["_id"], {**fields, **_calls_fields(newest)}, system=True)
            kept += count

    def _documents(self, batch: list[CallRecord]) -> list[dict[str, Any]]:
        """The documents holding `batch` (oldest first): a call joins the
        latest document of its function, kind and outcome while that has
        room. Documents are ordered by their newest call, so reading them
        newest first reads calls about newest first."""
        # group -> the calls of its open document, and their log characters
        open_groups: dict[tuple[str, str, bool], tuple[list[dict[str, Any]], int]] = {}
        newest: dict[tuple[str, str, bool], int] = {}  # group -> its newest call's position
        done: list[tuple[int, tuple[str, str, bool], list[dict[str, Any]]]] = []
        for n, call in enumerate(batch):
            group = (call.path, call.kind, call.error is None)
            entry = _entry(call)
            size = _log_chars(entry)
            calls, chars = open_groups.get(group, ([], 0))
            if calls and (len(calls) >= CALLS_PER_DOCUMENT or chars + size > DOCUMENT_LOG_CHARS):
                done.append((newest[group], group, calls))
                calls, chars = [], 0
            calls.append(entry)
            open_groups[group] = (calls, chars + size)
            newest[group] = n
        done.extend((newest[group], group, calls) for group, (calls, _) in open_groups.items())
        done.sort(key=lambda item: item[0])
        return [
            {
                "nodeId": self._node_id,
                "path": path,
                "kind": kind,
                "ok": ok,
                **_calls_fields(calls),
            }
            for _, (path, kind, ok), calls in done
        ]

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.flush()
            except LivesyncError:
                log.exception("writing the function log failed")
            await asyncio.sleep(max(0.0, FLUSH_INTERVAL - (time.monotonic() - started)))


def _call_count(doc: Document) -> int:
    """The calls a document of the log holds. One written by a livesync from
    before documents held several (or by such a node of the deployment,
    during an upgrade) is one call with its fields at the top."""
    count, calls = doc.get("count"), doc.get("calls")
    if isinstance(calls, str) and isinstance(count, int | float) and not isinstance(count, bool):
        return int(count)
    return 1


def _calls_fields(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """A document's `calls`, as JSON text: the encoder of the store's values
    costs far more than one json.dumps for thousands of small objects, and
    only the dashboard's query reads them."""
    return {"count": float(len(calls)), "calls": json.dumps(calls, separators=(",", ":"))}


def _entry(call: CallRecord) -> dict[str, Any]:
    """One call as a document stores it."""
    return {
        "startedAt": call.started_at,
        "durationMs": call.duration_ms,
        "error": call.error,
        "logLines": list(call.log_lines),  # cut by `record`
        "subject": call.subject,
    }


def _clipped_lines(lines: tuple[str, ...]) -> tuple[str, ...]:
    """`lines`, each cut at LOG_LINE_CHARS, all together at CALL_LOG_CHARS."""
    kept: list[str] = []
    room = CALL_LOG_CHARS
    for n, line in enumerate(lines):
        if len(line) > LOG_LINE_CHARS:
            line = line[:LOG_LINE_CHARS] + f"… ({len(line) - LOG_LINE_CHARS} more characters)"
        if len(line) > room:
            kept.append(f"… ({len(lines) - n} more lines)")
            break
        kept.append(line)
        room -= len(line)
    return tuple(kept)


def _log_chars(entry: dict[str, Any]) -> int:
    return sum(len(line) for line in entry["logLines"]) + len(entry["error"] or "")
