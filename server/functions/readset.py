"""What a function execution read, as byte-key intervals per index.

A query's result can only change if a commit writes a key inside one of the
intervals it read (sync-engine.md §1). Intervals are half-open
`[start, end)`, with `end=None` meaning unbounded above; overlapping and
adjacent intervals of one index are merged, so `contains` is a binary search.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

from server.errors import LimitExceeded
from server.store.base import IndexKeyChange

__all__ = ["MAX_READ_RANGES", "IndexRange", "ReadSet"]

MAX_READ_RANGES = 4096
"""Most intervals one execution may read (Convex's limit)."""


@dataclass(frozen=True, slots=True)
class IndexRange:
    """Keys `start <= k < end` of `index` ("table.index"); `end=None` is unbounded."""

    index: str
    start: bytes
    end: bytes | None

    def contains(self, key: bytes) -> bool:
        return self.start <= key and (self.end is None or key < self.end)


class ReadSet:
    """The merged intervals one execution read. Mutable while the function
    runs; treat it as frozen once the execution is over."""

    __slots__ = ("_starts", "_ends", "_count", "_limit")

    def __init__(self, limit: int = MAX_READ_RANGES) -> None:
        # Per index: sorted, disjoint, non-adjacent intervals as parallel lists.
        self._starts: dict[str, list[bytes]] = {}
        self._ends: dict[str, list[bytes | None]] = {}
        self._count = 0
        self._limit = limit

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __repr__(self) -> str:
        return f"ReadSet({list(self.ranges)!r})"

    def add(self, index: str, start: bytes, end: bytes | None) -> None:
        """Record `[start, end)` of `index`. Raises `LimitExceeded` past the
        range limit. An empty interval is ignored."""
        if end is not None and end <= start:
            return
        starts = self._starts.setdefault(index, [])
        ends = self._ends.setdefault(index, [])
        # First interval that could touch [start, end): the one before `start` may reach it.
        lo = bisect.bisect_left(starts, start)
        if lo > 0 and _reaches(ends[lo - 1], start):
            lo -= 1
        hi = lo
        new_start, new_end = start, end
        while hi < len(starts) and (new_end is None or starts[hi] <= new_end):
            new_start = min(new_start, starts[hi])
            new_end = _max_end(new_end, ends[hi])
            hi += 1
        removed = hi - lo
        starts[lo:hi] = [new_start]
        ends[lo:hi] = [new_end]
        self._count += 1 - removed
        if self._count > self._limit:
            raise LimitExceeded(
                f"Too many reads in a single function execution (limit: {self._limit} "
                "index ranges). Narrow the queries with indexes or read fewer documents."
            )

    def add_range(self, index_range: IndexRange) -> None:
        self.add(index_range.index, index_range.start, index_range.end)

    def update(self, other: ReadSet) -> None:
        """Add every interval of `other`."""
        for index_range in other.ranges:
            self.add_range(index_range)

    @property
    def ranges(self) -> tuple[IndexRange, ...]:
        return tuple(
            IndexRange(index, start, end)
            for index in sorted(self._starts)
            for start, end in zip(self._starts[index], self._ends[index], strict=True)
        )

    def indexes(self) -> frozenset[str]:
        return frozenset(index for index, starts in self._starts.items() if starts)

    def contains(self, index: str, key: bytes) -> bool:
        """Whether `key` of `index` lies inside an interval that was read."""
        starts = self._starts.get(index)
        if not starts:
            return False
        position = bisect.bisect_right(starts, key) - 1
        if position < 0:
            return False
        end = self._ends[index][position]
        return end is None or key < end

    def overlaps(self, changes: Iterable[IndexKeyChange]) -> bool:
        """Whether any changed key (a commit's `keys`) lies inside this read set."""
        return any(self.contains(change.index, change.key) for change in changes)


def _reaches(end: bytes | None, start: bytes) -> bool:
    """Whether an interval ending at `end` overlaps or touches one starting at `start`."""
    return end is None or end >= start


def _max_end(a: bytes | None, b: bytes | None) -> bytes | None:
    if a is None or b is None:
        return None
    return max(a, b)
