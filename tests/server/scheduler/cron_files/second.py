"""The second deploy's crons.py: one job kept, one rescheduled, one with new
arguments, one removed, one added."""

from server import cron_jobs, internal

from .tasks import record

crons = cron_jobs()
crons.interval("every minute", {"minutes": 1}, internal.tasks.record, {"label": "minute"})
crons.daily("morning", {"hourUTC": 10, "minuteUTC": 0}, "tasks:record", {"label": "morning"})
crons.weekly(
    "weekly", {"dayOfWeek": "friday", "hourUTC": 17, "minuteUTC": 0}, record, {"label": "new"}
)
crons.monthly(
    "new one",
    {"day": 1, "hourUTC": 0, "minuteUTC": 0},
    internal.tasks.record_loudly,
    {"label": "new"},
)
