from __future__ import annotations

import re
from pathlib import Path

import httpx

from server.metrics import Metrics
from tests.helpers.server import StartServer
from tests.helpers.timeouts import REPLY

FUNCTIONS = Path(__file__).parent / "sync" / "functions"


def test_render_lists_labelled_samples_in_prometheus_text_format() -> None:
    metrics = Metrics()
    metrics.connections.add("authenticated", 2)
    metrics.connections.add("authenticated", -1)
    metrics.query_executions.inc('a:"b"')
    text = metrics.render()
    assert "# TYPE livesync_connections gauge" in text
    assert 'livesync_connections{state="authenticated"} 1' in text
    assert 'livesync_query_executions_total{path="a:\\"b\\""} 1' in text
    assert "livesync_transitions_total 0" in text
    assert text.endswith("\n")


def test_counters_start_at_zero_and_accumulate() -> None:
    metrics = Metrics()
    assert metrics.mutations.get("ok") == 0
    metrics.mutations.inc("ok")
    metrics.mutations.inc("ok", 2)
    assert metrics.mutations.get("ok") == 3


def test_known_labels_show_at_zero_before_anything_happens() -> None:
    text = Metrics().render()
    for state in ("loading", "authenticated", "unauthenticated"):
        assert f'livesync_connections{{state="{state}"}} 0\n' in text
    for generation in "012":
        assert f'livesync_gc_pause_max_seconds{{generation="{generation}"}} 0\n' in text
    assert 'livesync_mutations_total{outcome="error"} 0\n' in text
    assert 'livesync_scheduled_jobs_total{outcome="failed"} 0\n' in text
    assert 'livesync_function_timeouts_total{kind="action"} 0\n' in text


def test_a_known_label_counts_like_any_other() -> None:
    metrics = Metrics()
    metrics.connections.add("loading", 1)
    metrics.connections.add("loading", -1)
    metrics.connections.add("authenticated", 1)
    text = metrics.render()
    assert 'livesync_connections{state="loading"} 0\n' in text
    assert 'livesync_connections{state="authenticated"} 1\n' in text
    assert text.count("livesync_connections{") == 3


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
        'livesync_connections{state="authenticated"}': "0",
        'livesync_connections{state="loading"}': "0",
        'livesync_connections{state="unauthenticated"}': "0",
    }
