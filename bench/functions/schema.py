"""Tables the benchmark functions use."""

from __future__ import annotations

from server import define_schema, define_table, v

__all__ = ["schema"]

schema = define_schema(
    {
        "counters": define_table({"n": v.float64()}),
        "scores": define_table({"user": v.string(), "n": v.float64()}).index("by_user", ["user"]),
        # The scheduler benchmark's (functions/jobs.py): one row per run, one counter.
        "job_runs": define_table({"n": v.float64(), "due": v.float64(), "started": v.float64()}),
        "job_progress": define_table({"n": v.float64()}),
    }
)
