"""paginate() against a real SQLite store: options, cursors, pinned page ends
carried in the journal, endCursor, splitting and page limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server import pagination_opts_validator
from server.errors import ArgumentError, FunctionError
from server.functions.database import DatabaseReader, DatabaseWriter, TableCatalog
from server.functions.pagination import (
    END,
    END_CURSOR,
    PageJournal,
    PaginationOptions,
    decode_cursor,
    decode_journal,
    encode_cursor,
)
from server.functions.readset import ReadSet
from server.functions.schema import define_schema, define_table
from server.functions.validators import v
from server.store.keys import index_key, successor
from server.store.sqlite import SqliteStore

SCHEMA = define_schema(
    {
        "messages": define_table({"channel": v.string(), "n": v.number()})
        .index("by_channel", ["channel"])
        .index("by_n", ["n"])
    }
)
BY_N = "messages.by_n"


@pytest.fixture
async def store(tmp_path: Path):
    store = SqliteStore(tmp_path / "db.sqlite")
    await store.open(SCHEMA.index_defs())
    yield store
    await store.close()


async def insert(store: SqliteStore, *numbers: float, channel: str = "a") -> list[str]:
    ids = []
    for n in numbers:

        async def write(tx: Any, n: float = n) -> str:
            return await DatabaseWriter(tx, ReadSet(), schema=SCHEMA).insert(
                "messages", {"channel": channel, "n": float(n)}
            )

        doc_id, _ = await store.write(write)
        ids.append(doc_id)
    return ids


async def delete(store: SqliteStore, doc_id: str) -> None:
    async def write(tx: Any) -> None:
        await DatabaseWriter(tx, ReadSet(), schema=SCHEMA).delete(doc_id)

    await store.write(write)


class Page:
    """One run of a page query (`by_n`, in `order`), as the sync layer runs
    it: with the journal of the previous run."""

    def __init__(self, result: dict[str, Any], journal: str | None, reads: ReadSet) -> None:
        self.result = result
        self.journal = journal
        self.reads = reads

    @property
    def numbers(self) -> list[float]:
        return [doc["n"] for doc in self.result["page"]]


async def run_page(
    store: SqliteStore,
    opts: dict[str, Any],
    journal: str | None = None,
    order: str = "asc",
) -> Page:
    reads = ReadSet()
    page_journal = PageJournal(journal)
    db = DatabaseReader(
        store.snapshot(),
        reads,
        schema=SCHEMA,
        catalog=TableCatalog(("messages",)),
        journal=page_journal,
    )
    result = await db.query("messages").with_index("by_n").order(order).paginate(opts)
    return Page(result, page_journal.result, reads)


async def walk(store: SqliteStore, pages: list[Page], order: str = "asc") -> list[list[float]]:
    """Re-run every loaded page with its journal, as live subscriptions do."""
    cursor = None
    seen = []
    for page in pages:
        again = await run_page(store, {"numItems": 2, "cursor": cursor}, page.journal, order)
        seen.append(again.numbers)
        cursor = again.result["continueCursor"]
    return seen


# -- options and cursors ----------------------------------------------------


def test_options_accept_int_or_float_numbers_and_ignore_the_hooks_id() -> None:
    opts = PaginationOptions.parse({"numItems": 5.0, "cursor": None, "id": 3.0})
    assert opts == PaginationOptions(5, None)
    opts = PaginationOptions.parse(
        {"numItems": 5, "cursor": "s", "endCursor": "e", "maximumRowsRead": 10.0}
    )
    assert (opts.num_items, opts.end_cursor, opts.maximum_rows_read) == (5, "e", 10)


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"cursor": None}, "numItems is required"),
        ({"numItems": 2.5, "cursor": None}, "numItems must be a whole number"),
        ({"numItems": -1, "cursor": None}, "numItems must be a whole number"),
        ({"numItems": 40_000, "cursor": None}, "from 0 to 32000"),
        ({"numItems": True, "cursor": None}, "numItems"),
        ({"numItems": 2, "cursor": 5.0}, "InvalidCursor: cursor must be a string"),
        ({"numItems": 2, "cursor": None, "maximumRowsRead": 0}, "maximumRowsRead"),
        ({"numItems": 2, "cursor": None, "maximumBytesRead": float("inf")}, "maximumBytesRead"),
        ([2, None], "paginate\\(\\) takes"),
    ],
)
def test_bad_options_are_function_errors(opts: Any, message: str) -> None:
    with pytest.raises(FunctionError, match=message):
        PaginationOptions.parse(opts)


def test_validator_takes_what_the_official_clients_send() -> None:
    pagination_opts_validator.validate({"numItems": 5.0, "cursor": None, "id": 1.0})
    pagination_opts_validator.validate(
        {"numItems": 5.0, "cursor": "kabc", "endCursor": "e", "id": 1.0}
    )
    pagination_opts_validator.validate(
        {"numItems": 5.0, "cursor": None, "maximumRowsRead": 9.0, "maximumBytesRead": 9.0}
    )
    with pytest.raises(ArgumentError, match="numItems"):
        pagination_opts_validator.validate({"cursor": None})
    with pytest.raises(ArgumentError, match="extra field `limit`"):
        pagination_opts_validator.validate({"numItems": 1.0, "cursor": None, "limit": 1.0})


def test_cursors_round_trip_and_refuse_other_indexes_and_garbage() -> None:
    key = index_key((1.0,), "x" * 32)
    cursor = encode_cursor(key, BY_N)
    assert decode_cursor(cursor, BY_N) == key
    assert decode_cursor(None, BY_N) is None
    assert decode_cursor(encode_cursor(END, BY_N), BY_N) is END
    with pytest.raises(FunctionError, match="InvalidCursor: .*another query"):
        decode_cursor(cursor, "messages.by_channel")
    for garbage in ("garbage", "k!!", "k", "kAA", 7):
        with pytest.raises(FunctionError, match="InvalidCursor"):
            decode_cursor(garbage, BY_N)
    with pytest.raises(FunctionError, match="InvalidCursor: query journal"):
        decode_journal("not ours")


# -- pages ------------------------------------------------------------------


async def test_pages_walk_the_index_and_pin_their_ends_in_the_journal(store) -> None:
    await insert(store, 1, 2, 3, 4, 5)
    first = await run_page(store, {"numItems": 2.0, "cursor": None})
    assert first.numbers == [1, 2] and first.result["isDone"] is False
    assert decode_journal(first.journal) == first.result["continueCursor"]
    second = await run_page(store, {"numItems": 2, "cursor": first.result["continueCursor"]})
    third = await run_page(store, {"numItems": 2, "cursor": second.result["continueCursor"]})
    assert (second.numbers, third.numbers) == ([3, 4], [5])
    # Ran out: the page ends at the end of the range, and so does its cursor.
    assert third.result["isDone"] is True
    assert third.result["continueCursor"] == END_CURSOR
    assert decode_journal(third.journal) == END_CURSOR
    assert "splitCursor" not in third.result and "pageStatus" not in third.result
    after = await run_page(store, {"numItems": 2, "cursor": END_CURSOR})
    assert after.numbers == [] and after.result["isDone"] is True


async def test_newest_first_insert_into_page_one_grows_it_and_keeps_page_two(store) -> None:
    await insert(store, 5, 6, 7, 8, 9, 10)
    one = await run_page(store, {"numItems": 3, "cursor": None}, order="desc")
    two = await run_page(
        store, {"numItems": 3, "cursor": one.result["continueCursor"]}, order="desc"
    )
    assert (one.numbers, two.numbers) == ([10, 9, 8], [7, 6, 5])
    await insert(store, 11)
    again = await run_page(store, {"numItems": 3, "cursor": None}, one.journal, order="desc")
    # The page grew in place: 8 is not pushed out of the list.
    assert again.numbers == [11, 10, 9, 8]
    assert again.result["continueCursor"] == one.result["continueCursor"]
    assert again.journal == one.journal


async def test_a_delete_shrinks_its_page_and_repeats_no_row(store) -> None:
    ids = await insert(store, 1, 2, 3, 4, 5, 6)
    pages = [await run_page(store, {"numItems": 2, "cursor": None})]
    for _ in range(2):
        cursor = pages[-1].result["continueCursor"]
        pages.append(await run_page(store, {"numItems": 2, "cursor": cursor}))
    await delete(store, ids[0])
    assert await walk(store, pages) == [[2], [3, 4], [5, 6]]
    await delete(store, ids[3])  # the boundary row of page two
    assert await walk(store, pages) == [[2], [3], [5, 6]]


async def test_an_insert_mid_index_lands_in_its_page_and_loses_no_boundary_row(store) -> None:
    await insert(store, 1, 2, 3, 4, 5, 6)
    pages = [await run_page(store, {"numItems": 2, "cursor": None})]
    for _ in range(2):
        cursor = pages[-1].result["continueCursor"]
        pages.append(await run_page(store, {"numItems": 2, "cursor": cursor}))
    await insert(store, 2.5, 4.5, 7)
    assert await walk(store, pages) == [[1, 2], [2.5, 3, 4], [4.5, 5, 6]]
    # The last page was read to its (pinned) end, before 7 existed.
    assert pages[-1].result["isDone"] is False


async def test_the_last_page_ends_at_the_end_of_the_range_and_grows_there(store) -> None:
    await insert(store, 1, 2, 3)
    last = await run_page(store, {"numItems": 5, "cursor": None})
    assert last.result["isDone"] is True
    await insert(store, 4)
    again = await run_page(store, {"numItems": 5, "cursor": None}, last.journal)
    assert again.numbers == [1, 2, 3, 4] and again.result["isDone"] is True


async def test_a_pinned_page_reads_exactly_its_range(store) -> None:
    await insert(store, 1, 2, 3, 4, 5)
    first = await run_page(store, {"numItems": 2, "cursor": None})
    second = await run_page(store, {"numItems": 2, "cursor": first.result["continueCursor"]})
    again = await run_page(
        store, {"numItems": 2, "cursor": first.result["continueCursor"]}, second.journal
    )
    assert again.numbers == [3, 4]
    assert again.reads.ranges == second.reads.ranges

    start = decode_cursor(first.result["continueCursor"], BY_N)  # row 2
    end = decode_cursor(second.result["continueCursor"], BY_N)  # row 4
    assert isinstance(start, bytes) and isinstance(end, bytes)

    def inside(key: bytes) -> bool:
        return again.reads.contains(BY_N, key)

    # From just after the cursor up to and including the pinned end.
    assert not inside(start) and inside(successor(start)) and inside(end)
    assert not inside(successor(end))
    assert inside(index_key((2.5, 0.0), "m" * 32)) and not inside(index_key((4.5, 0.0), "m" * 32))


async def test_end_cursor_is_honoured_whatever_num_items_says(store) -> None:
    await insert(store, 1, 2, 3, 4, 5, 6)
    first = await run_page(store, {"numItems": 4, "cursor": None})
    upto_two = await run_page(store, {"numItems": 2, "cursor": None})
    split = await run_page(
        store,
        {"numItems": 1, "cursor": None, "endCursor": first.result["continueCursor"]},
    )
    assert split.numbers == [1, 2, 3, 4]
    assert split.result["continueCursor"] == first.result["continueCursor"]
    assert decode_journal(split.journal) == first.result["continueCursor"]
    rest = await run_page(
        store,
        {
            "numItems": 1,
            "cursor": upto_two.result["continueCursor"],
            "endCursor": END_CURSOR,
        },
    )
    assert rest.numbers == [3, 4, 5, 6] and rest.result["isDone"] is True
    with pytest.raises(FunctionError, match="InvalidCursor: endCursor lies before cursor"):
        await run_page(
            store,
            {
                "numItems": 1,
                "cursor": first.result["continueCursor"],
                "endCursor": upto_two.result["continueCursor"],
            },
        )


async def test_a_page_grown_past_twice_its_size_recommends_a_split_in_the_middle(store) -> None:
    await insert(store, 10, 20, 30, 40)
    first = await run_page(store, {"numItems": 2, "cursor": None}, order="desc")
    assert first.numbers == [40, 30] and "pageStatus" not in first.result
    await insert(store, 31, 32, 33)
    grown = await run_page(store, {"numItems": 2, "cursor": None}, first.journal, order="desc")
    assert grown.numbers == [40, 33, 32, 31, 30]
    assert grown.result["pageStatus"] == "SplitRecommended"
    split = grown.result["splitCursor"]
    # The client's two halves: [cursor, split] and [split, continueCursor].
    low = await run_page(store, {"numItems": 2, "cursor": None, "endCursor": split}, order="desc")
    high = await run_page(
        store,
        {"numItems": 2, "cursor": split, "endCursor": grown.result["continueCursor"]},
        order="desc",
    )
    assert (low.numbers, high.numbers) == ([40, 33], [32, 31, 30])
    assert "pageStatus" not in low.result and "pageStatus" not in high.result


async def test_maximum_rows_read_cuts_a_first_page_short_and_a_pinned_one_needs_a_split(
    store,
) -> None:
    await insert(store, 1, 2, 3, 4, 5, 6)
    short = await run_page(store, {"numItems": 5, "cursor": None, "maximumRowsRead": 2})
    assert short.numbers == [1, 2] and short.result["isDone"] is False
    assert "pageStatus" not in short.result
    whole = await run_page(store, {"numItems": 7, "cursor": None})
    assert whole.result["isDone"] is True
    cut = await run_page(
        store, {"numItems": 6, "cursor": None, "maximumRowsRead": 4}, whole.journal
    )
    assert cut.numbers == [1, 2, 3, 4]
    assert cut.result["pageStatus"] == "SplitRequired"
    assert cut.result["continueCursor"] == END_CURSOR  # still the pinned end
    low = await run_page(
        store,
        {"numItems": 6, "cursor": None, "endCursor": cut.result["splitCursor"]},
    )
    high = await run_page(
        store,
        {"numItems": 6, "cursor": cut.result["splitCursor"], "endCursor": END_CURSOR},
    )
    assert (low.numbers, high.numbers) == ([1, 2], [3, 4, 5, 6])


async def test_maximum_bytes_read_stops_after_the_row_that_reaches_it(store) -> None:
    await insert(store, 1, 2, 3, 4)
    page = await run_page(store, {"numItems": 4, "cursor": None, "maximumBytesRead": 1})
    assert page.numbers == [1] and page.result["isDone"] is False
    nearly = await run_page(store, {"numItems": 4, "cursor": None, "maximumBytesRead": 10_000})
    assert nearly.numbers == [1, 2, 3, 4]


async def test_a_second_paginate_in_one_execution_is_refused(store) -> None:
    await insert(store, 1)
    db = DatabaseReader(store.snapshot(), ReadSet(), schema=SCHEMA)
    await db.query("messages").paginate({"numItems": 1, "cursor": None})
    with pytest.raises(FunctionError, match="only once per function execution"):
        await db.query("messages").paginate({"numItems": 1, "cursor": None})


async def test_a_cursor_of_another_index_or_a_foreign_journal_is_an_invalid_cursor(
    store,
) -> None:
    await insert(store, 1, 2)
    first = await run_page(store, {"numItems": 1, "cursor": None})
    db = DatabaseReader(store.snapshot(), ReadSet(), schema=SCHEMA)
    with pytest.raises(FunctionError, match="InvalidCursor"):
        await db.query("messages").paginate(
            {"numItems": 1, "cursor": first.result["continueCursor"]}
        )
    with pytest.raises(FunctionError, match="InvalidCursor: query journal"):
        await run_page(store, {"numItems": 1, "cursor": None}, "made up")
