from __future__ import annotations

from server.metrics import Metrics


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
