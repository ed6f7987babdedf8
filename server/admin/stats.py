"""What a node reports of its work in its `_nodes` document: a few figures
read from its metrics once per refresh, small enough (a few KB) to write
every time. Counts are cumulative since the node started; the dashboard's
Connections view turns successive documents into rates."""

from __future__ import annotations

from typing import Any

from server.metrics import Metrics
from server.scheduler.jobs import FAILED, SKIPPED, SUCCESS

__all__ = ["TOP_QUERIES", "node_stats"]

# The query paths a document lists, the most executed first: an app's
# functions are few, but a document must stay small whatever it serves.
TOP_QUERIES = 20


def node_stats(metrics: Metrics, subscriptions: int) -> dict[str, Any]:
    """This node's figures now, as `_nodes` stores them (numbers are floats,
    as every number in a document is).

    Args:
        metrics: the node's metrics.
        subscriptions: the queries its connections subscribe to now.
    """
    executions = metrics.query_executions.by_label()
    top = sorted(executions.items(), key=lambda item: (-item[1], item[0]))[:TOP_QUERIES]
    seconds = metrics.query_seconds.by_label()
    query_runs = metrics.function_duration.by_label("_count")["query"]
    query_seconds = metrics.function_duration.by_label("_sum")["query"]
    commits = metrics.commit_duration.by_label("_count")[""]
    commit_seconds = metrics.commit_duration.by_label("_sum")[""]
    mutations = metrics.mutations.by_label()
    jobs = metrics.scheduled_jobs.by_label()
    crons = metrics.cron_runs.by_label()
    return {
        "subscriptions": float(subscriptions),
        "queryExecutions": sum(executions.values()),  # every path, not only the top
        "queryMeanMs": _mean_ms(query_seconds, query_runs),
        "queries": [
            {"path": path, "executions": runs, "meanMs": _mean_ms(seconds.get(path, 0.0), runs)}
            for path, runs in top
        ],
        "mutations": {"ok": mutations["ok"], "error": mutations["error"]},
        "commits": commits,
        "commitMeanMs": _mean_ms(commit_seconds, commits),
        "scheduledJobs": {SUCCESS: jobs[SUCCESS], FAILED: jobs[FAILED]},  # crons apart
        "cronRuns": {SUCCESS: crons[SUCCESS], FAILED: crons[FAILED], SKIPPED: crons[SKIPPED]},
    }


def _mean_ms(seconds: float, count: float) -> float:
    return seconds / count * 1000 if count else 0.0
