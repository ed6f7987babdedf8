"""Tables of the compat functions that need an index; other tables are schemaless."""

from __future__ import annotations

from server import define_schema, define_table, v

__all__ = ["schema"]

schema = define_schema(
    {"items": define_table({"rank": v.number(), "label": v.string()}).index("by_rank", ["rank"])}
)
