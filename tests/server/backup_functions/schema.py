"""Tables of the export/import tests: notes (every kind of value, an index,
a search index) and a bank (two tables and a ledger, whose sums must agree
in any consistent snapshot)."""

from __future__ import annotations

from server import define_schema, define_table, v

__all__ = ["schema"]

schema = define_schema(
    {
        "notes": define_table(
            {
                "author": v.string(),
                "body": v.string(),
                "count": v.optional(v.int64()),
                "blob": v.optional(v.bytes()),
                "score": v.optional(v.float64()),
                "file": v.optional(v.id("_storage")),
            }
        )
        .index("by_author", ["author"])
        .search_index("search_body", search_field="body", filter_fields=["author"]),
        "checking": define_table({"balance": v.float64()}),
        "savings": define_table({"balance": v.float64()}),
        "ledger": define_table({"amount": v.float64()}),
    }
)
