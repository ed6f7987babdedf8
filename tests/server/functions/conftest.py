"""Fixtures for the function-layer tests: app folders written to tmp_path and
a real SQLite store opened on the app's indexes."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from server.functions.registry import FunctionRegistry
from server.store.sqlite import SqliteStore
from tests.helpers.runner import AppRunner

__all__ = ["make_app", "open_runner"]

WriteApp = Callable[[dict[str, str]], Path]


@pytest.fixture
def make_app(tmp_path: Path) -> WriteApp:
    """Write `{relative path: source}` into a fresh folder and return it."""
    counter = iter(range(1_000))

    def write(files: dict[str, str]) -> Path:
        root = tmp_path / f"app{next(counter)}"
        for relative, source in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source))
        return root

    return write


@pytest.fixture
async def open_runner(
    tmp_path: Path,
) -> AsyncIterator[Callable[[Path], object]]:
    """Load an app folder, open a SQLite store on its indexes, return a runner."""
    stores: list[SqliteStore] = []

    async def open_app(root: Path) -> AppRunner:
        registry = FunctionRegistry.load(root)
        store = SqliteStore(tmp_path / f"db{len(stores)}.sqlite")
        await store.open(registry.index_defs())
        stores.append(store)
        return AppRunner(registry, store)

    yield open_app
    for store in stores:
        await store.close()
