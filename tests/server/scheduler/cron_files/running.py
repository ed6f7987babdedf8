"""Jobs that run during test_crons.py: an interval mutation and a daily action."""

from server import api, cron_jobs, internal

crons = cron_jobs()
crons.interval("tick", {"minutes": 1}, internal.tasks.record, {"label": "tick"})
crons.daily(
    "report", {"hourUTC": 9, "minuteUTC": 0}, internal.tasks.record_loudly, {"label": "report"}
)
crons.hourly("public", {"minuteUTC": 45}, api.tasks.record_in_public, {"label": "public"})
