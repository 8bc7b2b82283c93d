"""Scrape-time collectors: worker states and loads, cluster health, balance and alerts, from snapshots."""
from __future__ import annotations

import collections
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bytedb_exporter.metrics.registry import NAMESPACE, MetricsRegistry
from bytedb_exporter.metrics.scrape import scrape_vitals
from bytedb_exporter.rules.health import CLUSTER_STATES, WORKER_STATES

if TYPE_CHECKING:
    from bytedb_exporter.cluster.coordinator import ClusterView, CoordinatorMonitor
    from bytedb_exporter.cluster.source import WorkerSource
    from bytedb_exporter.cluster.worker_models import WorkerVitals

log = logging.getLogger(__name__)

HELP = {
    "worker_load": "Worker load over the load window: (CPU percent + memory percent + 10 x mean running "
                   "queries) / 3; absent without CPU and memory readings.",
    "worker_heartbeat_age_seconds": "Seconds since a worker's last heartbeat or activity.",
    "worker_state": "Worker health state: 1 for the current state (healthy, degraded, unhealthy, offline).",
    "cluster_health": "Cluster health state: 1 for the current status (healthy, degraded, critical).",
    "cluster_workers": "Registered workers by health state.",
    "cluster_load_balance_score": "Load balance score 0..100: 100 x (1 - coefficient of variation of "
                                  "the loads of online workers that have one).",
    "cluster_utilization_percent": "Mean CPU usage of the online workers whose CPU was read, percent.",
    "cluster_alerts_active": "Active unacknowledged alerts by type and severity.",
}


def _gauge(name: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{NAMESPACE}_{name}", HELP[name], labels=labels)


_failures: ContextVar[collections.Counter[str] | None] = ContextVar("bytedb_scrape_failures", default=None)


@contextlib.contextmanager
def counting_failures() -> Iterator[collections.Counter[str]]:
    """Within this block (one thread), what the collectors leave out is counted by collector (worker, cluster)."""
    counts: collections.Counter[str] = collections.Counter()
    token = _failures.set(counts)
    try:
        yield counts
    finally:
        _failures.reset(token)


def _failed(collector: str) -> None:
    counts = _failures.get()
    if counts is not None:
        counts[collector] += 1


def guarded(collector: str, builders: Iterable[Callable[[], Metric]]) -> Iterator[Metric]:
    """Yield each builder's family; a builder that raises is logged, counted and its family dropped."""
    for build in builders:
        try:
            family = build()
        except Exception:
            log.exception("%s collector: a metric family failed at scrape time and was left out", collector)
            _failed(collector)
            continue
        yield family


class WorkerCollector(Collector):
    """bytedb_worker_load, _heartbeat_age_seconds and _state for every worker monitor of one registry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._monitors: dict[str, WorkerSource] = {}

    def add(self, monitor: WorkerSource) -> None:
        """Include a worker monitor in scrapes (a second monitor with the same id replaces the first)."""
        with self._lock:
            if monitor.worker_id in self._monitors and self._monitors[monitor.worker_id] is not monitor:
                log.warning("worker %s: a second monitor in the same registry replaces the first", monitor.worker_id)
            self._monitors = {**self._monitors, monitor.worker_id: monitor}

    def remove(self, monitor: WorkerSource) -> None:
        """Leave scrapes; unknown monitors are ignored."""
        with self._lock:
            self._monitors = {k: m for k, m in self._monitors.items() if m is not monitor}

    def describe(self) -> list[Metric]:
        return [_gauge("worker_load", ["worker_id"]), _gauge("worker_heartbeat_age_seconds", ["worker_id"]),
                _gauge("worker_state", ["worker_id", "state"])]

    def collect(self) -> Iterator[Metric]:
        monitors = self._monitors
        vitals: list[WorkerVitals] = []
        for worker_id, monitor in sorted(monitors.items()):
            try:
                vitals.append(scrape_vitals(monitor))
            except Exception:
                log.exception("worker %s: vitals failed at scrape time; worker left out", worker_id)
                _failed("worker")
        yield from guarded("worker", (
            lambda: _per_worker("worker_load", vitals, lambda v: v.load),  # left out where None
            lambda: _per_worker("worker_heartbeat_age_seconds", vitals, lambda v: v.seconds_since_heartbeat),
            lambda: _worker_states(vitals),
        ))


def _per_worker(name: str, vitals: list[WorkerVitals], value: Callable[[WorkerVitals], float | None]) -> Metric:
    """One sample per worker; a worker whose value is None has none."""
    family = _gauge(name, ["worker_id"])
    for v in vitals:
        reading = value(v)
        if reading is not None:
            family.add_metric([v.worker_id], reading)
    return family


def _worker_states(vitals: list[WorkerVitals]) -> Metric:
    family = _gauge("worker_state", ["worker_id", "state"])
    for v in vitals:
        for state in WORKER_STATES:
            family.add_metric([v.worker_id, state], 1.0 if v.status == state else 0.0)
    return family


_worker_collectors: weakref.WeakKeyDictionary[MetricsRegistry, WorkerCollector] = weakref.WeakKeyDictionary()
_worker_collectors_lock = threading.Lock()


def worker_collector(registry: MetricsRegistry) -> WorkerCollector:
    """The one WorkerCollector of this registry, registered on first use."""
    with _worker_collectors_lock:
        collector = _worker_collectors.get(registry)
        if collector is None:
            collector = _worker_collectors[registry] = WorkerCollector()
            registry.register_collector(collector)
        return collector


class ClusterCollector(Collector):
    """Cluster health, workers by state, load balance, utilization and alert counts of one coordinator."""

    def __init__(self, coordinator: CoordinatorMonitor):
        self._coordinator = coordinator

    def describe(self) -> list[Metric]:
        return [_gauge("cluster_health", ["status"]), _gauge("cluster_workers", ["state"]),
                _gauge("cluster_load_balance_score", []), _gauge("cluster_utilization_percent", []),
                _gauge("cluster_alerts_active", ["type", "severity"])]

    def collect(self) -> Iterator[Metric]:
        try:
            view = self._coordinator.cluster_view()
        except Exception:
            log.exception("cluster collector: reading the workers failed; cluster families left out")
            _failed("cluster")
            return
        yield from guarded("cluster", (
            lambda: _state_set("cluster_health", "status", CLUSTER_STATES, view.status),
            lambda: _cluster_workers(view),
            lambda: _single("cluster_load_balance_score", view.load_balance_score),
            lambda: _single("cluster_utilization_percent", view.utilization_percent),
            lambda: self._alerts(view),
        ))

    def _alerts(self, view: ClusterView) -> Metric:
        family = _gauge("cluster_alerts_active", ["type", "severity"])
        for (kind, severity), count in sorted(self._coordinator.alert_counts(view).items()):
            family.add_metric([kind, severity], count)
        return family


def _state_set(name: str, label: str, states: Iterable[str], current: str) -> Metric:
    family = _gauge(name, [label])
    for state in states:
        family.add_metric([state], 1.0 if state == current else 0.0)
    return family


def _cluster_workers(view: ClusterView) -> Metric:
    family = _gauge("cluster_workers", ["state"])
    for state in WORKER_STATES:
        family.add_metric([state], view.counts.get(state, 0))
    return family


def _single(name: str, value: float) -> Metric:
    family = _gauge(name, [])
    family.add_metric([], value)
    return family
