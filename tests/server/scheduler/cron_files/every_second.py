"""One job every second, for a real server process."""

from server import cron_jobs, internal

crons = cron_jobs()
crons.interval("heartbeat", {"seconds": 1}, internal.tasks.record, {"label": "beat"})
