"""Storage: the `Store` interface, its backends, and `open_store` to pick one.

`open_store(url)` builds an unopened store from a database URL:

    sqlite:///relative/path.db     relative to the working directory
    sqlite:////abs/path.db         absolute
    sqlite::memory:                in memory, gone at close (tests)
    postgresql://user:pw@host/db   PostgreSQL (asyncpg); postgres:// too
"""

from __future__ import annotations

from pathlib import Path

from server.errors import ConfigError
from server.store.base import (
    Commit,
    Document,
    IndexDef,
    IndexKeyChange,
    Order,
    Snapshot,
    Store,
    Transaction,
    Write,
)
from server.store.postgres import PostgresStore
from server.store.sqlite import SqliteStore

__all__ = [
    "Commit",
    "Document",
    "IndexDef",
    "IndexKeyChange",
    "Order",
    "PostgresStore",
    "Snapshot",
    "SqliteStore",
    "Store",
    "Transaction",
    "Write",
    "open_store",
]

_SQLITE_PREFIX = "sqlite:///"
_SQLITE_MEMORY = ("sqlite::memory:", "sqlite:///:memory:")
_POSTGRES_PREFIXES = ("postgresql://", "postgres://")


def open_store(url: str, *, read_only: bool = False) -> Store:
    """A store for `url`, not yet opened (call `await store.open(indexes)`).
    Creates the parent folders of a SQLite file. A `read_only` store reads
    the database as it is (no schema created, no index migrated, no writes),
    and on SQLite it may do so while a server has the file.

    Raises:
        ConfigError: the URL names no supported backend.
    """
    if url in _SQLITE_MEMORY:
        return SqliteStore(":memory:", read_only=read_only)
    if url.startswith(_SQLITE_PREFIX):
        path, _, query = url.partition("?")
        options = _sqlite_options(url, query)
        synchronous = options.get("synchronous", "NORMAL")
        return SqliteStore(_sqlite_path(path), synchronous=synchronous, read_only=read_only)
    if url.startswith(_POSTGRES_PREFIXES):
        return PostgresStore(url, read_only=read_only)
    raise ConfigError(
        f"database.url {url!r} is not supported: use sqlite:///path.db or postgresql://..."
    )


def _sqlite_options(url: str, query: str) -> dict[str, str]:
    # `?synchronous=FULL` makes each commit survive power loss too; the
    # default, NORMAL with WAL, survives a process crash but may lose the
    # last commits to an OS crash (RELIABILITY.md).
    options: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        if key != "synchronous":
            raise ConfigError(f"database.url {url!r}: unknown option {key!r} (known: synchronous)")
        options[key] = value
    return options


def _sqlite_path(url: str) -> Path:
    # "sqlite:///a.db" is relative, "sqlite:////a.db" absolute, as in SQLAlchemy.
    rest = url[len(_SQLITE_PREFIX) :]
    if not rest or rest.endswith("/"):
        raise ConfigError(f"database.url {url!r} names no file")
    path = Path(rest)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"database.url {url!r}: cannot create {path.parent}: {exc}") from exc
    return path
