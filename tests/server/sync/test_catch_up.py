"""The engine's catch-up: what a node does when commits it did not make may
have changed what its subscribers read. Cross-node runs are in tests/cluster;
this covers the case a shared store cannot answer: its log no longer reaches
back, so every subscriber must re-run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from protocol.values import canonical_json, encode_args
from server.functions.registry import FunctionRegistry
from server.functions.runner import FunctionRunner
from server.metrics import Metrics
from server.store.base import Commit
from server.store.sqlite import SqliteStore
from server.sync.engine import Engine
from server.sync.executions import QueryKey
from tests.helpers.timeouts import EVENT

FUNCTIONS = Path(__file__).parent / "engine_functions"


class ForgetfulStore(SqliteStore):
    """A store whose log of other nodes' commits was pruned past any ts."""

    async def commits_after(self, ts: int) -> Sequence[Commit] | None:
        return None


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    registry = FunctionRegistry.load(FUNCTIONS)
    store = ForgetfulStore(tmp_path / "engine.db")
    await store.open(registry.index_defs())
    engine = Engine(store, FunctionRunner(registry, store), Metrics())
    yield engine
    await engine.close()
    await store.close()


def key(topic: str) -> QueryKey:
    return QueryKey("notes:by_topic", canonical_json(encode_args({"topic": topic})), "")


async def test_an_unknown_gap_of_commits_invalidates_every_subscriber(engine: Engine) -> None:
    await engine.mutate("notes:add", {"topic": "a", "text": "x"}, None)
    told = [asyncio.Event(), asyncio.Event()]
    executions = [
        await engine.execute(key(topic), {"topic": topic}, None, engine.published_ts, event.set)
        for topic, event in zip(("a", "b"), told, strict=True)
    ]
    assert all(ex.valid_at(engine.published_ts) for ex in executions)
    await engine.catch_up()
    for event in told:
        await asyncio.wait_for(event.wait(), EVENT)
    assert not any(ex.valid_at(engine.published_ts) for ex in executions)
    assert engine.cached(key("a"), engine.published_ts) is None  # re-run, not reused


async def test_a_result_computed_before_an_unknown_gap_is_not_reused_after_it(
    engine: Engine,
) -> None:
    first = asyncio.Event()
    ex = await engine.execute(key("a"), {"topic": "a"}, None, engine.published_ts, first.set)
    engine.release(ex, first.set)  # unregistered, as a run still under way would be
    await engine.mutate("notes:add", {"topic": "b", "text": "elsewhere"}, None)
    await engine.catch_up()  # the log no longer reaches back
    told = asyncio.Event()
    engine.retain(ex, told.set)  # registering it now finds it invalid at once
    assert told.is_set() and not ex.valid_at(engine.published_ts)
