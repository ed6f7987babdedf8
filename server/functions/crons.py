"""What an app's `crons.py` declares: its cron jobs.

    from server import cron_jobs, internal

    crons = cron_jobs()
    crons.interval("clear presence", {"seconds": 30}, internal.presence.clear)
    crons.daily("digest", {"hourUTC": 9, "minuteUTC": 0}, "emails:digest", {"to": "all"})

Each job has a unique name (Convex's rule: ASCII letters, digits, spaces,
`_`, `-` and `'`), a schedule (`server.scheduler.schedules`), a function
named any way `server.functions.references` accepts, and its arguments.
A bad name or schedule is refused where crons.py calls the method; the
function and its arguments are checked once every function module is
loaded (`resolve`), since crons.py may name functions by path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocol.values import dumps, encode
from server.errors import ArgumentError, ConfigError, FunctionError
from server.functions.references import FunctionLike, function_path
from server.functions.registry import FunctionRegistry
from server.scheduler import schedules
from server.scheduler.schedules import Schedule, ScheduleError

__all__ = ["CronDefinitionError", "CronJob", "CronJobs", "cron_jobs"]

_NAME = re.compile(r"[A-Za-z0-9_ '-]+")


class CronDefinitionError(ConfigError):
    """A cron job crons.py cannot declare; the message names the job."""


@dataclass(frozen=True, slots=True)
class CronJob:
    """One cron job as the app declares it, with its function's canonical path."""

    name: str
    schedule: Schedule
    path: str
    args: dict[str, Any]

    def spec(self) -> dict[str, Any]:
        """The job's `cronSpec` in `_cron_jobs`, shaped as Convex's."""
        return {
            "udfPath": self.path,
            "udfArgs": [self.args],
            "cronSchedule": self.schedule.describe(),
        }


@dataclass(frozen=True, slots=True)
class _Declared:
    name: str
    schedule: Schedule
    fn: FunctionLike
    args: Any


class CronJobs:
    """`crons = cron_jobs()` in crons.py; each method declares one job."""

    def __init__(self) -> None:
        self._declared: dict[str, _Declared] = {}

    def interval(
        self,
        name: str,
        schedule: Mapping[str, Any],
        fn: FunctionLike,
        args: dict[str, Any] | None = None,
    ) -> None:
        """Run `fn(args)` every `{"seconds" | "minutes" | "hours": n}`,
        the first time as soon as the job is deployed."""
        self._declare(name, lambda: schedules.interval(schedule), fn, args)

    def cron(
        self, name: str, expression: str, fn: FunctionLike, args: dict[str, Any] | None = None
    ) -> None:
        """Run `fn(args)` at the times a cron expression matches
        ("minute hour day-of-month month day-of-week", UTC)."""
        self._declare(name, lambda: schedules.cron(expression), fn, args)

    def hourly(
        self,
        name: str,
        schedule: Mapping[str, Any],
        fn: FunctionLike,
        args: dict[str, Any] | None = None,
    ) -> None:
        """Every hour at `{"minuteUTC": m}`."""
        self._declare(name, lambda: schedules.hourly(schedule), fn, args)

    def daily(
        self,
        name: str,
        schedule: Mapping[str, Any],
        fn: FunctionLike,
        args: dict[str, Any] | None = None,
    ) -> None:
        """Every day at `{"hourUTC": h, "minuteUTC": m}`."""
        self._declare(name, lambda: schedules.daily(schedule), fn, args)

    def weekly(
        self,
        name: str,
        schedule: Mapping[str, Any],
        fn: FunctionLike,
        args: dict[str, Any] | None = None,
    ) -> None:
        """Every week at `{"dayOfWeek": "monday", "hourUTC": h, "minuteUTC": m}`."""
        self._declare(name, lambda: schedules.weekly(schedule), fn, args)

    def monthly(
        self,
        name: str,
        schedule: Mapping[str, Any],
        fn: FunctionLike,
        args: dict[str, Any] | None = None,
    ) -> None:
        """Every month at `{"day": d, "hourUTC": h, "minuteUTC": m}`; a month
        without day `d` (the 31st, February's 30th) has no run."""
        self._declare(name, lambda: schedules.monthly(schedule), fn, args)

    def names(self) -> list[str]:
        return list(self._declared)

    def resolve(self, registry: FunctionRegistry) -> tuple[CronJob, ...]:
        """The jobs, each function checked against `registry`: a mutation or
        an action of the app (public or internal), taking these arguments."""
        return tuple(_resolve(job, registry) for job in self._declared.values())

    def _declare(self, name: str, schedule: Any, fn: FunctionLike, args: Any) -> None:
        if not isinstance(name, str) or _NAME.fullmatch(name) is None:
            raise CronDefinitionError(
                f"invalid cron job name {name!r}: use ASCII letters, digits, spaces, "
                "underscores, dashes and apostrophes"
            )
        if name in self._declared:
            raise CronDefinitionError(f"cron job {name!r} is declared twice")
        try:
            parsed: Schedule = schedule()
        except ScheduleError as exc:
            raise CronDefinitionError(f"cron job {name!r}: {exc}") from None
        if parsed.first_run(0.0) is None:
            raise CronDefinitionError(f"cron job {name!r}: the schedule never matches")
        self._declared[name] = _Declared(name, parsed, fn, {} if args is None else args)


def cron_jobs() -> CronJobs:
    """The cron jobs of crons.py: `crons = cron_jobs()`, then declare each."""
    return CronJobs()


def _resolve(job: _Declared, registry: FunctionRegistry) -> CronJob:
    def refuse(problem: str) -> CronDefinitionError:
        return CronDefinitionError(f"cron job {job.name!r}: {problem}")

    try:
        path = function_path(job.fn, registry)
    except FunctionError as exc:
        raise refuse(str(exc)) from None
    try:
        function = registry.lookup(path, internal_ok=True)
    except FunctionError:
        raise refuse(f"{path!r} is not a function of this app") from None
    if function.kind == "query":
        raise refuse(f"{path} is a query: cron jobs run mutations and actions")
    if not isinstance(job.args, dict):
        raise refuse(f"the arguments are an object (a dict), got {job.args!r}")
    try:
        dumps(encode(job.args))
    except Exception as exc:  # ValueEncodeError, naming the value
        raise refuse(f"the arguments are not Convex values: {exc}") from None
    if function.args_validator is not None:
        try:
            function.args_validator.validate(job.args)
        except ArgumentError as exc:
            raise refuse(f"the arguments do not match {function.path}: {exc}") from None
    return CronJob(job.name, job.schedule, function.path, job.args)
