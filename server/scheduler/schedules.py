"""When a cron job runs: its schedule, checked, described and stepped.

Two kinds, as in Convex:

- `Interval`: every n seconds, the first run as soon as the job is
  deployed (Convex's `crons.interval`: "beginning when the job is first
  deployed"), then every n seconds after that, keeping the phase.
- `CronExpression`: the times a five-field cron expression matches, in UTC.
  `hourly`/`daily`/`weekly`/`monthly` are cron expressions built from
  Convex's named fields (`minuteUTC`, `hourUTC`, `dayOfWeek`, `day`); each
  keeps its own description, so `_cron_jobs` shows what crons.py said.

Cron expressions are parsed and stepped by `cronsim` (Debian cron's
semantics), not by a parser of our own. Times are ms since the epoch, as
everywhere in the system tables. Each schedule describes itself as the
`cronSchedule` object Convex stores (`{"type": "daily", "hourUTC": 9,
"minuteUTC": 30}`, `{"type": "interval", "seconds": 60}`, `{"type": "cron",
"cronExpr": "..."}`), and `from_description` rebuilds it from that: a node
runs a cron job from what the table says, not from its own crons.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cronsim import CronSim, CronSimError

__all__ = [
    "DAYS_OF_WEEK",
    "CronExpression",
    "Interval",
    "Schedule",
    "ScheduleError",
    "cron",
    "daily",
    "from_description",
    "hourly",
    "interval",
    "monthly",
    "weekly",
]

DAYS_OF_WEEK = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600}


class ScheduleError(ValueError):
    """A schedule crons.py cannot have; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Interval:
    """Every `seconds` seconds, from the moment the job is deployed."""

    seconds: int

    def describe(self) -> dict[str, Any]:
        return {"type": "interval", "seconds": self.seconds}

    def first_run(self, now_ms: float) -> float | None:
        return now_ms

    def next_run(self, due_ms: float, now_ms: float) -> float | None:
        """The first run after `now_ms` in step with `due_ms`: runs missed
        while no node was up are skipped, not made up one after another."""
        period = self.seconds * 1000
        missed = max(0, math.floor((now_ms - due_ms) / period))
        return due_ms + (missed + 1) * period


@dataclass(frozen=True, slots=True)
class CronExpression:
    """The minutes a cron expression matches (UTC); `description` is the
    `cronSchedule` it came from (a cron string, or hourly/daily/...)."""

    expression: str
    description: tuple[tuple[str, Any], ...]

    def describe(self) -> dict[str, Any]:
        return dict(self.description)

    def first_run(self, now_ms: float) -> float | None:
        return self.after(now_ms)

    def next_run(self, due_ms: float, now_ms: float) -> float | None:
        return self.after(max(due_ms, now_ms))

    def after(self, ms: float) -> float | None:
        """The first matching minute strictly after `ms`, or None if there is
        none in the next 50 years (cronsim's horizon)."""
        start = datetime.fromtimestamp(ms / 1000, UTC)
        try:
            return next(CronSim(self.expression, start)).timestamp() * 1000
        except StopIteration:
            return None


Schedule = Interval | CronExpression


def interval(schedule: Mapping[str, Any]) -> Interval:
    """`{"seconds" | "minutes" | "hours": n}`, n a whole number above 0."""
    given = _mapping(schedule, "interval")
    units = [unit for unit in _UNITS if given.get(unit) is not None]
    unknown = sorted(set(given) - set(_UNITS))
    if unknown or len(units) != 1:
        raise ScheduleError(
            f"an interval is one of {{'seconds': n}}, {{'minutes': n}} or {{'hours': n}}, "
            f"got {dict(given)!r}"
        )
    unit = units[0]
    count = _whole(given[unit], 1, None, f"Interval {unit} must be a whole number above 0")
    return Interval(count * _UNITS[unit])


def cron(expression: str) -> CronExpression:
    """A five-field cron expression, "minute hour day-of-month month day-of-week", UTC."""
    if not isinstance(expression, str):
        raise ScheduleError(f"a cron expression is a string, got {expression!r}")
    return _expression(expression, (("type", "cron"), ("cronExpr", expression)))


def hourly(schedule: Mapping[str, Any]) -> CronExpression:
    given = _fields(schedule, "hourly", ("minuteUTC",))
    minute = _minute(given)
    return _expression(f"{minute} * * * *", (("type", "hourly"), ("minuteUTC", minute)))


def daily(schedule: Mapping[str, Any]) -> CronExpression:
    given = _fields(schedule, "daily", ("hourUTC", "minuteUTC"))
    hour, minute = _hour(given), _minute(given)
    return _expression(
        f"{minute} {hour} * * *", (("type", "daily"), ("hourUTC", hour), ("minuteUTC", minute))
    )


def weekly(schedule: Mapping[str, Any]) -> CronExpression:
    given = _fields(schedule, "weekly", ("dayOfWeek", "hourUTC", "minuteUTC"))
    day = given["dayOfWeek"]
    if not isinstance(day, str) or day not in DAYS_OF_WEEK:
        raise ScheduleError(f'Day of week must be a string like "monday", got {day!r}')
    hour, minute = _hour(given), _minute(given)
    return _expression(
        f"{minute} {hour} * * {DAYS_OF_WEEK.index(day)}",
        (("type", "weekly"), ("dayOfWeek", day), ("hourUTC", hour), ("minuteUTC", minute)),
    )


def monthly(schedule: Mapping[str, Any]) -> CronExpression:
    """On `day` of every month that has it (the 31st skips short months)."""
    given = _fields(schedule, "monthly", ("day", "hourUTC", "minuteUTC"))
    day = _whole(given["day"], 1, 31, "Day of month must be a whole number from 1 to 31")
    hour, minute = _hour(given), _minute(given)
    return _expression(
        f"{minute} {hour} {day} * *",
        (("type", "monthly"), ("day", day), ("hourUTC", hour), ("minuteUTC", minute)),
    )


_HELPERS = {"hourly": hourly, "daily": daily, "weekly": weekly, "monthly": monthly}


def from_description(description: Any) -> Schedule:
    """The schedule a stored `cronSchedule` describes (numbers read back
    from the store are floats; whole ones are accepted)."""
    if not isinstance(description, dict):
        raise ScheduleError(f"not a cron schedule: {description!r}")
    fields = {key: value for key, value in description.items() if key != "type"}
    kind = description.get("type")
    if kind == "interval":
        return interval(fields)
    if kind == "cron":
        return cron(fields.get("cronExpr"))  # type: ignore[arg-type]  # checked there
    helper = _HELPERS.get(kind) if isinstance(kind, str) else None
    if helper is None:
        raise ScheduleError(f"not a cron schedule: {description!r}")
    return helper(fields)


def _expression(expression: str, description: tuple[tuple[str, Any], ...]) -> CronExpression:
    try:
        CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise ScheduleError(f"invalid cron expression {expression!r}: {exc}") from None
    return CronExpression(expression, description)


def _mapping(schedule: Any, kind: str) -> Mapping[str, Any]:
    if not isinstance(schedule, Mapping):
        raise ScheduleError(f"the schedule of {kind} is a dict, got {schedule!r}")
    return schedule


def _fields(schedule: Any, kind: str, names: tuple[str, ...]) -> Mapping[str, Any]:
    given = _mapping(schedule, kind)
    if set(given) != set(names):
        wanted = ", ".join(repr(name) for name in names)
        raise ScheduleError(f"{kind} takes {{{wanted}}}, got {dict(given)!r}")
    return given


def _hour(given: Mapping[str, Any]) -> int:
    return _whole(given["hourUTC"], 0, 23, "hourUTC must be a whole number from 0 to 23")


def _minute(given: Mapping[str, Any]) -> int:
    return _whole(given["minuteUTC"], 0, 59, "minuteUTC must be a whole number from 0 to 59")


def _whole(value: Any, low: int, high: int | None, message: str) -> int:
    # A float that is whole passes: a number read back from the store is one.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScheduleError(f"{message}, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise ScheduleError(f"{message}, got {value!r}")
    number = int(value)
    if number < low or (high is not None and number > high):
        raise ScheduleError(f"{message}, got {value!r}")
    return number
