"""What `server.store.aiosqlite_hop` relies on in aiosqlite's private API.

If one of these fails after an aiosqlite upgrade, `run` must change (see its
module docstring for the public way out), not this test.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator

import aiosqlite
import pytest

from server.errors import StoreError
from server.store.aiosqlite_hop import run


@pytest.fixture
async def conn() -> AsyncIterator[aiosqlite.Connection]:
    connection = await aiosqlite.connect(":memory:", isolation_level=None)
    yield connection
    await connection.close()


def _thread_of(db: sqlite3.Connection) -> int:
    return threading.get_ident()


async def test_the_private_members_exist_with_their_shapes(conn: aiosqlite.Connection) -> None:
    assert isinstance(conn._conn, sqlite3.Connection)
    assert callable(conn._execute)


async def test_run_uses_the_connection_aiosqlite_itself_uses_on_its_thread(
    conn: aiosqlite.Connection,
) -> None:
    await conn.execute("CREATE TABLE t (n INTEGER)")
    await run(conn, lambda db, n: db.execute("INSERT INTO t VALUES (?)", (n,)), 7)
    assert list(await conn.execute_fetchall("SELECT n FROM t")) == [(7,)]
    thread = await run(conn, _thread_of)
    assert thread != threading.get_ident()
    assert thread == conn._thread.ident


async def test_jobs_run_in_order_with_public_calls(conn: aiosqlite.Connection) -> None:
    await conn.execute("CREATE TABLE t (n INTEGER)")

    def insert(db: sqlite3.Connection, n: int) -> None:
        db.execute("INSERT INTO t VALUES (?)", (n,))

    # Queued without awaiting in between: each must land in call order.
    first = run(conn, insert, 1)
    second = conn.execute("INSERT INTO t VALUES (2)")
    third = run(conn, insert, 3)
    await first
    await second
    await third
    assert list(await conn.execute_fetchall("SELECT n FROM t ORDER BY rowid")) == [
        (1,),
        (2,),
        (3,),
    ]


async def test_a_jobs_errors_come_back_as_store_errors(conn: aiosqlite.Connection) -> None:
    def bad_sql(db: sqlite3.Connection) -> None:
        db.execute("NOT SQL")

    def too_big(db: sqlite3.Connection) -> None:
        db.execute("SELECT ?", (2**64,))

    for job in (bad_sql, too_big):
        with pytest.raises(StoreError, match=job.__name__):
            await run(conn, job)


async def test_a_closed_connection_refuses_jobs_with_a_value_error() -> None:
    conn = await aiosqlite.connect(":memory:")
    await conn.close()
    with pytest.raises(ValueError):
        await conn._execute(lambda: None)  # type: ignore[no-untyped-call]
    with pytest.raises(StoreError, match="_thread_of"):
        await run(conn, _thread_of)
