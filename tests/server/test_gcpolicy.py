"""The collector policy: who starts full passes, and what every pass costs."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from server.gcpolicy import CHURN_FLOOR, GcPolicy
from server.metrics import Metrics
from tests.helpers.timeouts import REPLY


@pytest.fixture
def policies() -> Iterator[list[GcPolicy]]:
    """Policies made by a test, stopped afterwards even when it fails."""
    made: list[GcPolicy] = []
    yield made
    for policy in reversed(made):
        policy.stop()


def full_passes(metrics: Metrics) -> float:
    return metrics.gc_collections.get("2")


def grow_long_lived_heap() -> list[list[Any]]:
    """Allocate more new containers than the heap already tracks, kept alive."""
    keep: list[list[Any]] = []
    for _ in range(2 * len(gc.get_objects()) + 100_000):
        keep.append([])
    return keep


async def test_every_collection_is_counted_and_timed(policies: list[GcPolicy]) -> None:
    metrics = Metrics()
    policies.append(policy := GcPolicy(0, metrics))
    policy.start()
    gc.collect(0)
    assert metrics.gc_collections.get("0") >= 1
    assert metrics.gc_pause_seconds.get("0") > 0
    assert 0 < metrics.gc_pause_max.get("0") <= metrics.gc_pause_seconds.get("0")
    assert 'livesync_gc_pause_max_seconds{generation="0"}' in metrics.render()


@pytest.mark.parametrize(
    ("interval", "cpython_passes"),
    [(0, True), (3600, False)],
    ids=["cpython-policy", "scheduled"],
)
async def test_heap_growth_starts_full_passes_only_under_cpythons_policy(
    policies: list[GcPolicy], interval: float, cpython_passes: bool
) -> None:
    metrics = Metrics()
    policies.append(policy := GcPolicy(interval, metrics))
    policy.start()
    keep = grow_long_lived_heap()
    assert (full_passes(metrics) >= 1) is cpython_passes
    assert metrics.gc_collections.get("0") > 0  # young passes run either way
    del keep


async def test_the_scheduled_full_pass_runs_and_frees_old_cycles(
    policies: list[GcPolicy],
) -> None:
    loop = asyncio.get_running_loop()
    ran = asyncio.Event()

    def on_collect(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            loop.call_soon(ran.set)

    metrics = Metrics()
    policies.append(policy := GcPolicy(0.05, metrics))
    policy.start()

    class Node:
        pass

    node = Node()
    node.self = node  # type: ignore[attr-defined]
    gc.collect(1)  # promote the cycle past the young generations
    gc.collect(1)
    ref = weakref.ref(node)
    del node
    gc.callbacks.append(on_collect)
    try:
        await asyncio.wait_for(ran.wait(), REPLY)
    finally:
        gc.callbacks.remove(on_collect)
    assert ref() is None
    assert full_passes(metrics) >= 1


async def test_startup_objects_are_frozen_and_stop_restores_cpython(
    policies: list[GcPolicy],
) -> None:
    before = gc.get_threshold()
    policy = GcPolicy(3600, Metrics())
    policies.append(policy)
    policy.start()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[:2] == before[:2]
    assert gc.get_threshold()[2] > 1_000_000
    policy.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_only_the_first_policy_in_a_process_owns_the_collector(
    policies: list[GcPolicy],
) -> None:
    before = gc.get_threshold()
    first, second = GcPolicy(3600, Metrics()), GcPolicy(3600, Metrics())
    policies.extend([first, second])
    first.start()
    owned = gc.get_threshold()
    second.start()
    second.stop()
    assert gc.get_threshold() == owned
    first.stop()
    assert gc.get_threshold() == before


async def test_connection_churn_brings_the_full_pass_forward(policies: list[GcPolicy]) -> None:
    metrics = Metrics()
    policies.append(policy := GcPolicy(3600, metrics))
    policy.start()
    for _ in range(CHURN_FLOOR - 1):
        policy.connection_closed(still_open=0)
    assert full_passes(metrics) == 0
    policy.connection_closed(still_open=0)
    assert full_passes(metrics) == 1
    # With more connections open than the floor, as many must close first.
    for _ in range(2 * CHURN_FLOOR):
        policy.connection_closed(still_open=3 * CHURN_FLOOR)
    assert full_passes(metrics) == 1
    for _ in range(CHURN_FLOOR):
        policy.connection_closed(still_open=3 * CHURN_FLOOR)
    assert full_passes(metrics) == 2
