"""The dashboard in headless Chromium against a real `livesync serve`, beside
an app client (the official npm client): sign in with the admin key, watch a
table change as the app inserts, edit and delete a document and see the
app's subscription follow, run functions (one as a user) and read their
results and log lines, read the health view, find those runs in the logs
view (and only the failed one among the failures), and watch the connections
view follow a burst of the app's mutations, with each query's mean time,
and count the runs of a cron job firing every second apart from scheduled
jobs (tests/browser/cron_functions, added to the app). The Node script
server/dashboard/ui/e2e/dashboard.mjs drives the browser and prints what it saw.

Two more scenarios: two nodes on one PostgreSQL database, the page on one
(both listed, their connections totalled; e2e/nodes.mjs), and `livesync
dev`, whose page opens signed in on loopback and runs a function as a user
the dev issuer signs a token for (e2e/dev.mjs).

With LIVESYNC_UPDATE_SCREENSHOT set, the views' screenshots replace the
README's (server/dashboard/ui/screenshots/).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.browser.conftest import DASHBOARD_UI
from tests.helpers.node import NodeScriptError, run_node_script
from tests.helpers.postgres import fresh_database
from tests.helpers.server import REPO_ROOT, DevServer, StartServer
from tests.helpers.timeouts import NODE_SCENARIO

SCRIPT = DASHBOARD_UI / "e2e" / "dashboard.mjs"
NODES_SCRIPT = DASHBOARD_UI / "e2e" / "nodes.mjs"
DEV_SCRIPT = DASHBOARD_UI / "e2e" / "dev.mjs"
DASHBOARD_FUNCTIONS = REPO_ROOT / "tests" / "server" / "admin" / "dashboard_functions"
CRON_FUNCTIONS = Path(__file__).parent / "cron_functions"
README_SCREENSHOTS = DASHBOARD_UI / "screenshots"
VIEWS = ("data", "functions", "logs", "health", "connections")
# Each refresh of the node's `_nodes` document is one sample of the
# Connections view's charts: often, so they fill within the scenario.
REFRESH = "node_refresh = 0.3\n"


@pytest.mark.usefixtures("browser_ready", "dashboard_modules")
def test_dashboard_shows_live_data_edits_for_subscribers_runs_functions_health_connections(
    start_server: StartServer, tmp_path: Path
) -> None:
    functions = tmp_path / "functions"
    shutil.copytree(DASHBOARD_FUNCTIONS, functions)
    for module in ("crons.py", "ticks.py"):
        shutil.copy(CRON_FUNCTIONS / module, functions / module)
    server = start_server(functions, server_extra=REFRESH)
    key = server.admin_key()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        result = run_node_script(SCRIPT, [server.url, key, str(shots)], timeout=NODE_SCENARIO * 2)
    except NodeScriptError as error:
        raise AssertionError(f"{error}\nserver stderr:\n{server.stderr_text()}") from None
    assert not result.named("page_error"), str(result)
    assert result.named("passed"), str(result)

    wrong = result.one("wrong_key")
    assert wrong == {"event": "wrong_key", "signedIn": 0, "message": wrong["message"]}
    assert "not this deployment's admin key" in wrong["message"]

    # Newest first by creation time; the app's insert appears on its own.
    live = result.one("live_insert")
    assert live["before"] == ['"urgent task"', '"first task"']
    assert live["after"] == ['"added by the app"', '"urgent task"', '"first task"']
    assert result.one("by_priority")["texts"] == [
        '"first task"',
        '"added by the app"',
        '"urgent task"',
    ]

    # A schema-breaking edit is refused and never reaches anyone.
    refused = result.one("edit_refused")["message"]
    assert "does not match the schema" in refused and "Path: .priority" in refused
    seen = result.one("edit_seen")
    assert {"text": "edited in the dashboard", "done": True, "priority": 3} in seen["app"]
    assert seen["everSawRefusedValue"] is False
    assert result.one("deleted")["dashboard"] == ['"first task"', '"urgent task"']

    listed = result.one("functions_listed")["listed"]
    assert listed == [
        "Mtasks:add",
        "Qtasks:countinternal",
        "Qtasks:hello",
        "Qtasks:list",
        "Atasks:shout",
        "Mticks:tickinternal",
    ]
    shout = result.one("ran_shout")
    assert (shout["ok"], shout["value"], shout["logs"]) == ("true", '"HEY"', ["[LOG] shouting hey"])
    assert shout["argsType"] == "{ text: string }"
    bad = result.one("ran_bad_args")
    assert bad["ok"] == "false" and "ArgumentValidationError" in bad["value"], bad
    assert bad["logs"] == []
    assert result.one("ran_internal")["value"] == "2"  # internal: only the admin reaches it
    hello = result.one("ran_hello")
    assert (hello["value"], hello["logs"]) == ('"hi, alice"', ["[LOG] saying hi to alice"])

    health = result.one("health")
    assert health["store"] == "sqlite"
    assert health["functions"] == f"6 in {functions}"
    assert health["uptime"].endswith("s") and health["version"]
    ((node_id, url, _, _, connections),) = health["nodes"]  # one node: SQLite
    assert node_id == f"{health['node']} (this page's)" and url == server.url
    # As of the node's last refresh.
    assert re.fullmatch(r"\d+ / \d+ / \d+", connections), connections

    # The runs above, as the Logs view lists them: time, node, kind,
    # function, duration, outcome, caller, log lines.
    logged = result.one("logged_hello")
    _, node, kind, path, duration, outcome, caller, lines = logged["cells"]
    assert (node, kind, path, outcome, caller) == (
        health["node"],
        "query",
        "tasks:hello",
        "success",
        "alice",
    )
    assert re.fullmatch(r"\d+\.\d ms", duration), duration
    assert lines.startswith("1 line") and logged["lines"] == ["[LOG] saying hi to alice"]
    ((failed, message),) = result.one("logged_failures")["rows"]
    assert failed == "tasks:shout" and "ArgumentValidationError" in message

    conn = result.one("connections")
    assert conn["nodes"] == 1 and conn["here"].startswith(f"{health['node']} (this page's)")
    # The page (admin) and the app client are connected the whole time.
    assert int(conn["authenticated"]) >= 1 and int(conn["unauthenticated"]) >= 1, conn
    assert int(conn["subscriptions"]) >= 2, conn  # the page's health, the app's list
    assert conn["committedAfter"] >= conn["committedBefore"] + 3 > 3, conn
    assert conn["mutationsMax"] > 0, conn  # a rate from two successive reports
    assert conn["authenticatedPoints"] >= 2 and conn["polylines"] == 1, conn
    queries = {
        path: (int(runs), rate, mean, recent) for path, runs, rate, mean, recent in conn["queries"]
    }
    # One run per committed task at least (the app subscribes to the list).
    runs, rate, mean, recent = queries["tasks:list"]
    assert runs >= 5 and re.fullmatch(r"\d+\.\d", rate), queries
    # Its mean time over every run, and over the runs since the report
    # before if there were any (a dash if not).
    assert re.fullmatch(r"\d+\.\d\d ms", mean) and float(mean.split()[0]) > 0, queries
    assert re.fullmatch(r"\d+\.\d\d ms|–", recent), queries
    # The cron job ran (every second) and is not among the scheduled jobs,
    # of which this app has none.
    crons = re.fullmatch(r"(\d+) succeeded, (\d+) failed, \d+ skipped", conn["crons"])
    assert crons is not None and int(crons[1]) >= 1 and int(crons[2]) == 0, conn
    assert conn["cronsMax"] > 0, conn  # a rate from two successive reports
    assert conn["jobs"] == "0 succeeded, 0 failed", conn

    for view in VIEWS:
        assert (shots / f"{view}.png").read_bytes().startswith(b"\x89PNG")
    if os.environ.get("LIVESYNC_UPDATE_SCREENSHOT"):
        README_SCREENSHOTS.mkdir(exist_ok=True)
        for view in VIEWS:
            shutil.copyfile(shots / f"{view}.png", README_SCREENSHOTS / f"{view}.png")


@pytest.mark.usefixtures("browser_ready", "dashboard_modules")
async def test_the_dashboard_of_two_nodes_lists_both_and_totals_their_connections(
    start_server: StartServer,
) -> None:
    """Two nodes on one PostgreSQL database; the page on the first, an app
    client on each (tests/browser/.../nodes.mjs)."""
    key = "one-admin-key-for-both-nodes"
    extra = REFRESH + f'admin_key = "{key}"\n'
    async with fresh_database() as database_url:
        a, b = (
            start_server(DASHBOARD_FUNCTIONS, database_url=database_url, server_extra=extra)
            for _ in range(2)
        )
        try:
            result = run_node_script(NODES_SCRIPT, [a.url, b.url, key], timeout=NODE_SCENARIO)
        except NodeScriptError as error:
            raise AssertionError(f"{error}\nnode A stderr:\n{a.stderr_text()}") from None
        finally:
            a.stop()
            b.stop()
    assert not result.named("page_error"), str(result)
    assert result.named("passed"), str(result)

    nodes = result.one("health")["nodes"]
    assert sorted(row[1] for row in nodes) == sorted([a.url, b.url])

    totals = result.one("totals")
    assert totals["header"] == [
        "Node",
        "authenticated",
        "unauthenticated",
        "loading",
        "Subscriptions",
        "Mutations / min",
    ]
    *node_rows, total = totals["rows"]
    assert len(node_rows) == 2 and total[0] == "2 nodes"
    # Each column of the total is the sum of the nodes' (rates to 0.1).
    for column in (1, 2, 3, 4):
        assert int(total[column]) == sum(int(row[column]) for row in node_rows), totals
    assert float(total[5]) == pytest.approx(sum(float(row[5]) for row in node_rows), abs=0.11)
    # The page (admin, authenticated) is on A; one app client on each node.
    by_node = {row[0]: row for row in node_rows}
    assert int(total[1]) >= 1 and int(total[2]) >= 2, totals
    assert all(int(row[2]) >= 1 for row in by_node.values()), totals
    assert float(total[5]) > 0  # node B's mutations, seen from node A's page
    assert len(totals["articles"]) == 2, totals


@pytest.mark.usefixtures("browser_ready", "dashboard_modules")
def test_livesync_dev_opens_signed_in_and_runs_a_function_as_a_dev_issuer_user(
    tmp_path: Path,
) -> None:
    server = DevServer(DASHBOARD_FUNCTIONS, tmp_path / "dev")
    server.start()
    try:
        result = run_node_script(DEV_SCRIPT, [server.url], timeout=NODE_SCENARIO)
    except NodeScriptError as error:
        raise AssertionError(f"{error}\nserver stderr:\n{server.stderr_text()}") from None
    finally:
        server.stop()
    assert not result.named("page_error"), str(result)
    assert result.named("passed"), str(result)
    assert result.one("signed_in")["signedOutForms"] == 0  # no key asked on loopback
    ran = result.one("ran_as_bob")
    assert (ran["ok"], ran["value"], ran["logs"]) == (
        "true",
        '"hello, bob"',
        ["[LOG] saying hello to bob"],
    )
    assert "not both" in result.one("both_refused")["message"]
    _, _, kind, path, _, outcome, caller, _ = result.one("logged")["cells"]
    assert (kind, path, outcome, caller) == ("query", "tasks:hello", "success", "bob")
