"""Reactive pagination with the official convex npm client's page subscriptions
(`ConvexClient.onPaginatedUpdate_experimental`, the same page logic as
`usePaginatedQuery`): pages stay contiguous while rows come and go inside
them, grown pages are split, and pinned ends survive a reconnect.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.node import NodeResult, run_node_script
from tests.helpers.node_dialog import run_node_dialog
from tests.helpers.server import StartServer
from tests.helpers.timeouts import NODE_SCENARIO

pytestmark = [pytest.mark.compat, pytest.mark.usefixtures("node_ready")]

FUNCTIONS_DIR = Path(__file__).resolve().parent / "functions"
SCRIPT = Path(__file__).resolve().parent / "js" / "paginated.mjs"


def labels(*ranks: int) -> list[str]:
    return [str(rank) for rank in ranks]


def _run(start_server: StartServer, scenario: str) -> NodeResult:
    server = start_server(FUNCTIONS_DIR)
    result = run_node_script(SCRIPT, [server.url, scenario], timeout=NODE_SCENARIO)
    assert result.named("passed"), str(result)
    return result


def test_a_row_inserted_into_page_one_keeps_its_last_row(start_server: StartServer) -> None:
    result = _run(start_server, "insert_newest")
    after = result.one("after_insert")
    # Not [11, 10, 9, 7, 6, 5]: page 1 grew instead of pushing 8 out.
    assert after["labels"] == labels(11, 10, 9, 8, 7, 6, 5)
    assert after["pages"] == 2


def test_a_row_deleted_from_a_page_repeats_no_row(start_server: StartServer) -> None:
    result = _run(start_server, "delete_in_first_page")
    after = result.one("after_delete")
    assert after["first"] == labels(6, 4, 3, 2, 1)
    assert after["second"] == labels(6, 4, 2, 1)


def test_a_row_inserted_mid_index_loses_no_boundary_row(start_server: StartServer) -> None:
    result = _run(start_server, "insert_mid_index")
    after = result.one("after_insert")
    assert after["first"] == labels(10, 20, 25, 30, 40, 50, 60)
    assert after["second"] == labels(10, 20, 25, 30, 40, 45, 50, 60)
    assert after["status"] == "CanLoadMore"  # the last page still ends at 60


def test_a_grown_page_is_split_by_the_client(start_server: StartServer) -> None:
    result = _run(start_server, "split")
    split = result.one("split")
    assert split["grown"] == labels(7, 6, 5, 4, 3, 2, 1)
    assert split["after"] == labels(8, 7, 6, 5, 4, 3, 2, 1)
    assert split["pages"] == 3
    # Every list the client showed on the way was contiguous: no gaps, no repeats.
    shown = [seen for seen in split["history"] if seen["labels"]]
    assert len(shown) >= 4
    for seen in shown:
        numbers = [int(label) for label in seen["labels"]]
        assert numbers == list(range(numbers[0], numbers[0] - len(numbers), -1)), seen


def test_pinned_page_ends_survive_a_reconnect(start_server: StartServer) -> None:
    server = start_server(FUNCTIONS_DIR)

    def restart(_event: dict) -> str:
        server.restart()
        return "restarted"

    result = run_node_dialog(
        SCRIPT,
        [server.url, "reconnect"],
        wait_for="restart_now",
        act=restart,
        timeout=NODE_SCENARIO,
    )
    assert result.named("passed"), str(result)
    after = result.one("after_reconnect")
    # Re-subscribed with its journal, page 1 still ends at 8: 9 and 8 stay.
    assert after["labels"] == labels(12, 11, 10, 9, 8, 7, 6, 5)
    assert after["connectionCount"] >= 2
