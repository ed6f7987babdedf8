"""Search filter expressions: `lambda q: q.search("body", text).eq("channel", c)`.

As in Convex, a search filter is one `search` on the index's search field,
then up to 8 `eq` on its filter fields. The query's text is split into terms
by `server.store.search_text` (at most 16; the last one matches as a
prefix); the results come back by relevance, at most 1,024 per query
(Convex's limits, `crates/search/src/constants.rs`). Anything else fails at
once with a message saying what is allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server.errors import FunctionError, LimitExceeded
from server.store.base import SearchIndexDef
from server.store.keys import encode_value
from server.store.search_text import QueryTerms

__all__ = [
    "MAX_FILTER_EXPRESSIONS",
    "MAX_SEARCH_RESULTS",
    "MAX_SEARCH_TERMS",
    "SearchFilter",
    "SearchFilterBuilder",
    "SearchFunction",
    "build_search",
]

MAX_SEARCH_TERMS = 16
"""Most terms (words) in one search expression."""
MAX_FILTER_EXPRESSIONS = 8
"""Most `eq` expressions in one search filter."""
MAX_SEARCH_RESULTS = 1024
"""Most results one search may read from its index."""


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """A checked search filter: the terms, and `eq` values by filter field."""

    index: SearchIndexDef
    terms: QueryTerms
    equalities: tuple[tuple[str, Any], ...]

    def encoded_filters(self) -> tuple[tuple[int, bytes], ...]:
        """`(position in filter_fields, encoded value)` of each `eq`."""
        fields = self.index.filter_fields
        return tuple((fields.index(name), encode_value(value)) for name, value in self.equalities)

    def key_prefix(self) -> bytes:
        """The longest prefix of the search index's keys every match shares:
        the values of the leading filter fields that `eq` fixes."""
        fixed = dict(self.equalities)
        values = []
        for name in self.index.filter_fields:
            if name not in fixed:
                break
            values.append(encode_value(fixed[name]))
        return b"".join(values)


class SearchFilterBuilder:
    """The `q` of `with_search_index`: `q.search(field, text)` first, then
    `.eq(field, value)` on filter fields."""

    __slots__ = ("_index", "_text", "_equalities")

    def __init__(self, index: SearchIndexDef) -> None:
        self._index = index
        self._text: str | None = None
        self._equalities: dict[str, Any] = {}

    def search(self, field: str, text: str) -> SearchFilterBuilder:
        short = self._index.name.split(".", 1)[1]
        if self._text is not None:
            raise FunctionError(f"Search index {short}: search() may be called once")
        if field != self._index.search_field:
            raise FunctionError(
                f"Search index {short} searches {self._index.search_field!r}, not {field!r}"
            )
        if not isinstance(text, str):
            raise FunctionError(f"search() needs a string to search for, got {text!r}")
        self._text = text
        return self

    def eq(self, field: str, value: Any) -> SearchFilterBuilder:
        short = self._index.name.split(".", 1)[1]
        if self._text is None:
            raise FunctionError("A search filter starts with q.search(field, text), then .eq()")
        if field not in self._index.filter_fields:
            allowed = ", ".join(self._index.filter_fields) or "none"
            raise FunctionError(
                f"Search index {short} cannot filter on {field!r} (its filter fields: {allowed})"
            )
        if field in self._equalities:
            raise FunctionError(f"Search filter has two eq() on {field!r}")
        try:
            encode_value(value)
        except (TypeError, ValueError) as exc:
            raise FunctionError(f"eq({field!r}, ...) needs a Convex value: {exc}") from None
        self._equalities[field] = value
        if len(self._equalities) > MAX_FILTER_EXPRESSIONS:
            raise LimitExceeded(
                f"Too many filter expressions in a search (limit: {MAX_FILTER_EXPRESSIONS})"
            )
        return self

    def build(self) -> SearchFilter:
        if self._text is None:
            raise FunctionError("A search filter needs q.search(field, text)")
        terms = QueryTerms.parse(self._text)
        if terms.count > MAX_SEARCH_TERMS:
            raise LimitExceeded(
                f"Too many terms in a search query: {terms.count} (limit: {MAX_SEARCH_TERMS} words)"
            )
        return SearchFilter(self._index, terms, tuple(self._equalities.items()))


SearchFunction = Callable[[SearchFilterBuilder], object]
"""`with_search_index(name, lambda q: q.search(...).eq(...))`."""


def build_search(index: SearchIndexDef, fn: SearchFunction) -> SearchFilter:
    """Run the user's search filter function and check what it built."""
    builder = SearchFilterBuilder(index)
    if fn(builder) is not builder:
        raise FunctionError(
            "The function given to with_search_index must return its q.search(...) chain"
        )
    return builder.build()
