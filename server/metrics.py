"""Counters and gauges, exposed at GET /metrics in Prometheus text format.

Deliberately tiny: a label is one string, and values live in plain dicts, so
incrementing on the hot path is a dict update. A metric whose label values
are known in advance (`known`) shows each of them from the start, at 0, so an
idle server's scrape has every series a dashboard or alert refers to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from protocol.session import AuthState
from server.scheduler.jobs import FAILED, SUCCESS

__all__ = ["Counter", "Gauge", "Metrics"]

_AUTH_STATES = tuple(state.value for state in AuthState)
_GC_GENERATIONS = ("0", "1", "2")  # CPython's collector generations
# FunctionKind's values (server.functions imports this module, not the reverse).
_KINDS = ("query", "mutation", "action")


@dataclass(slots=True)
class _Metric:
    name: str
    help: str
    label: str = ""
    known: Iterable[str] = ()
    values: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    kind = "untyped"

    def __post_init__(self) -> None:
        for label in self.known:
            self.values[label] = 0.0

    def get(self, label: str = "") -> float:
        return self.values.get(label, 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        lines += _samples(self.name, self.label, self.values)
        return lines


class Counter(_Metric):
    kind = "counter"

    def inc(self, label: str = "", amount: float = 1) -> None:
        self.values[label] += amount


class Gauge(_Metric):
    kind = "gauge"

    def add(self, label: str, amount: float) -> None:
        self.values[label] += amount

    def set(self, label: str, value: float) -> None:
        self.values[label] = value


def _samples(name: str, label: str, values: dict[str, float]) -> list[str]:
    if not label:
        return [f"{name} {values.get('', 0.0):g}"]
    out = []
    for value_label, value in sorted(values.items()):
        escaped = value_label.replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'{name}{{{label}="{escaped}"}} {value:g}')
    return out


class Metrics:
    """Every metric the server keeps."""

    def __init__(self) -> None:
        self.connections = Gauge(
            "livesync_connections", "Open sync connections by auth state", "state", _AUTH_STATES
        )
        self.auth_transitions = Counter(
            "livesync_auth_transitions_total", "Connection auth state changes", "to", _AUTH_STATES
        )
        self.query_executions = Counter(
            "livesync_query_executions_total", "Query function executions", "path"
        )
        self.mutations = Counter(
            "livesync_mutations_total", "Mutations run", "outcome", ("ok", "error")
        )
        self.invalidations = Counter(
            "livesync_invalidations_total", "Query executions invalidated by commits"
        )
        self.transitions = Counter("livesync_transitions_total", "Transitions sent")
        self.inline_transitions = Counter(
            "livesync_inline_transitions_total",
            "Transitions written by the invalidating commit's own pass, no task woken",
        )
        self.gc_collections = Counter(
            "livesync_gc_collections_total",
            "Cyclic garbage collections",
            "generation",
            _GC_GENERATIONS,
        )
        self.gc_pause_seconds = Counter(
            "livesync_gc_pause_seconds_total",
            "Time the event loop stood still in garbage collections",
            "generation",
            _GC_GENERATIONS,
        )
        self.gc_pause_max = Gauge(
            "livesync_gc_pause_max_seconds",
            "Longest single collection",
            "generation",
            _GC_GENERATIONS,
        )
        self.protocol_errors = Counter(
            "livesync_protocol_errors_total", "Connections closed for protocol errors"
        )
        self.function_timeouts = Counter(
            "livesync_function_timeouts_total", "Executions stopped at a time limit", "kind", _KINDS
        )
        self.loop_interrupts = Counter(
            "livesync_loop_interrupts_total",
            "App code interrupted for holding the event loop past its limit",
        )
        self.abandoned_threads = Counter(
            "livesync_abandoned_threads_total",
            "Action threads still running past their limit, left to end on their own",
        )
        self.scheduled_jobs = Counter(
            "livesync_scheduled_jobs_total",
            "Scheduled functions this node ran, by how they ended",
            "outcome",
            (SUCCESS, FAILED),
        )

    def render(self) -> str:
        lines: list[str] = []
        for metric in (
            self.connections,
            self.auth_transitions,
            self.query_executions,
            self.mutations,
            self.invalidations,
            self.transitions,
            self.inline_transitions,
            self.gc_collections,
            self.gc_pause_seconds,
            self.gc_pause_max,
            self.protocol_errors,
            self.function_timeouts,
            self.loop_interrupts,
            self.abandoned_threads,
            self.scheduled_jobs,
        ):
            lines += metric.render()
        return "\n".join(lines) + "\n"
