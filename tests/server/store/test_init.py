"""open_store picks the backend from a database URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.errors import ConfigError, StoreError, StoreUnavailable
from server.store import PostgresStore, SqliteStore, open_store
from tests.helpers.postgres import fresh_database


async def test_relative_sqlite_url_creates_parent_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///data/nested/app.db")
    assert isinstance(store, SqliteStore)
    await store.open([])
    try:
        await store.write(lambda tx: tx.insert("t", {}))
    finally:
        await store.close()
    assert (tmp_path / "data" / "nested" / "app.db").is_file()


async def test_absolute_sqlite_url_uses_the_absolute_path(tmp_path: Path) -> None:
    target = tmp_path / "abs" / "app.db"
    store = open_store(f"sqlite:///{target}")
    await store.open([])
    await store.close()
    assert target.is_file()


async def test_memory_url_gives_a_working_store() -> None:
    store = open_store("sqlite::memory:")
    await store.open([])
    try:
        doc_id, _ = await store.write(lambda tx: tx.insert("t", {"a": 1}))
        doc = await store.snapshot().get(doc_id)
        assert doc is not None and doc["a"] == 1
    finally:
        await store.close()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgresql_urls_build_a_postgres_store(scheme: str) -> None:
    assert isinstance(open_store(f"{scheme}://user@localhost/db"), PostgresStore)


async def test_a_postgresql_url_gives_a_working_store() -> None:
    async with fresh_database() as url:
        store = open_store(url)
        await store.open([])
        try:
            doc_id, _ = await store.write(lambda tx: tx.insert("t", {"a": 1}))
            doc = await store.snapshot().get(doc_id)
            assert doc is not None and doc["a"] == 1
        finally:
            await store.close()


async def test_an_unreachable_postgresql_server_is_a_retryable_store_error() -> None:
    # Port 1 on localhost: nothing listens, the connection is refused.
    store = open_store("postgresql://user:secret@127.0.0.1:1/db")
    with pytest.raises(StoreUnavailable):
        await store.open([])


async def test_a_missing_postgresql_database_is_a_store_error() -> None:
    async with fresh_database() as url:
        store = open_store(url.rsplit("/", 1)[0] + "/livesync_no_such_database")
        with pytest.raises(StoreError, match="does not exist"):
            await store.open([])


@pytest.mark.parametrize("url", ["mysql://x", "sqlite:///", "data.db"])
def test_unsupported_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        open_store(url)


async def test_synchronous_full_is_chosen_in_the_url(tmp_path: Path) -> None:
    target = tmp_path / "full.db"
    store = open_store(f"sqlite:///{target}?synchronous=FULL")
    await store.open([])
    try:
        await store.write(lambda tx: tx.insert("t", {}))
    finally:
        await store.close()
    assert target.is_file() and not (tmp_path / "full.db?synchronous=FULL").exists()
    assert isinstance(store, SqliteStore) and store._synchronous == "FULL"


@pytest.mark.parametrize("query", ["mode=ro", "synchronous=SOMETIMES"])
def test_unknown_sqlite_options_are_refused(tmp_path: Path, query: str) -> None:
    with pytest.raises(ConfigError):
        open_store(f"sqlite:///{tmp_path / 'x.db'}?{query}")
