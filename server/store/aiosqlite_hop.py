"""One thread hop for a whole batch of SQL, through aiosqlite's private queue.

aiosqlite's public API costs a hop to its connection thread per statement
(`execute`, `executemany`, ...). A commit is five or six statements (BEGIN,
documents, index entries, results, `latest_ts`, COMMIT), and a hop costs
more than the SQL itself. On the bench machine a one-document commit took
~100 us in one hop and ~390 us with a hop per statement through the public
API (`python -m bench.store_hops`); through `SqliteStore.write`, ~170 us
against ~400 us. Reads are one statement, so one hop, either way.

`run` relies on two private members of `aiosqlite.Connection` (0.22):

- `_execute(fn)` queues `fn` on the connection's own thread, in order with
  every other call on that connection, and returns (or raises) what `fn`
  did; on a closed connection it raises `ValueError`;
- `_conn` is the open `sqlite3.Connection`, to be used on that thread only.

`tests/server/store/test_aiosqlite_hop.py` fails if either changes. The
public way out, if they do, is the same hop without aiosqlite: a plain
`sqlite3` connection and a one-thread executor (`loop.run_in_executor`),
measured at about the same cost per hop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

import aiosqlite

from server.errors import StoreError

__all__ = ["run"]

P = ParamSpec("P")
T = TypeVar("T")


async def run(
    conn: aiosqlite.Connection,
    fn: Callable[Concatenate[sqlite3.Connection, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Run `fn(sqlite3_connection, *args, **kwargs)` on `conn`'s thread.

    Raises:
        StoreError: `fn` raised a `sqlite3.Error`, a `ValueError` (also what a
            closed connection raises) or an `OverflowError` (an int past
            SQLite's 64-bit INTEGER).
    """

    def job() -> T:
        return fn(conn._conn, *args, **kwargs)

    try:
        result: T = await conn._execute(job)  # type: ignore[no-untyped-call]
    except (sqlite3.Error, ValueError, OverflowError) as exc:
        raise StoreError(f"SQLite {fn.__name__} failed: {exc}") from exc
    return result
