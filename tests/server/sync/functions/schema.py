"""Tables of the sync test app: messages per channel, and a per-channel counter."""

from __future__ import annotations

from server import define_schema, define_table, v

__all__ = ["schema"]

schema = define_schema(
    {
        "messages": define_table({"channel": v.string(), "body": v.string()}).index(
            "by_channel", ["channel"]
        ),
        "counts": define_table({"channel": v.string(), "n": v.float64()}).index(
            "by_channel", ["channel"]
        ),
    }
)
