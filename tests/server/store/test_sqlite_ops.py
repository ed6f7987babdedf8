"""The store's SQL functions on a bare sqlite3 connection."""

from __future__ import annotations

import sqlite3

import pytest

from server.store import sqlite_ops as ops


@pytest.fixture
def conn() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    ops.create_schema(conn)
    return conn


def test_read_page_takes_the_newest_entry_per_key_at_the_snapshot(conn: sqlite3.Connection) -> None:
    ops.commit(
        conn,
        [("d1", 1, "t", '{"v":1}', 0), ("d1", 3, "t", '{"v":3}', 0)],
        [("t.i", b"k1", 1, "d1", 0), ("t.i", b"k1", 3, "d1", 1), ("t.i", b"k2", 3, "d1", 0)],
        [],
        3,
    )
    assert ops.read_page(conn, "t.i", b"", None, 2, "asc", 10) == [(b"k1", 0, '{"v":1}')]
    assert ops.read_page(conn, "t.i", b"", None, 3, "asc", 10) == [
        (b"k1", 1, None),
        (b"k2", 0, '{"v":3}'),
    ]
    assert ops.read_page(conn, "t.i", b"", b"k2", 3, "desc", 10) == [(b"k1", 1, None)]
    assert ops.load_meta(conn) == (3, None, 1)


def test_commit_failure_rolls_back_everything(conn: sqlite3.Connection) -> None:
    bad_row = ("d1", 1, "t", "{}", 0, "extra column")
    with pytest.raises(sqlite3.Error):
        ops.commit(conn, [("d0", 1, "t", "{}", 0)], [], [bad_row], 1)  # type: ignore[list-item]
    assert not conn.in_transaction
    assert conn.execute("SELECT COUNT(*) FROM documents").fetchone() == (0,)
    assert ops.load_meta(conn) == (0, None, 1)


def test_configure_refuses_an_unknown_synchronous_mode(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        ops.configure(conn, "SOMETIMES", True)
