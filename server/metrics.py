"""Counters, gauges and histograms, exposed at GET /metrics in Prometheus text
format through `prometheus_client`.

Each `Metrics` owns a `CollectorRegistry` of its own, never the library's
process-wide default: several apps may share one process (the tests run
many), and each scrape shows one app's figures.

A metric here is one library metric with at most one label, plus a cache of
its children by label value: the library's `labels()` validates and takes
the family's lock on every call, which the hot paths should not pay. A
metric whose label values are known in advance (`known`) makes those
children up front, so an idle server's scrape has, at 0, every series a
dashboard or alert refers to. This also means the gc callback and the
interrupt's signal handler, which only use known values, never take a
family's lock (it is not reentrant, and either can run while the thread
they interrupt holds it).

The figures bumped once per Transition or per query run (`LoopCounter`,
`LoopCounterByLabel`, `LoopHistogram`) are plain numbers instead, which the
registry reads through the library's custom-collector interface: a library
counter or histogram takes a lock on every update, ~0.3 and ~0.6 us, which
a commit fanned out to thousands of subscribers pays thousands of times
(BENCHMARKS.md, "Metrics"). Only the serving loop's thread updates them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

import prometheus_client
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric

from protocol.session import AuthState
from server.scheduler.jobs import FAILED, SKIPPED, SUCCESS

__all__ = [
    "CONTENT_TYPE",
    "Counter",
    "Gauge",
    "Histogram",
    "LoopCounter",
    "LoopCounterByLabel",
    "LoopHistogram",
    "Metrics",
]

# What `render` produces: the text format, version 0.0.4 (what
# `generate_latest` writes, and what any Prometheus scraper reads).
CONTENT_TYPE = prometheus_client.CONTENT_TYPE_PLAIN_0_0_4

_AUTH_STATES = tuple(state.value for state in AuthState)
_GC_GENERATIONS = ("0", "1", "2")  # CPython's collector generations
# FunctionKind's values (server.functions imports this module, not the reverse).
_KINDS = ("query", "mutation", "action")

# Bucket bounds in seconds. A query or mutation runs for well under a
# millisecond to its 1 s limit; an action up to its 600 s one.
_FUNCTION_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
    60.0,
    600.0,
)
# A commit is the group's runs plus one fsync (a few ms on a disk);
# a push is the fan-out after it, including queries re-run for it.
_COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_PUSH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

M = TypeVar("M", bound=MetricWrapperBase)


class _Family(Generic[M]):
    """One library metric with one label (or none), its children cached."""

    __slots__ = ("_label", "_metric", "_children", "_registry", "_sample")
    _kind: type[M]  # the library's class, set by each subclass

    def __init__(
        self,
        registry: CollectorRegistry,
        name: str,
        help: str,
        label: str = "",
        known: Iterable[str] = (),
        **options: Any,
    ) -> None:
        names = (label,) if label else ()
        self._metric = self._kind(name, help, names, registry=registry, **options)
        self._registry = registry
        self._sample = name  # its main sample's name, for `_read`
        self._label = label
        self._children: dict[str, M] = {} if label else {"": self._metric}
        for value in known:
            self.child(value)

    def child(self, label: str = "") -> M:
        found = self._children.get(label)
        if found is None:
            found = self._children[label] = self._metric.labels(label)
        return found

    def by_label(self, suffix: str = "") -> dict[str, float]:
        """Each child's sample `name + suffix`, by label value: one collection
        of this metric alone (for a periodic report, not for hot paths)."""
        wanted = self._sample + suffix
        return {
            sample.labels.get(self._label, ""): sample.value
            for family in self._metric.collect()
            for sample in family.samples
            if sample.name == wanted
        }

    def _read(self, suffix: str, label: str) -> float:
        labels = {self._label: label} if self._label else {}
        value = self._registry.get_sample_value(self._sample + suffix, labels)
        return 0.0 if value is None else value


class _Scalar(_Family[M]):
    __slots__ = ()

    def get(self, label: str = "") -> float:
        """The current value (a scrape's worth of work: not for hot paths)."""
        return self._read("", label)


class Counter(_Scalar[prometheus_client.Counter]):
    """A counter; `name` ends in `_total`, the name of its sample."""

    __slots__ = ()
    _kind = prometheus_client.Counter

    def inc(self, label: str = "", amount: float = 1) -> None:
        self.child(label).inc(amount)


class Gauge(_Scalar[prometheus_client.Gauge]):
    __slots__ = ()
    _kind = prometheus_client.Gauge

    def add(self, label: str, amount: float) -> None:
        self.child(label).inc(amount)

    def set(self, label: str, value: float) -> None:
        self.child(label).set(value)


class Histogram(_Family[prometheus_client.Histogram]):
    """A distribution of durations in seconds; `name` ends in `_seconds`."""

    __slots__ = ()
    _kind = prometheus_client.Histogram

    def observe(self, seconds: float, label: str = "") -> None:
        self.child(label).observe(seconds)

    def count(self, label: str = "") -> float:
        """How many were observed (a scrape's worth of work: not for hot paths)."""
        return self._read("_count", label)


class _LoopFigure:
    """A figure without labels, updated from the serving loop's thread only,
    that the registry reads as a custom collector. Subclasses set their
    fields before calling this `__init__`: registering describes the figure."""

    __slots__ = ("_help", "_name")

    def __init__(self, registry: CollectorRegistry, name: str, help: str) -> None:
        self._name, self._help = name, help
        registry.register(self)

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        yield self._family()

    def _family(self) -> Metric:
        raise NotImplementedError


class LoopCounter(_LoopFigure):
    __slots__ = ("_value",)

    def __init__(self, registry: CollectorRegistry, name: str, help: str) -> None:
        self._value = 0.0
        super().__init__(registry, name, help)

    def inc(self, amount: float = 1) -> None:
        self._value += amount

    def get(self) -> float:
        return self._value

    def _family(self) -> Metric:
        return CounterMetricFamily(self._name, self._help, value=self._value)


class LoopCounterByLabel(_LoopFigure):
    """A `LoopCounter` with one label: a series per label value, made when
    first counted (none known in advance)."""

    __slots__ = ("_label", "_values")

    def __init__(self, registry: CollectorRegistry, name: str, help: str, label: str) -> None:
        self._label = label
        self._values: dict[str, float] = {}
        super().__init__(registry, name, help)

    def inc(self, label: str, amount: float = 1) -> None:
        values = self._values
        values[label] = values.get(label, 0.0) + amount

    def get(self, label: str) -> float:
        return self._values.get(label, 0.0)

    def by_label(self) -> dict[str, float]:
        return dict(self._values)

    def _family(self) -> Metric:
        family = CounterMetricFamily(self._name, self._help, labels=(self._label,))
        for value, total in list(self._values.items()):
            family.add_metric((value,), total)
        return family


class LoopHistogram(_LoopFigure):
    __slots__ = ("_bounds", "_counts", "_sum")

    def __init__(
        self, registry: CollectorRegistry, name: str, help: str, buckets: tuple[float, ...]
    ) -> None:
        self._bounds = buckets
        self._counts = [0] * (len(buckets) + 1)  # the last one: above every bound
        self._sum = 0.0
        super().__init__(registry, name, help)

    def observe(self, seconds: float) -> None:
        # The first bound at or above `seconds`: buckets are "less or equal".
        self._counts[bisect_left(self._bounds, seconds)] += 1
        self._sum += seconds

    def count(self) -> float:
        return sum(self._counts)

    def _family(self) -> Metric:
        buckets: list[tuple[str, float]] = []
        total = 0
        for bound, n in zip((*map(str, self._bounds), "+Inf"), self._counts, strict=True):
            total += n
            buckets.append((bound, total))
        return HistogramMetricFamily(self._name, self._help, buckets, self._sum)


class Metrics:
    """Every metric the server keeps, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.connections = Gauge(
            r, "livesync_connections", "Open sync connections by auth state", "state", _AUTH_STATES
        )
        self.auth_transitions = Counter(
            r,
            "livesync_auth_transitions_total",
            "Connection auth state changes",
            "to",
            _AUTH_STATES,
        )
        self.query_executions = Counter(
            r, "livesync_query_executions_total", "Query function executions", "path"
        )
        self.query_seconds = LoopCounterByLabel(
            r,
            "livesync_query_seconds_total",
            "Time spent in query function executions (their seconds summed), by path",
            "path",
        )
        self.mutations = Counter(
            r, "livesync_mutations_total", "Mutations run", "outcome", ("ok", "error")
        )
        self.invalidations = Counter(
            r, "livesync_invalidations_total", "Query executions invalidated by commits"
        )
        self.transitions = LoopCounter(r, "livesync_transitions_total", "Transitions sent")
        self.inline_transitions = LoopCounter(
            r,
            "livesync_inline_transitions_total",
            "Transitions written by the invalidating commit's own pass, no task woken",
        )
        self.gc_collections = Counter(
            r,
            "livesync_gc_collections_total",
            "Cyclic garbage collections",
            "generation",
            _GC_GENERATIONS,
        )
        self.gc_pause_seconds = Counter(
            r,
            "livesync_gc_pause_seconds_total",
            "Time the event loop stood still in garbage collections",
            "generation",
            _GC_GENERATIONS,
        )
        self.gc_pause_max = Gauge(
            r,
            "livesync_gc_pause_max_seconds",
            "Longest single collection",
            "generation",
            _GC_GENERATIONS,
        )
        self.protocol_errors = Counter(
            r, "livesync_protocol_errors_total", "Connections closed for protocol errors"
        )
        self.function_timeouts = Counter(
            r,
            "livesync_function_timeouts_total",
            "Executions stopped at a time limit",
            "kind",
            _KINDS,
        )
        self.loop_interrupts = Counter(
            r,
            "livesync_loop_interrupts_total",
            "App code interrupted for holding the event loop past its limit",
        )
        self.abandoned_threads = Counter(
            r,
            "livesync_abandoned_threads_total",
            "Action threads still running past their limit, left to end on their own",
        )
        self.scheduled_jobs = Counter(
            r,
            "livesync_scheduled_jobs_total",
            "Scheduled functions this node ran, cron runs apart, by how they ended",
            "outcome",
            (SUCCESS, FAILED),
        )
        self.cron_runs = Counter(
            r,
            "livesync_cron_runs_total",
            "Cron job runs this node ran, by how they ended (skipped: the previous run "
            "had not finished)",
            "outcome",
            (SUCCESS, FAILED, SKIPPED),
        )
        self.function_duration = Histogram(
            r,
            "livesync_function_duration_seconds",
            "Each run of a query, mutation or action function, failed ones too",
            "kind",
            _KINDS,
            buckets=_FUNCTION_BUCKETS,
        )
        self.commit_duration = Histogram(
            r,
            "livesync_commit_duration_seconds",
            "Each committed group of mutations: its runs and its durable write",
            buckets=_COMMIT_BUCKETS,
        )
        self.push_latency = LoopHistogram(
            r,
            "livesync_push_latency_seconds",
            "From a commit's durable write to a subscriber's Transition handed to its socket",
            _PUSH_BUCKETS,
        )

    def render(self) -> str:
        """The whole registry in Prometheus text format (see `CONTENT_TYPE`)."""
        return prometheus_client.generate_latest(self.registry).decode()
