"""Tables the benchmark functions use."""

from __future__ import annotations

from server import define_schema, define_table, v

__all__ = ["schema"]

schema = define_schema(
    {
        "counters": define_table({"n": v.float64()}),
        "scores": define_table({"user": v.string(), "n": v.float64()}).index("by_user", ["user"]),
    }
)
