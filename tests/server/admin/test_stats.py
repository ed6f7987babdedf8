"""A node's figures in its `_nodes` document: read from its real metrics,
they grow as clients subscribe, query, mutate and schedule, cron runs are
counted apart from other scheduled jobs, and the document stays small
however many query paths the node has run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from convex import ConvexClient

from server.admin.stats import TOP_QUERIES, node_stats
from server.metrics import Metrics
from tests.helpers.api import admin_client
from tests.helpers.server import StartServer
from tests.server.admin.test_nodes import FAST, FUNCTIONS, until

CRONS = Path(__file__).parent / "cron_files" / "crons.py"


def test_an_idle_node_reports_zeros() -> None:
    assert node_stats(Metrics(), 0) == {
        "subscriptions": 0.0,
        "queryExecutions": 0.0,
        "queryMeanMs": 0.0,
        "queries": [],
        "mutations": {"ok": 0.0, "error": 0.0},
        "commits": 0.0,
        "commitMeanMs": 0.0,
        "scheduledJobs": {"success": 0.0, "failed": 0.0},
        "cronRuns": {"success": 0.0, "failed": 0.0, "skipped": 0.0},
    }


def test_only_the_most_executed_queries_are_listed_and_every_one_counted() -> None:
    metrics = Metrics()
    for n in range(TOP_QUERIES + 30):
        # Paths of a real app's length, and times that print at full length.
        path = f"some_module/nested_folder/module{n:02}:a_query_function"
        metrics.query_executions.inc(path, n + 1)
        metrics.query_seconds.inc(path, (n + 1) * 0.001234567891)
    metrics.function_duration.observe(0.002, "query")
    metrics.function_duration.observe(0.004, "query")
    metrics.function_duration.observe(5.0, "action")  # not a query's
    metrics.commit_duration.observe(0.01)
    metrics.commit_duration.observe(0.03)
    stats = node_stats(metrics, 7)
    listed = [query["path"].split("/")[-1] for query in stats["queries"]]
    assert listed == [f"module{n:02}:a_query_function" for n in range(TOP_QUERIES + 29, 29, -1)]
    assert stats["queries"][0]["executions"] == TOP_QUERIES + 30
    means = [query["meanMs"] for query in stats["queries"]]
    assert means == [pytest.approx(1.234567891)] * TOP_QUERIES
    assert stats["queryExecutions"] == sum(range(1, TOP_QUERIES + 31))
    assert stats["queryMeanMs"] == pytest.approx(3.0)
    assert (stats["commits"], stats["commitMeanMs"]) == (2.0, pytest.approx(20.0))
    assert stats["subscriptions"] == 7.0
    assert len(json.dumps(stats)) < 4096


def me(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    (node,) = nodes
    stats: dict[str, Any] = node["stats"]
    return stats


def executions(stats: dict[str, Any], path: str) -> float:
    return next((q["executions"] for q in stats["queries"] if q["path"] == path), 0.0)


def test_a_nodes_figures_grow_with_its_work(start_server: StartServer) -> None:
    server = start_server(FUNCTIONS, server_extra=FAST)
    admin = admin_client(server)
    updates = admin.subscribe("nodes:listed")
    before = me(until(updates, lambda nodes: len(nodes) == 1))
    assert executions(before, "work:notes") == 0
    assert before["mutations"] == {"ok": 0.0, "error": 0.0}

    app = ConvexClient(server.url)
    notes = app.subscribe("work:notes")
    assert next(notes) == []
    for n in range(3):
        app.mutation("work:add", {"text": f"note {n}"})
    with pytest.raises(Exception, match="Server Error"):
        app.mutation("work:refuse")
    app.mutation("work:schedule", {"fail": False})
    app.mutation("work:schedule", {"fail": True})

    def counted(nodes: list[dict[str, Any]]) -> bool:
        stats = me(nodes)
        return (
            stats["scheduledJobs"] == {"success": 1.0, "failed": 1.0}
            and stats["subscriptions"] >= 2
        )  # the admin's list of nodes and the app's notes

    after = me(until(updates, counted))
    # Its first run, then one for each committed note and the scheduled one.
    assert executions(after, "work:notes") >= 4
    assert executions(after, "nodes:listed") >= 1  # the admin's, re-run at each refresh
    assert after["queryExecutions"] == sum(q["executions"] for q in after["queries"])
    assert after["queryMeanMs"] > 0
    assert all(q["meanMs"] > 0 for q in after["queries"]), after["queries"]
    assert after["cronRuns"] == {"success": 0.0, "failed": 0.0, "skipped": 0.0}  # none here
    # 3 notes, 2 schedulings, the scheduled note; the refused call and the
    # failed job (a scheduled mutation is one).
    assert after["mutations"]["ok"] >= 6 and after["mutations"]["error"] == 2
    assert after["commits"] >= 1 and after["commitMeanMs"] > 0


def test_cron_runs_are_counted_apart_from_other_scheduled_jobs(
    start_server: StartServer, tmp_path: Path
) -> None:
    functions = tmp_path / "functions"
    shutil.copytree(FUNCTIONS, functions)
    shutil.copy(CRONS, functions / "crons.py")  # two jobs every second, one failing
    server = start_server(functions, server_extra=FAST)
    admin = admin_client(server)
    updates = admin.subscribe("nodes:listed")
    app = ConvexClient(server.url)
    app.mutation("work:schedule", {"fail": False})  # one job of its own

    def counted(nodes: list[dict[str, Any]]) -> bool:
        stats = me(nodes)
        crons, jobs = stats["cronRuns"], stats["scheduledJobs"]
        return crons["success"] >= 2 and crons["failed"] >= 2 and jobs["success"] >= 1

    stats = me(until(updates, counted))
    # The cron runs, scheduled functions too, are not counted among them.
    assert stats["scheduledJobs"] == {"success": 1.0, "failed": 0.0}
    # The cron job's notes, and the scheduled one.
    assert len(app.query("work:notes")) >= stats["cronRuns"]["success"] + 1
