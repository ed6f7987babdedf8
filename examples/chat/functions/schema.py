"""Tables of the chat example: channels, and messages indexed for the ways
they are read (by channel, by author, and searched by words within a channel)."""

from __future__ import annotations

from server import define_schema, define_table, v

__all__ = ["schema"]

schema = define_schema(
    {
        "channels": define_table({"name": v.string()}),
        "messages": define_table(
            {
                "channel": v.string(),
                "body": v.string(),
                # None when the sender was signed out.
                "author": v.union(v.string(), v.null()),
                # When a vanishing message is deleted (ms since the epoch).
                "expiresAt": v.optional(v.float64()),
                # An attached image (ctx.storage).
                "image": v.optional(v.id("_storage")),
            }
        )
        .index("by_channel", ["channel"])
        .index("by_author", ["author"])
        .search_index("search_body", search_field="body", filter_fields=["channel"]),
        # Kept in step with Clerk by its webhook (http.py).
        "users": define_table(
            {
                "clerkId": v.string(),
                "email": v.union(v.string(), v.null()),
                "name": v.union(v.string(), v.null()),
            }
        ).index("by_clerk_id", ["clerkId"]),
    }
)
