"""Reads at one timestamp, common to every backend: a snapshot whose `scan`
fetches an index range lazily in growing pages.

A backend's snapshot supplies the three reads, each one round trip (or
thread hop): `_get_row` (a document's stored version at the snapshot),
`_read_page` (a page of index entries, tombstones included, so a short page
means the range is exhausted) and `_search_rows` (a search's candidates). The rows are the stored JSON text; loading
them into documents happens here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Generic, Protocol, TypeVar

from server.store.base import Document, Order, SearchRequest
from server.store.catalog import IndexCatalog, load_document
from server.store.keys import successor

__all__ = ["PageRow", "PagedSnapshot"]

PageRow = tuple[bytes, int, str | None]
"""(key, deleted, document value at the snapshot); `deleted` may be a bool."""

_FIRST_PAGE = 16
_MAX_PAGE = 256


class _CatalogStore(Protocol):
    @property
    def catalog(self) -> IndexCatalog: ...


S = TypeVar("S", bound=_CatalogStore)


class PagedSnapshot(Generic[S]):
    """Reads at one timestamp `ts` of the store `S`."""

    __slots__ = ("_store", "_ts")

    def __init__(self, store: S, ts: int) -> None:
        self._store = store
        self._ts = ts

    @property
    def ts(self) -> int:
        return self._ts

    async def get(self, id: str) -> Document | None:
        found = await self._get_row(id)
        return None if found is None else load_document(found[1])

    async def scan(
        self, index: str, start: bytes, end: bytes | None, order: Order = "asc"
    ) -> AsyncIterator[tuple[bytes, Document]]:
        self._store.catalog.fields(index)  # raises SchemaError for an unknown index
        lo, hi, limit = start, end, _FIRST_PAGE
        while hi is None or lo < hi:
            rows = await self._read_page(index, lo, hi, order, limit)
            for key, deleted, value in rows:
                if not deleted and value is not None:
                    yield key, load_document(value)
            if len(rows) < limit:
                return
            # Resume past the last key; later pages grow, since the caller
            # evidently wants more than a few rows.
            if order == "asc":
                lo = successor(rows[-1][0])
            else:
                hi = rows[-1][0]
            limit = min(limit * 2, _MAX_PAGE)

    async def search(self, request: SearchRequest) -> Sequence[Document]:
        self._store.catalog.search_index(request.index)  # SchemaError for an unknown one
        return [load_document(value) for value in await self._search_rows(request)]

    async def _search_rows(self, request: SearchRequest) -> Sequence[str]:
        """The value JSON of the documents `search` returns, in its order."""
        raise NotImplementedError

    async def _get_row(self, id: str) -> tuple[str, str] | None:
        """`(table, value JSON)` of the document's version at `ts`, or None."""
        raise NotImplementedError

    async def _read_page(
        self, index: str, lo: bytes, hi: bytes | None, order: Order, limit: int
    ) -> Sequence[PageRow]:
        """Up to `limit` entries of `index` in `[lo, hi)` at `ts`, in `order`."""
        raise NotImplementedError
