"""GET /metrics: the registry's text, its idle series, the histograms
after real queries, mutations, actions and pushes, each query path's time,
and cron runs counted apart from other scheduled jobs."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import prometheus_client
import pytest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from client import Client
from server.metrics import CONTENT_TYPE, Metrics
from server.sync.engine import UNKNOWN_PATH
from tests.helpers.api import call
from tests.helpers.server import StartServer
from tests.helpers.timeouts import CLIENT, REPLY
from tests.server.scheduler.test_crons import app as cron_app
from tests.server.sync.test_connection import Peer, Served, query_mods, serving

FUNCTIONS = Path(__file__).parent / "sync" / "functions"
KINDS = ("query", "mutation", "action")
HISTOGRAMS = (
    "livesync_function_duration_seconds",
    "livesync_commit_duration_seconds",
    "livesync_push_latency_seconds",
)

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Series:
    """Every sample of a scrape, by name and labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def count(series: Series, name: str, **labels: str) -> float:
    return series[(name + "_count", tuple(sorted(labels.items())))]


def counts(series: Series) -> Series:
    """The samples that count what was done, not how long it took."""
    return {
        key: value
        for key, value in series.items()
        if key[0].endswith(("_count", "_total")) and not key[0].startswith("livesync_gc_")
    }


def scrape(url: str) -> Series:
    reply = httpx.get(url + "/metrics", timeout=REPLY)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == CONTENT_TYPE
    return parse(reply.text)


def exercise(url: str) -> None:
    """One query, one mutation and one action (which runs one more mutation)."""
    call(url, "mutation", "messages:send", {"channel": "c", "body": "direct"})
    call(url, "action", "actions:send", {"channel": "c", "body": "via action"})
    assert call(url, "query", "messages:list", {"channel": "c"}) == ["direct", "via action"]


# -- rendering -------------------------------------------------------------------


def test_render_lists_labelled_samples_in_prometheus_text_format() -> None:
    metrics = Metrics()
    metrics.connections.add("authenticated", 2)
    metrics.connections.add("authenticated", -1)
    metrics.query_executions.inc('a:"b"')
    text = metrics.render()
    assert "# TYPE livesync_connections gauge" in text
    assert 'livesync_connections{state="authenticated"} 1.0\n' in text
    assert 'livesync_query_executions_total{path="a:\\"b\\""} 1.0\n' in text
    assert "livesync_transitions_total 0.0\n" in text
    assert text.endswith("\n")


def test_counters_start_at_zero_and_accumulate() -> None:
    metrics = Metrics()
    assert metrics.mutations.get("ok") == 0
    metrics.mutations.inc("ok")
    metrics.mutations.inc("ok", 2)
    assert metrics.mutations.get("ok") == 3
    assert metrics.query_executions.get("never:ran") == 0


def test_known_labels_show_at_zero_before_anything_happens() -> None:
    text = Metrics().render()
    for state in ("loading", "authenticated", "unauthenticated"):
        assert f'livesync_connections{{state="{state}"}} 0.0\n' in text
    for generation in "012":
        assert f'livesync_gc_pause_max_seconds{{generation="{generation}"}} 0.0\n' in text
    assert 'livesync_mutations_total{outcome="error"} 0.0\n' in text
    assert 'livesync_scheduled_jobs_total{outcome="failed"} 0.0\n' in text
    for outcome in ("success", "failed", "skipped"):
        assert f'livesync_cron_runs_total{{outcome="{outcome}"}} 0.0\n' in text
    # Query paths are known only once run: the family, no series yet.
    assert "# TYPE livesync_query_seconds_total counter\n" in text
    assert "livesync_query_seconds_total{" not in text
    assert 'livesync_function_timeouts_total{kind="action"} 0.0\n' in text
    for kind in KINDS:
        assert f'livesync_function_duration_seconds_count{{kind="{kind}"}} 0.0\n' in text
        assert f'livesync_function_duration_seconds_bucket{{kind="{kind}",le="+Inf"}} 0.0\n' in text
    assert "livesync_commit_duration_seconds_count 0.0\n" in text
    assert "livesync_push_latency_seconds_count 0.0\n" in text


def test_a_known_label_counts_like_any_other() -> None:
    metrics = Metrics()
    metrics.connections.add("loading", 1)
    metrics.connections.add("loading", -1)
    metrics.connections.add("authenticated", 1)
    text = metrics.render()
    assert 'livesync_connections{state="loading"} 0.0\n' in text
    assert 'livesync_connections{state="authenticated"} 1.0\n' in text
    assert text.count("livesync_connections{") == 3


def test_query_time_adds_up_by_path() -> None:
    metrics = Metrics()
    metrics.query_seconds.inc('a:"b"', 0.25)
    metrics.query_seconds.inc('a:"b"', 0.5)
    metrics.query_seconds.inc("c:d", 0.125)
    assert metrics.query_seconds.get('a:"b"') == 0.75
    assert metrics.query_seconds.get("never:ran") == 0
    assert metrics.query_seconds.by_label() == {'a:"b"': 0.75, "c:d": 0.125}
    series = parse(metrics.render())
    assert series[("livesync_query_seconds_total", (("path", 'a:"b"'),))] == 0.75
    assert series[("livesync_query_seconds_total", (("path", "c:d"),))] == 0.125


def test_each_app_keeps_its_own_figures() -> None:
    one, other = Metrics(), Metrics()
    one.mutations.inc("ok")
    one.commit_duration.observe(0.002)
    assert other.mutations.get("ok") == 0
    assert other.commit_duration.count() == 0
    assert "livesync_" not in prometheus_client.generate_latest().decode()


@pytest.mark.parametrize("name", ["commit_duration", "push_latency"])
def test_a_histogram_sorts_observations_into_cumulative_buckets(name: str) -> None:
    metrics = Metrics()
    histogram = getattr(metrics, name)  # a library histogram, and a loop one
    for seconds in (0.0003, 0.004, 0.005, 20.0):
        histogram.observe(seconds)
    assert histogram.count() == 4
    series = parse(metrics.render())
    family = f"livesync_{name}_seconds"

    def bucket(le: str) -> float:
        return series[(family + "_bucket", (("le", le),))]

    assert bucket("0.0005") == 1
    assert bucket("0.0025") == 1
    assert bucket("0.005") == 3  # a bound holds what equals it
    assert bucket("2.5") == 3
    assert bucket("+Inf") == 4
    assert count(series, family) == 4
    assert series[(family + "_sum", ())] == pytest.approx(20.0093)


# -- the library's API this module relies on ---------------------------------------


def test_prometheus_client_still_offers_what_server_metrics_uses() -> None:
    registry = prometheus_client.CollectorRegistry()
    counter = prometheus_client.Counter("t_total", "c", ("o",), registry=registry)
    gauge = prometheus_client.Gauge("t_gauge", "g", ("s",), registry=registry)
    histogram = prometheus_client.Histogram(
        "t_seconds", "h", ("k",), registry=registry, buckets=(0.1, 1.0)
    )
    plain = prometheus_client.Histogram("t_plain_seconds", "h", registry=registry, buckets=(1.0,))
    counter.labels("ok").inc(2)
    gauge.labels("s").inc(-1)
    gauge.labels("s").set(5)
    histogram.labels("q").observe(0.5)
    plain.observe(0.5)
    assert counter.labels("ok") is counter.labels("ok")  # children are kept
    assert registry.get_sample_value("t_total", {"o": "ok"}) == 2
    assert registry.get_sample_value("t_gauge", {"s": "s"}) == 5
    assert registry.get_sample_value("t_seconds_count", {"k": "q"}) == 1
    text = prometheus_client.generate_latest(registry)
    assert isinstance(text, bytes)
    lines = text.decode().splitlines()
    assert "# TYPE t_total counter" in lines
    assert 't_total{o="ok"} 2.0' in lines
    assert 't_seconds_bucket{k="q",le="0.1"} 0.0' in lines
    assert 't_seconds_bucket{k="q",le="+Inf"} 1.0' in lines
    assert "t_plain_seconds_sum 0.5" in lines
    assert prometheus_client.CONTENT_TYPE_PLAIN_0_0_4.startswith("text/plain; version=0.0.4")
    assert issubclass(prometheus_client.Histogram, MetricWrapperBase)


def test_prometheus_client_still_reads_custom_collectors() -> None:
    class Figures:
        def describe(self) -> list[Metric]:
            return self.collect()

        def collect(self) -> list[Metric]:
            return [
                CounterMetricFamily("f_total", "c", value=3),
                HistogramMetricFamily("f_seconds", "h", [("0.5", 1), ("+Inf", 2)], 1.5),
            ]

    registry = prometheus_client.CollectorRegistry()
    registry.register(Figures())
    with pytest.raises(ValueError, match="Duplicated"):
        registry.register(Figures())  # describe() is what finds the clash
    lines = prometheus_client.generate_latest(registry).decode().splitlines()
    assert "# TYPE f_total counter" in lines
    assert "f_total 3.0" in lines
    assert 'f_seconds_bucket{le="+Inf"} 2.0' in lines
    assert "f_seconds_count 2.0" in lines
    assert "f_seconds_sum 1.5" in lines


# -- real servers --------------------------------------------------------------------


def test_an_idle_server_scrape_has_a_sample_for_every_gauge(start_server: StartServer) -> None:
    reply = httpx.get(start_server(FUNCTIONS).url + "/metrics", timeout=REPLY)
    assert reply.status_code == 200
    lines = reply.text.splitlines()
    gauges = [line.split()[2] for line in lines if line.startswith("# TYPE ") and "gauge" in line]
    assert "livesync_connections" in gauges
    for gauge in gauges:
        samples = [line for line in lines if re.match(rf"{gauge}[{{ ]", line)]
        assert samples, f"{gauge} has no sample at idle"
    connections = {line.split()[0]: line.split()[1] for line in lines if "connections{" in line}
    assert connections == {
        'livesync_connections{state="authenticated"}': "0.0",
        'livesync_connections{state="loading"}': "0.0",
        'livesync_connections{state="unauthenticated"}': "0.0",
    }
    for name in HISTOGRAMS:
        assert f"# TYPE {name} histogram" in lines


def test_functions_and_commits_are_timed_by_what_ran(start_server: StartServer) -> None:
    url = start_server(FUNCTIONS).url
    before = scrape(url)
    exercise(url)
    call(url, "mutation", "messages:fail", {"reason": "no"}, status="error")
    after = scrape(url)

    def grew(name: str, **labels: str) -> float:
        return count(after, name, **labels) - count(before, name, **labels)

    duration = "livesync_function_duration_seconds"
    assert grew(duration, kind="query") == 1
    # The action's own mutation, and the failed one, are runs too.
    assert grew(duration, kind="mutation") == 3
    assert grew(duration, kind="action") == 1
    # The failed mutation's group was rolled back: no commit to time.
    assert grew("livesync_commit_duration_seconds") == 2
    for kind in KINDS:
        inf = after[(duration + "_bucket", (("kind", kind), ("le", "+Inf")))]
        assert inf == count(after, duration, kind=kind)
        assert after[(duration + "_sum", (("kind", kind),))] > 0
    assert after[("livesync_commit_duration_seconds_sum", ())] > 0


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with serving(tmp_path / "livesync.db") as s:
        yield s


@pytest.mark.parametrize("n", [1, 3], ids=["alone", "shared"])
async def test_a_push_is_timed_once_per_subscriber_it_reaches(served: Served, n: int) -> None:
    readers = [await Peer.open(served.ws_url) for _ in range(n)]
    writer = await Peer.open(served.ws_url)
    try:
        ids = [(await peer.subscribe("messages:list", {"channel": "p"}))[0] for peer in readers]
        async with httpx.AsyncClient(timeout=REPLY) as http:
            before = parse((await http.get(served.url + "/metrics")).text)
            response, _ = await writer.mutation_result(
                "messages:send", {"channel": "p", "body": "x"}
            )
            assert response["success"] is True
            for peer, query_id in zip(readers, ids, strict=True):
                frames = await peer.until(lambda m, q=query_id: bool(query_mods([m], q)))
                assert query_mods(frames, query_id)[-1]["value"] == ["x"]
            after = parse((await http.get(served.url + "/metrics")).text)
    finally:
        for peer in (*readers, writer):
            await peer.close()
    latency = "livesync_push_latency_seconds"
    # The writer's own Transition carries no changed query: it is not a push.
    assert count(after, latency) - count(before, latency) == n
    pushed = after[(latency + "_sum", ())] - before[(latency + "_sum", ())]
    assert 0 < pushed < n * REPLY


async def test_each_query_run_is_timed_under_its_path(served: Served) -> None:
    reader, writer = await Peer.open(served.ws_url), await Peer.open(served.ws_url)
    try:
        query_id, _ = await reader.subscribe("messages:list", {"channel": "t"})
        response, _ = await writer.mutation_result("messages:send", {"channel": "t", "body": "x"})
        assert response["success"] is True
        await reader.until(lambda m: bool(query_mods([m], query_id)))  # it ran again
        async with httpx.AsyncClient(timeout=REPLY) as http:
            series = parse((await http.get(served.url + "/metrics")).text)
    finally:
        await reader.close()
        await writer.close()
    path = (("path", "messages:list"),)
    assert series[("livesync_query_executions_total", path)] == 2
    seconds = series[("livesync_query_seconds_total", path)]
    # Each run is timed around the function's own run, which the histogram times.
    ran = series[("livesync_function_duration_seconds_sum", (("kind", "query"),))]
    assert 0 < ran <= seconds < 2 * REPLY


async def test_made_up_query_paths_share_one_label(served: Served) -> None:
    """Any client can subscribe to paths no function answers to; each fails
    alone, and the metrics keep one series for all of them, not one each."""
    peer = await Peer.open(served.ws_url)
    try:
        for n in range(3):
            _, first = await peer.subscribe(f"made:up{n}", {})  # waits for its failure
            assert "Could not find public function" in json.dumps(first)
        async with httpx.AsyncClient(timeout=REPLY) as http:
            text = (await http.get(served.url + "/metrics")).text
    finally:
        await peer.close()
    series = parse(text)
    assert "made:up" not in text
    assert series[("livesync_query_executions_total", (("path", UNKNOWN_PATH),))] == 3
    assert series[("livesync_query_seconds_total", (("path", UNKNOWN_PATH),))] > 0


async def test_cron_runs_are_counted_apart_from_scheduled_jobs(
    start_server: StartServer, tmp_path: Path
) -> None:
    server = start_server(cron_app(tmp_path, "every_second"))
    async with Client(server.url) as client, asyncio.timeout(CLIENT):
        runs = client.subscribe("tasks:runs")
        seen = runs.latest
        while seen is None or len(seen) < 2:
            seen = await runs.next()
    series = scrape(server.url)
    # Each run counts just after its commit: the last one seen may not yet.
    assert series[("livesync_cron_runs_total", (("outcome", "success"),))] >= len(seen) - 1 >= 1
    assert series[("livesync_cron_runs_total", (("outcome", "failed"),))] == 0
    # They ran as scheduled functions, and are not counted as those too.
    assert series[("livesync_scheduled_jobs_total", (("outcome", "success"),))] == 0


def test_the_side_port_serves_what_the_main_port_would(start_server: StartServer) -> None:
    public = start_server(FUNCTIONS)
    side = start_server(FUNCTIONS, server_extra='metrics = "127.0.0.1:0"\n')
    printed = "".join(side.stdout_lines())
    match = re.search(r"livesync: metrics on (http://127\.0\.0\.1:\d+)/metrics", printed)
    assert match, printed
    exercise(public.url)
    exercise(side.url)
    on_main, on_side = scrape(public.url), scrape(match.group(1))
    # The same series, and the same counts (times and collections differ).
    assert on_main.keys() == on_side.keys()
    assert counts(on_main) == counts(on_side)
    assert count(on_side, "livesync_function_duration_seconds", kind="action") == 1
