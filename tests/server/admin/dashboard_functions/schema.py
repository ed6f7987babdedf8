"""The tasks table the dashboard tests browse and edit."""

from __future__ import annotations

from server import define_schema, define_table, v

__all__ = ["schema"]

schema = define_schema(
    {
        "tasks": define_table(
            {"text": v.string(), "done": v.boolean(), "priority": v.number()}
        ).index("by_priority", ["priority"]),
    }
)
