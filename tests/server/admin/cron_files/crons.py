"""Cron jobs for test_stats.py to count, added to ../functions: one that
succeeds and one that fails, every second."""

from server import cron_jobs, internal

crons = cron_jobs()
crons.interval("adds a note", {"seconds": 1}, internal.work.add_later)
crons.interval("fails", {"seconds": 1}, internal.work.broken)
