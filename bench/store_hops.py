"""`python -m bench.store_hops`: what one thread hop per commit saves.

Times the store's commit of one document, one index entry and one mutation
result (`sqlite_ops.commit`, WAL, synchronous=NORMAL) sent two ways: in one
hop through `server.store.aiosqlite_hop.run` (aiosqlite's private queue),
and statement by statement through aiosqlite's public API, one hop each.
The difference is why `aiosqlite_hop` exists.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiosqlite

from server.store import sqlite_ops as ops
from server.store.aiosqlite_hop import run

__all__ = ["main"]

COMMITS = 2000
ROUNDS = 5

Params = Sequence[object]


class _Recorder:
    """Stands in for the sqlite3 connection to note what a commit sends."""

    in_transaction = True

    def __init__(self) -> None:
        self.statements: list[tuple[str, Params | list[Params]]] = []
        self.many: list[bool] = []

    def execute(self, sql: str, params: Params = ()) -> None:
        self.statements.append((sql, params))
        self.many.append(False)

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        self.statements.append((sql, list(rows)))
        self.many.append(True)


def _rows(n: int, ts: int) -> tuple[list[ops.DocRow], list[ops.IndexRow], list[ops.ResultRow]]:
    doc_id = f"doc{n}"
    return (
        [(doc_id, ts, "counters", '{"n":1}', 0)],
        [("by_id", doc_id.encode(), ts, doc_id, 0)],
        [("session", n, ts, "null", None)],
    )


async def _one_hop(conn: aiosqlite.Connection, n: int) -> None:
    await run(conn, ops.commit, *_rows(n, n + 1), n + 1)


async def _hop_per_statement(conn: aiosqlite.Connection, n: int) -> None:
    recorder = _Recorder()
    ops.commit(recorder, *_rows(n, n + 1), n + 1)  # type: ignore[arg-type]
    for (sql, params), many in zip(recorder.statements, recorder.many, strict=True):
        if many:
            await conn.executemany(sql, params)
        else:
            await conn.execute(sql, params)


async def _time(path: Path, one_hop: bool) -> float:
    """Median microseconds per commit over `ROUNDS` rounds of `COMMITS`."""
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await run(conn, ops.configure, "NORMAL", True)
        await run(conn, ops.create_schema)
        commit = _one_hop if one_hop else _hop_per_statement
        n = 0 if one_hop else COMMITS * ROUNDS
        rounds = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            for _ in range(COMMITS):
                await commit(conn, n)
                n += 1
            rounds.append((time.perf_counter() - start) / COMMITS * 1e6)
        return statistics.median(rounds)
    finally:
        await conn.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hops.sqlite"
        one = await _time(path, one_hop=True)
        each = await _time(path, one_hop=False)
    print(f"commit in one hop (aiosqlite_hop.run): {one:.0f} us")
    print(f"commit with a hop per statement (public API): {each:.0f} us")
    print(f"ratio: {each / one:.2f} x")


if __name__ == "__main__":
    asyncio.run(main())
