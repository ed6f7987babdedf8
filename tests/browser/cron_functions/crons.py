"""A cron job every second, added to the dashboard's test app so that the
Connections view has cron runs to count."""

from server import cron_jobs, internal

crons = cron_jobs()
crons.interval("tick", {"seconds": 1}, internal.ticks.tick)
