from __future__ import annotations

import random

from server.sync.intervals import IntervalIndex


def test_stab_finds_exactly_the_intervals_containing_the_key() -> None:
    index: IntervalIndex[str] = IntervalIndex()
    index.add("a", [("t.i", b"b", b"d")])
    index.add("b", [("t.i", b"c", None)])
    index.add("c", [("t.j", b"a", b"z")])
    assert index.stab("t.i", b"a") == set()
    assert index.stab("t.i", b"b") == {"a"}
    assert index.stab("t.i", b"c") == {"a", "b"}
    assert index.stab("t.i", b"d") == {"b"}  # ends are exclusive
    assert index.stab("t.i", b"\xff\xff") == {"b"}
    assert index.stab("t.k", b"c") == set()


def test_removed_owner_is_no_longer_found() -> None:
    index: IntervalIndex[str] = IntervalIndex()
    index.add("a", [("t.i", b"a", b"c"), ("t.i", b"x", b"y")])
    index.add("b", [("t.i", b"a", b"c")])
    index.remove("a")
    assert "a" not in index
    assert index.stab("t.i", b"b") == {"b"}
    assert index.stab("t.i", b"x") == set()
    index.remove("a")  # unknown owners are ignored
    assert len(index) == 1


def test_stab_agrees_with_brute_force_over_many_random_intervals() -> None:
    rng = random.Random(7)
    index: IntervalIndex[int] = IntervalIndex()
    intervals: dict[int, tuple[bytes, bytes | None]] = {}
    for owner in range(600):
        start = bytes(rng.randrange(256) for _ in range(3))
        end = None if owner % 50 == 0 else start + bytes([rng.randrange(256)])
        intervals[owner] = (start, end)
        index.add(owner, [("t.i", start, end)])
    for owner in range(0, 600, 3):
        index.remove(owner)
        del intervals[owner]
    for _ in range(300):
        key = bytes(rng.randrange(256) for _ in range(4))
        expected = {o for o, (s, e) in intervals.items() if s <= key and (e is None or key < e)}
        assert index.stab("t.i", key) == expected
