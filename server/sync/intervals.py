"""Which subscriptions read a given index key: point stabbing over intervals.

Each registered query execution owns half-open byte intervals `[start, end)`
on named indexes. A commit stabs every index key it wrote (old and new) into
this structure to find exactly the executions it invalidates.

Per index the intervals sit in a list sorted by start. Stabbing key k looks
only at intervals starting at or before k, scanning them newest-start first in
blocks, and skips a whole block when the block's largest end is <= k. Block
maxima are recomputed lazily after a change, so a burst of registrations costs
one pass. With thousands of narrow per-user ranges a stab touches a handful of
blocks instead of every interval.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["IntervalIndex"]

Owner = TypeVar("Owner", bound=Hashable)

_BLOCK = 64
# Sorts after every real key: stands in for an unbounded end.
_INF = b"\xff" * 64 + b"\xff"


@dataclass(slots=True)
class _IndexIntervals:
    # (start, end, seq): seq keeps entries unique and removal exact.
    entries: list[tuple[bytes, bytes, int]] = field(default_factory=list)
    starts: list[bytes] = field(default_factory=list)
    block_max: list[bytes] = field(default_factory=list)
    dirty: bool = False

    def refresh(self) -> None:
        self.starts = [e[0] for e in self.entries]
        self.block_max = [
            max(e[1] for e in self.entries[i : i + _BLOCK])
            for i in range(0, len(self.entries), _BLOCK)
        ]
        self.dirty = False


class IntervalIndex(Generic[Owner]):
    """Maps owners to intervals on indexes and stabs keys back to owners."""

    def __init__(self) -> None:
        self._indexes: dict[str, _IndexIntervals] = {}
        self._owned: dict[Owner, list[tuple[str, tuple[bytes, bytes, int]]]] = {}
        self._by_seq: dict[int, Owner] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._owned)

    def __contains__(self, owner: object) -> bool:
        return owner in self._owned

    def owners(self) -> list[Owner]:
        """Every registered owner."""
        return list(self._owned)

    def add(self, owner: Owner, ranges: Iterable[tuple[str, bytes, bytes | None]]) -> None:
        """Register `owner`'s ranges `(index, start, end_or_None)`."""
        if owner in self._owned:
            raise ValueError("owner already registered")
        owned: list[tuple[str, tuple[bytes, bytes, int]]] = []
        for index, start, end in ranges:
            self._seq += 1
            entry = (start, _INF if end is None else end, self._seq)
            intervals = self._indexes.setdefault(index, _IndexIntervals())
            insort(intervals.entries, entry)
            intervals.dirty = True
            owned.append((index, entry))
            self._by_seq[self._seq] = owner
        self._owned[owner] = owned

    def remove(self, owner: Owner) -> None:
        """Forget `owner`; unknown owners are ignored."""
        for index, entry in self._owned.pop(owner, ()):
            intervals = self._indexes[index]
            entries = intervals.entries
            pos = bisect_right(entries, entry) - 1
            if pos >= 0 and entries[pos] == entry:
                del entries[pos]
            intervals.dirty = True
            del self._by_seq[entry[2]]
            if not entries:
                del self._indexes[index]

    def stab(self, index: str, key: bytes) -> set[Owner]:
        """Every owner with an interval on `index` containing `key`."""
        intervals = self._indexes.get(index)
        if intervals is None:
            return set()
        if intervals.dirty:
            intervals.refresh()
        hits: set[Owner] = set()
        last = bisect_right(intervals.starts, key)  # entries[:last] start <= key
        entries = intervals.entries
        block = (last - 1) // _BLOCK
        while block >= 0:
            lo = block * _BLOCK
            if intervals.block_max[block] > key:
                for i in range(min(lo + _BLOCK, last) - 1, lo - 1, -1):
                    start, end, seq = entries[i]
                    if end > key:
                        hits.add(self._by_seq[seq])
            block -= 1
        return hits
