"""A node's figures in its `_nodes` document: read from its real metrics,
they grow as clients subscribe, query, mutate and schedule, and stay small
however many query paths the node has run."""

from __future__ import annotations

import json
from typing import Any

import pytest
from convex import ConvexClient

from server.admin.stats import TOP_QUERIES, node_stats
from server.metrics import Metrics
from tests.helpers.server import StartServer
from tests.server.admin.test_nodes import FAST, FUNCTIONS, admin_client, until


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
    }


def test_only_the_most_executed_queries_are_listed_and_every_one_counted() -> None:
    metrics = Metrics()
    for n in range(TOP_QUERIES + 30):
        metrics.query_executions.inc(f"module{n:02}:query", n + 1)
    metrics.function_duration.observe(0.002, "query")
    metrics.function_duration.observe(0.004, "query")
    metrics.function_duration.observe(5.0, "action")  # not a query's
    metrics.commit_duration.observe(0.01)
    metrics.commit_duration.observe(0.03)
    stats = node_stats(metrics, 7)
    listed = [query["path"] for query in stats["queries"]]
    assert listed == [f"module{n:02}:query" for n in range(TOP_QUERIES + 29, 29, -1)]
    assert stats["queries"][0]["executions"] == TOP_QUERIES + 30
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
    # 3 notes, 2 schedulings, the scheduled note; the refused call and the
    # failed job (a scheduled mutation is one).
    assert after["mutations"]["ok"] >= 6 and after["mutations"]["error"] == 2
    assert after["commits"] >= 1 and after["commitMeanMs"] > 0
