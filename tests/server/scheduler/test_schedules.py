"""Cron job declarations and schedules, pure (no store): what crons.py may
say, what each schedule describes, and when it runs next."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from server import api, cron_jobs, internal
from server.errors import ConfigError
from server.functions.crons import CronDefinitionError
from server.functions.registry import FunctionRegistry
from server.scheduler import schedules
from server.scheduler.schedules import CronExpression, Interval, ScheduleError

APP = Path(__file__).parent / "cron_app"
CRON_FILES = Path(__file__).parent / "cron_files"


def ms(*fields: int) -> float:
    return datetime(*fields, tzinfo=UTC).timestamp() * 1000  # type: ignore[misc]


# Monday 2030-01-07, 08:59:30 UTC.
NOW = ms(2030, 1, 7, 8, 59, 30)


@pytest.mark.parametrize(
    ("given", "seconds"), [({"seconds": 30}, 30), ({"minutes": 2}, 120), ({"hours": 3.0}, 10800)]
)
def test_an_interval_is_counted_in_seconds(given: dict[str, Any], seconds: int) -> None:
    schedule = schedules.interval(given)
    assert schedule == Interval(seconds)
    assert schedule.describe() == {"type": "interval", "seconds": seconds}


def test_an_interval_runs_when_deployed_then_in_step_skipping_missed_runs() -> None:
    every_minute = schedules.interval({"minutes": 1})
    assert every_minute.first_run(NOW) == NOW
    assert every_minute.next_run(NOW, NOW) == NOW + 60_000
    assert every_minute.next_run(NOW, NOW + 60_000) == NOW + 120_000  # strictly after now
    # Ten minutes with no node up: one run now, the next in step, not ten.
    assert every_minute.next_run(NOW, NOW + 600_500) == NOW + 660_000


@pytest.mark.parametrize(
    "given",
    [
        {},
        {"seconds": 1, "minutes": 1},
        {"seconds": 0},
        {"minutes": -1},
        {"seconds": 1.5},
        {"seconds": True},
        {"seconds": "10"},
        {"secs": 10},
        {"seconds": 10, "extra": 1},
        "10s",
    ],
)
def test_a_bad_interval_is_refused(given: Any) -> None:
    with pytest.raises(ScheduleError):
        schedules.interval(given)


def test_cron_expressions_match_minutes_in_utc() -> None:
    quarter = schedules.cron("*/15 * * * *")
    assert quarter.describe() == {"type": "cron", "cronExpr": "*/15 * * * *"}
    assert quarter.first_run(NOW) == ms(2030, 1, 7, 9, 0)
    assert quarter.next_run(ms(2030, 1, 7, 9, 0), ms(2030, 1, 7, 9, 0)) == ms(2030, 1, 7, 9, 15)
    # Due at 9:00 but looked at 9:40: the next is 9:45, missed ones skipped.
    assert quarter.next_run(ms(2030, 1, 7, 9, 0), ms(2030, 1, 7, 9, 40)) == ms(2030, 1, 7, 9, 45)
    weekdays = schedules.cron("0 16 * * 1-5")
    assert weekdays.after(ms(2030, 1, 11, 16, 0)) == ms(2030, 1, 14, 16, 0)  # Friday -> Monday


def test_the_named_helpers_are_cron_expressions_that_describe_themselves() -> None:
    hourly = schedules.hourly({"minuteUTC": 45})
    assert hourly.describe() == {"type": "hourly", "minuteUTC": 45}
    assert hourly.first_run(NOW) == ms(2030, 1, 7, 9, 45)

    daily = schedules.daily({"hourUTC": 9, "minuteUTC": 30})
    assert daily.describe() == {"type": "daily", "hourUTC": 9, "minuteUTC": 30}
    assert daily.first_run(NOW) == ms(2030, 1, 7, 9, 30)
    assert daily.after(ms(2030, 1, 7, 9, 30)) == ms(2030, 1, 8, 9, 30)

    weekly = schedules.weekly({"dayOfWeek": "friday", "hourUTC": 17, "minuteUTC": 0})
    assert weekly.describe() == {
        "type": "weekly",
        "dayOfWeek": "friday",
        "hourUTC": 17,
        "minuteUTC": 0,
    }
    assert weekly.first_run(NOW) == ms(2030, 1, 11, 17, 0)
    sunday = schedules.weekly({"dayOfWeek": "sunday", "hourUTC": 0, "minuteUTC": 0})
    assert sunday.first_run(NOW) == ms(2030, 1, 13, 0, 0)

    monthly = schedules.monthly({"day": 31, "hourUTC": 12, "minuteUTC": 5})
    assert monthly.describe() == {"type": "monthly", "day": 31, "hourUTC": 12, "minuteUTC": 5}
    assert monthly.first_run(NOW) == ms(2030, 1, 31, 12, 5)
    # February and its 28 days have no run: the next is March 31st.
    assert monthly.after(ms(2030, 1, 31, 12, 5)) == ms(2030, 3, 31, 12, 5)


@pytest.mark.parametrize(
    "schedule",
    [
        schedules.interval({"hours": 2}),
        schedules.cron("5 4 * * sun"),
        schedules.hourly({"minuteUTC": 0}),
        schedules.daily({"hourUTC": 23, "minuteUTC": 59}),
        schedules.weekly({"dayOfWeek": "monday", "hourUTC": 1, "minuteUTC": 2}),
        schedules.monthly({"day": 1, "hourUTC": 0, "minuteUTC": 0}),
    ],
)
def test_a_stored_description_gives_the_schedule_back(schedule: Interval | CronExpression) -> None:
    # Numbers come back from the store as floats.
    stored = {k: float(v) if isinstance(v, int) else v for k, v in schedule.describe().items()}
    assert schedules.from_description(stored) == schedule


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: schedules.cron("61 * * * *"), "invalid cron expression '61 \\* \\* \\* \\*'"),
        (lambda: schedules.cron("* * * *"), "Wrong number of fields"),
        (lambda: schedules.cron(5), "a cron expression is a string"),
        (lambda: schedules.hourly({"minuteUTC": 60}), "minuteUTC must be a whole number"),
        (lambda: schedules.hourly({"minute": 5}), "hourly takes {'minuteUTC'}"),
        (lambda: schedules.daily({"hourUTC": 24, "minuteUTC": 0}), "hourUTC must be"),
        (lambda: schedules.daily({"hourUTC": 9}), "daily takes"),
        (
            lambda: schedules.weekly({"dayOfWeek": "Monday", "hourUTC": 0, "minuteUTC": 0}),
            'Day of week must be a string like "monday"',
        ),
        (
            lambda: schedules.monthly({"day": 0, "hourUTC": 0, "minuteUTC": 0}),
            "Day of month must be a whole number from 1 to 31",
        ),
        (lambda: schedules.from_description({"type": "yearly"}), "not a cron schedule"),
    ],
)
def test_a_bad_schedule_is_refused_with_a_message(make: Any, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        make()


@pytest.fixture(scope="module")
def registry() -> FunctionRegistry:
    return FunctionRegistry.load(APP)


def test_declared_jobs_resolve_to_mutations_and_actions_public_or_internal(
    registry: FunctionRegistry,
) -> None:
    crons = cron_jobs()
    crons.interval("a", {"seconds": 10}, internal.tasks.record, {"label": "a"})
    crons.cron("b-2 's", "0 0 * * *", "tasks:record_loudly", {"label": "b"})
    crons.hourly("c", {"minuteUTC": 1}, api.tasks.record_in_public, {"label": "c"})
    jobs = crons.resolve(registry)
    assert [(job.name, job.path) for job in jobs] == [
        ("a", "tasks:record"),
        ("b-2 's", "tasks:record_loudly"),
        ("c", "tasks:record_in_public"),
    ]
    assert jobs[0].spec() == {
        "udfPath": "tasks:record",
        "udfArgs": [{"label": "a"}],
        "cronSchedule": {"type": "interval", "seconds": 10},
    }


def test_names_and_schedules_are_checked_where_crons_py_declares_them() -> None:
    crons = cron_jobs()
    crons.daily("same", {"hourUTC": 1, "minuteUTC": 0}, "tasks:record")
    with pytest.raises(CronDefinitionError, match="cron job 'same' is declared twice"):
        crons.daily("same", {"hourUTC": 2, "minuteUTC": 0}, "tasks:record")
    with pytest.raises(CronDefinitionError, match="invalid cron job name 'a/b'"):
        crons.interval("a/b", {"seconds": 1}, "tasks:record")
    with pytest.raises(CronDefinitionError, match="invalid cron job name ''"):
        crons.interval("", {"seconds": 1}, "tasks:record")
    with pytest.raises(CronDefinitionError, match="cron job 'x': Interval seconds must be"):
        crons.interval("x", {"seconds": 0}, "tasks:record")
    with pytest.raises(CronDefinitionError, match="cron job 'feb': .* Bad day-of-month"):
        crons.cron("feb", "0 0 30 2 *", "tasks:record")
    # The 1st or 21st when it is also the month's last Monday: never.
    with pytest.raises(CronDefinitionError, match="cron job 'no': the schedule never matches"):
        crons.cron("no", "* * */20 * 1L", "tasks:record")
    assert crons.names() == ["same"]


@pytest.mark.parametrize(
    ("fn", "args", "message"),
    [
        ("tasks:runs", None, "tasks:runs is a query: cron jobs run mutations and actions"),
        ("tasks:absent", None, "'tasks:absent' is not a function of this app"),
        (api.tasks.record, None, "refer to it as internal.tasks.record"),
        (len, None, "Expected a function path"),
        ("tasks:record", {"label": 5}, "the arguments do not match tasks:record"),
        ("tasks:record", ["x"], "the arguments are an object"),
        ("tasks:record", {"label": {1, 2}}, "the arguments are not Convex values"),
    ],
)
def test_a_job_whose_function_cannot_run_is_refused(
    registry: FunctionRegistry, fn: Any, args: Any, message: str
) -> None:
    crons = cron_jobs()
    crons.interval("job", {"minutes": 5}, fn, args)
    with pytest.raises(CronDefinitionError, match=f"cron job 'job': .*{message}"):
        crons.resolve(registry)


def app(tmp_path: Path, crons_py: str) -> Path:
    """A functions folder: the test app's tasks.py and this crons.py."""
    folder = tmp_path / "functions"
    folder.mkdir()
    shutil.copy(APP / "tasks.py", folder / "tasks.py")
    (folder / "crons.py").write_text(crons_py)
    return folder


def test_crons_py_is_loaded_into_the_registry_not_as_a_function_module(tmp_path: Path) -> None:
    folder = app(tmp_path, (CRON_FILES / "first.py").read_text())
    registry = FunctionRegistry.load(folder)
    assert [job.name for job in registry.crons] == [
        "every minute",
        "morning",
        "weekly",
        "going away",
    ]
    assert not [path for path in registry.paths() if path.startswith("crons:")]
    assert FunctionRegistry.load(APP).crons == ()  # no crons.py, no jobs


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "from server import cron_jobs\ncrons = cron_jobs()\n"
            "crons.daily('d', {'hourUTC': 25, 'minuteUTC': 0}, 'tasks:record')\n",
            "cron job 'd': hourUTC must be a whole number from 0 to 23, got 25",
        ),
        (
            "from server import cron_jobs\ncrons = cron_jobs()\n"
            "crons.interval('q', {'minutes': 1}, 'tasks:runs')\n",
            "cron job 'q': tasks:runs is a query",
        ),
        ("jobs = []\n", "must define `crons = cron_jobs()`, found NoneType"),
    ],
)
def test_a_bad_crons_py_fails_loading_with_one_line_naming_it(
    tmp_path: Path, source: str, message: str
) -> None:
    folder = app(tmp_path, source)
    with pytest.raises(ConfigError) as failure:
        FunctionRegistry.load(folder)
    text = str(failure.value)
    assert str(folder / "crons.py") in text and message in text and "\n" not in text
