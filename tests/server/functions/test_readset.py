from __future__ import annotations

import pytest

from server.errors import LimitExceeded
from server.functions.readset import IndexRange, ReadSet
from server.store.base import IndexKeyChange


def test_overlapping_and_adjacent_ranges_merge():
    reads = ReadSet()
    reads.add("t.by_x", b"b", b"d")
    reads.add("t.by_x", b"d", b"f")  # adjacent
    reads.add("t.by_x", b"a", b"c")  # overlapping
    reads.add("t.by_x", b"x", b"y")
    reads.add("t.other", b"a", b"b")
    assert reads.ranges == (
        IndexRange("t.by_x", b"a", b"f"),
        IndexRange("t.by_x", b"x", b"y"),
        IndexRange("t.other", b"a", b"b"),
    )


def test_unbounded_range_swallows_later_ones():
    reads = ReadSet()
    reads.add("t.i", b"m", b"n")
    reads.add("t.i", b"c", None)
    reads.add("t.i", b"z", b"zz")
    assert reads.ranges == (IndexRange("t.i", b"c", None),)


def test_contains_is_half_open_and_per_index():
    reads = ReadSet()
    reads.add("t.i", b"b", b"d")
    assert reads.contains("t.i", b"b")
    assert reads.contains("t.i", b"c\xff")
    assert not reads.contains("t.i", b"d")
    assert not reads.contains("t.i", b"a")
    assert not reads.contains("t.j", b"c")


def test_overlaps_checks_commit_keys():
    reads = ReadSet()
    reads.add("t.i", b"b", b"d")
    assert reads.overlaps([IndexKeyChange("t.j", b"c"), IndexKeyChange("t.i", b"c")])
    assert not reads.overlaps([IndexKeyChange("t.i", b"e")])


def test_empty_interval_is_ignored():
    reads = ReadSet()
    reads.add("t.i", b"b", b"b")
    assert not reads
    assert reads.ranges == ()


def test_range_limit_raises_limit_exceeded():
    reads = ReadSet(limit=3)
    for n in range(3):
        reads.add("t.i", bytes([n * 2]), bytes([n * 2 + 1]))
    with pytest.raises(LimitExceeded, match="limit: 3"):
        reads.add("t.i", b"\x10", b"\x11")
