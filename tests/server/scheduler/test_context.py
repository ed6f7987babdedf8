"""What `ctx.scheduler` checks before a job is written (pure: no store)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from server import internal
from server.errors import FunctionError, FunctionNotFound, LimitExceeded
from server.functions.registry import FunctionRegistry
from server.scheduler.context import Planner
from server.scheduler.jobs import MAX_ARGS_BYTES, MAX_JOBS_PER_FUNCTION, ScheduleBudget

FUNCTIONS = Path(__file__).parent / "functions"


@pytest.fixture(scope="module")
def planner() -> Planner:
    return Planner(FunctionRegistry.load(FUNCTIONS), clock=lambda: 1_000.0)


def test_due_times_come_from_delays_datetimes_and_epoch_seconds(planner: Planner) -> None:
    assert planner.delay_ms(2.5) == 1_002_500.0
    assert planner.delay_ms(-5) == 1_000_000.0  # the past is now
    assert planner.due_ms(1_234.5) == 1_234_500.0
    assert planner.due_ms(datetime(2030, 1, 1, tzinfo=UTC)) == 1_893_456_000_000.0


@pytest.mark.parametrize("bad", [True, "5", None, float("nan")])
def test_a_delay_that_is_not_a_number_is_refused(planner: Planner, bad: object) -> None:
    with pytest.raises(FunctionError, match="run_after takes a number of seconds"):
        planner.delay_ms(bad)  # type: ignore[arg-type]


def test_a_naive_datetime_is_refused(planner: Planner) -> None:
    with pytest.raises(FunctionError, match="aware datetime"):
        planner.due_ms(datetime(2030, 1, 1))  # noqa: DTZ001


def test_targets_are_mutations_and_actions_named_any_way(planner: Planner) -> None:
    assert planner.target("jobs:add_note") == "jobs:add_note"
    assert planner.target(internal.jobs.shout) == "jobs:shout"
    with pytest.raises(FunctionError, match="is a query"):
        planner.target("jobs:notes")
    with pytest.raises(FunctionNotFound):
        planner.target("jobs:absent")


def test_the_budget_counts_jobs_and_argument_bytes() -> None:
    budget = ScheduleBudget()
    for _ in range(MAX_JOBS_PER_FUNCTION):
        budget.charge("{}")
    with pytest.raises(LimitExceeded, match="Too many functions scheduled"):
        budget.charge("{}")
    big = ScheduleBudget()
    big.charge("x" * (MAX_ARGS_BYTES - 10))
    with pytest.raises(LimitExceeded, match="too large"):
        big.charge("y" * 11)
