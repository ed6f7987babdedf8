"""The first deploy's crons.py (see test_crons.py: reconciling a changed one)."""

from server import cron_jobs, internal

from .tasks import record

crons = cron_jobs()
crons.interval("every minute", {"minutes": 1}, internal.tasks.record, {"label": "minute"})
crons.daily("morning", {"hourUTC": 9, "minuteUTC": 30}, "tasks:record", {"label": "morning"})
crons.weekly(
    "weekly", {"dayOfWeek": "friday", "hourUTC": 17, "minuteUTC": 0}, record, {"label": "old"}
)
crons.cron("going away", "0 * * * *", internal.tasks.record, {"label": "gone"})
