"""`ctx.db`: reading (queries) and writing (mutations) with read-set recording.

Every read records the index interval it depended on in the execution's
`ReadSet` (sync-engine.md §1): a range scan from its start up to and
including the last key it consumed (the whole range once exhausted; for
"desc", from the last consumed key to the end), and `get(id)` the single key
of the id on `<table>.by_id`, hit or miss. Filters run after reading, so
they never narrow what was recorded. Documents handed to the function are
fresh copies, so app code may modify them freely.
"""

from __future__ import annotations

from server.functions.database.query import QueryBuilder
from server.functions.database.reader import (
    MAX_DOCUMENTS_SCANNED,
    DatabaseReader,
    ReadBudget,
    TableCatalog,
)
from server.functions.database.writer import DatabaseWriter

__all__ = [
    "MAX_DOCUMENTS_SCANNED",
    "DatabaseReader",
    "DatabaseWriter",
    "QueryBuilder",
    "ReadBudget",
    "TableCatalog",
]
