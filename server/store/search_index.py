"""What a search index stores of a document, common to every backend.

A document is in a search index when its search field holds a string. Each
backend keeps, per search index, multi-version rows like its index entries:
`(idx, doc_id, ts, deleted, filters, terms)`, one written whenever a commit
changes what the index holds of a document (its terms or filter values, or
whether it is in the index at all); `deleted` marks that it left. The
version of a document a search at snapshot `T` sees is its newest row with
`ts <= T`, as for every other read. `terms` are the document's distinct
terms (`search_text.tokenize`) joined by spaces, which is all the engines
index; `filters` is a JSON array of the hex encodings (`keys.encode_value`)
of the filter fields' values, so both backends compare filters as text.

For invalidation, a search index also has keys, like a database index:
`index_key(filter values, id)`, so a search that fixes the leading filter
fields reads one key range and a commit to a document in another range
(another channel, say) leaves it alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from server.store.base import Document, SearchIndexDef, SearchRequest
from server.store.keys import doc_field_values, encode_value, index_key
from server.store.search_text import tokenize

__all__ = ["SearchEntry", "SearchRow", "entry_for", "entry_matches", "fts5_query", "tsquery"]

SearchRow = tuple[str, str, bool, str, str]
"""A search index row a transaction writes: (idx, doc_id, deleted, filters,
terms); its ts is the transaction's."""


@dataclass(frozen=True, slots=True)
class SearchEntry:
    """What a search index holds of one document."""

    terms: str  # distinct terms, space-separated
    filters: str  # JSON array of hex value encodings, in filter_fields order
    key: bytes  # its key, for invalidation


def entry_for(index: SearchIndexDef, doc: Document | None) -> SearchEntry | None:
    """The entry of `doc` in `index`, or None when it is not in it."""
    if doc is None:
        return None
    (text,) = doc_field_values(doc, (index.search_field,))
    if not isinstance(text, str):
        return None
    values = doc_field_values(doc, index.filter_fields)
    return SearchEntry(
        " ".join(dict.fromkeys(tokenize(text))),
        json.dumps([encode_value(value).hex() for value in values]),
        index_key(values, doc["_id"]),
    )


def entry_matches(entry: SearchEntry, request: SearchRequest) -> bool:
    """Whether `entry` is a candidate for `request` (what the engines'
    queries select), for the writes of a transaction not yet committed."""
    filters = json.loads(entry.filters)
    if any(filters[position] != encoded.hex() for position, encoded in request.filters):
        return False
    terms = entry.terms.split()
    exact = set(request.exact)
    return any(term in exact or term.startswith(request.prefix) for term in terms)


def fts5_query(request: SearchRequest) -> str:
    """An FTS5 MATCH expression: any exact term, or the prefix. Terms are
    letters and digits only, so quoting them needs no escaping."""
    return " OR ".join([*(f'"{term}"' for term in request.exact), f'"{request.prefix}"*'])


def tsquery(request: SearchRequest) -> str:
    """The same as a PostgreSQL `tsquery` literal (lexemes taken as-is)."""
    return " | ".join([*(f"'{term}'" for term in request.exact), f"'{request.prefix}':*"])
