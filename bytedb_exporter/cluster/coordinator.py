"""Cluster-wide monitoring: registered workers, coordinated queries, optimizer, alerts."""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypedDict

from bytedb_exporter.cluster.collectors import ClusterCollector
from bytedb_exporter.cluster.coordinator_models import (
    ClusterAlert,
    ClusterHealth,
    CoordinatorStats,
    NetworkMetrics,
    OptimizationMetrics,
    QueryCoordinationStats,
    ResourceDistribution,
    SystemPerformanceStats,
)
from bytedb_exporter.cluster.source import WorkerSource
from bytedb_exporter.cluster.worker import MAX_ACTIVE_QUERIES, MIB
from bytedb_exporter.cluster.worker_models import WorkerStats, WorkerVitals
from bytedb_exporter.metrics.jsonutil import as_seconds
from bytedb_exporter.metrics.registry import TIMER_BUCKETS, MetricsRegistry
from bytedb_exporter.metrics.scrape import scrape_vitals
from bytedb_exporter.metrics.stats import percent
from bytedb_exporter.metrics.types import Histogram
from bytedb_exporter.query.monitor import COST_REDUCTION_BUCKETS, FRAGMENT_BUCKETS, WORKER_BUCKETS
from bytedb_exporter.rules import health
from bytedb_exporter.rules.health import Thresholds
from bytedb_exporter.rules.recommendations import (
    DECISIONS_APPLIED,
    PerformanceRecommendation,
    cluster_recommendations,
    or_performing_well,
    query_recommendations,
    worker_recommendations,
)

log = logging.getLogger(__name__)

AlertKey = tuple[str, str, str, str, str]  # id, type, severity, message, component


class _RunningSums(TypedDict):
    """What the coordinator adds up itself: timed queries and their durations, coordination overhead (seconds)."""

    timed: int
    duration: float
    overhead: float


class _SeriesSums(TypedDict):
    """Counts and sums read back from the coordinator's own series."""

    started: int
    fragments: float
    workers: float
    ended: int
    failed: int
    planning: float
    plannings: int
    aggregation: float
    aggregations: int
    applied: int
    skipped: int
    reduction: float


class _Sums(_RunningSums, _SeriesSums):
    """Both, as get_coordinator_stats reads them."""


@dataclass(frozen=True)
class ClusterView:
    """Registered workers' vitals and what follows from them, at one moment.

    online_loads holds the workers that are not offline and have a load; the score is over those,
    utilization over the online workers whose CPU was read.
    """

    vitals: dict[str, WorkerVitals]
    counts: dict[str, int]
    status: str
    issues: list[str]
    online_loads: dict[str, float]
    load_balance_score: float
    utilization_percent: float


class CoordinatorMonitor:
    """Tracks coordinated queries and derives cluster health, load balance and alerts from its workers.

    Worker metrics live in each WorkerMonitor's registry; registering a worker here adds no series.
    Counts that have a series of the coordinator's are read back from it, not kept twice.
    """

    def __init__(self, registry: MetricsRegistry | None = None, thresholds: Thresholds | None = None,
                 *, clock: Callable[[], float] = time.monotonic, bandwidth_capacity_mbps: float | None = None):
        self.registry = registry or MetricsRegistry()
        self.thresholds = thresholds or health.DEFAULT_THRESHOLDS
        self.bandwidth_capacity_mbps = bandwidth_capacity_mbps
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._workers: dict[str, WorkerSource] = {}
        self._running: dict[str, float] = {}
        self._sums: _RunningSums = {"timed": 0, "duration": 0.0, "overhead": 0.0}
        self._alert_since: dict[str, datetime] = {}
        self._acknowledged: set[str] = set()
        self._create_metrics()
        self.registry.register_collector(ClusterCollector(self))

    def _create_metrics(self) -> None:
        r = self.registry
        self._m_queries = {s: r.counter("coordinator_queries_total", "Queries the coordinator finished, by status "
                                        "(success or failed).", {"status": s}) for s in ("success", "failed")}
        self._m_active = r.gauge("coordinator_queries_active", "Queries the coordinator is running.")
        self._m_fragments = r.histogram("coordinator_query_fragments", FRAGMENT_BUCKETS,
                                        "Fragments per coordinated query.")
        self._m_workers = r.histogram("coordinator_query_workers", WORKER_BUCKETS, "Workers per coordinated query.")
        self._m_planning = r.histogram("coordinator_planning_duration_seconds", TIMER_BUCKETS,
                                       "Time the coordinator spent planning a query.")
        self._m_aggregation = r.histogram("coordinator_aggregation_duration_seconds", TIMER_BUCKETS,
                                          "Time the coordinator spent aggregating worker results.")
        self._m_optimizations = {res: r.counter("coordinator_optimizations_total", "Optimizer decisions, by result "
                                                "(applied or skipped).", {"result": res})
                                 for res in ("applied", "skipped")}
        self._m_reduction = r.histogram("coordinator_cost_reduction_ratio", COST_REDUCTION_BUCKETS,
                                        "Cost reduction of an applied optimization, 0..1.")

    def register_worker(self, worker_id: str, monitor: WorkerSource) -> None:
        """Watch a worker; registering the same monitor again is a no-op, another one under its id is a ValueError."""
        if monitor.worker_id != worker_id:
            raise ValueError(f"monitor belongs to worker {monitor.worker_id!r}, not {worker_id!r}")
        with self._lock:
            existing = self._workers.get(worker_id)
            if existing is not None and existing is not monitor:
                raise ValueError(f"another monitor is already registered as worker {worker_id!r}")
            self._workers[worker_id] = monitor

    def unregister_worker(self, worker_id: str) -> WorkerSource:
        """Stop watching a worker and return its monitor, closed; its series leave its registry, so they are
        gone from the next scrape (no stale series of a removed worker). KeyError for an unknown id."""
        with self._lock:
            if worker_id not in self._workers:
                raise KeyError(f"worker {worker_id!r} is not registered")
            monitor = self._workers.pop(worker_id)
        monitor.close()
        monitor.registry.remove_series("worker_id", worker_id)
        return monitor

    def workers(self) -> dict[str, WorkerSource]:
        """Registered monitors by worker id (a copy)."""
        with self._lock:
            return dict(self._workers)

    def record_query_start(self, query_id: str, fragments: int, workers: int) -> None:
        """A query was planned into `fragments` fragments over `workers` workers."""
        if not (math.isfinite(fragments) and math.isfinite(workers)) or fragments < 0 or workers < 0:
            raise ValueError("fragments and workers must be finite numbers not below 0")
        with self._lock:
            self._running[query_id] = self._clock()
            if len(self._running) > MAX_ACTIVE_QUERIES:  # ends that never came: forget the oldest start
                del self._running[next(iter(self._running))]
            self._m_active.set(len(self._running))
        self._m_fragments.observe(fragments)
        self._m_workers.observe(workers)

    def record_query_end(self, query_id: str, success: bool,
                         cluster_stats: Mapping[str, Any] | None = None) -> None:
        """A query ended; cluster_stats may carry `coordination_overhead` (seconds or timedelta) to add."""
        overhead = as_seconds((cluster_stats or {}).get("coordination_overhead", 0.0))
        with self._lock:
            started = self._running.pop(query_id, None)
            s = self._sums
            s["overhead"] += overhead
            if started is not None:
                s["timed"] += 1
                s["duration"] += self._clock() - started
            self._m_active.set(len(self._running))
        if started is None:
            log.warning("coordinator: end of query %r without a start", query_id)
        self._m_queries["success" if success else "failed"].inc()

    def record_optimization(self, applied: bool, original_cost: float, optimized_cost: float) -> None:
        """One optimizer decision; an applied one records its cost reduction."""
        reduction = (original_cost - optimized_cost) / original_cost if applied and original_cost > 0 else 0.0
        reduction = min(max(reduction, 0.0), 1.0)
        self._m_optimizations["applied" if applied else "skipped"].inc()
        if applied:
            self._m_reduction.observe(reduction)

    def record_planning_time(self, duration: timedelta | float) -> None:
        """Record a planning time measured elsewhere (timedelta or seconds)."""
        _record_phase("planning", duration, self._m_planning)

    def record_aggregation_time(self, duration: timedelta | float) -> None:
        """Record an aggregation time measured elsewhere (timedelta or seconds)."""
        _record_phase("aggregation", duration, self._m_aggregation)

    def cluster_view(self) -> ClusterView:
        """Vitals of every registered worker and the cluster figures derived from them (read only)."""
        vitals = {wid: read_vitals(wid, monitor) for wid, monitor in self.workers().items()}
        counts = health.count_states([v.status for v in vitals.values()])
        status, issues = health.cluster_health_status(
            counts, self.thresholds, finished_queries=int(sum(m.get() for m in self._m_queries.values())),
            failed_queries=int(self._m_queries["failed"].get()))
        online = {wid: v for wid, v in vitals.items() if v.status != "offline"}
        loads = {wid: v.load for wid, v in online.items() if v.load is not None}
        cpus = [v.cpu_percent for v in online.values() if v.cpu_percent is not None]
        return ClusterView(vitals, counts, status, issues, loads, health.load_balance_score(list(loads.values())),
                           health.cluster_utilization(cpus))

    def get_cluster_health(self, view: ClusterView | None = None) -> ClusterHealth:
        """Cluster status by the 80 % / 50 % rule; without workers, the health of the coordinator's queries."""
        view = view or self.cluster_view()
        c = view.counts
        return ClusterHealth(view.status, datetime.now(timezone.utc), len(view.vitals), c["healthy"], c["degraded"],
                             c["unhealthy"], c["offline"], view.issues,
                             timedelta(seconds=self._clock() - self._started),
                             {wid: v.status for wid, v in view.vitals.items()})

    def _alert_keys(self, view: ClusterView) -> list[AlertKey]:
        keys: list[AlertKey] = []
        for wid, v in sorted(view.vitals.items()):
            if v.status == "offline":
                continue
            for f in v.alerts(self.thresholds):
                keys.append((f"worker:{wid}:{f.type}", f.type, f.severity, f.message, wid))
        offline = [wid for wid, v in view.vitals.items() if v.status == "offline"]
        for f in health.cluster_alerts(view.status, offline, view.load_balance_score, len(view.online_loads),
                                       self.thresholds):
            keys.append((f"cluster:{f.type}", f.type, f.severity, f.message, "cluster"))
        return keys

    def active_alerts(self, view: ClusterView | None = None) -> list[ClusterAlert]:
        """Alerts firing now; an id keeps its first-seen time and acknowledgement until it clears."""
        keys = self._alert_keys(view or self.cluster_view())
        now = datetime.now(timezone.utc)
        with self._lock:
            active = {key[0] for key in keys}
            self._alert_since = {i: t for i, t in self._alert_since.items() if i in active}
            self._acknowledged &= active
            for key in keys:
                self._alert_since.setdefault(key[0], now)
            return [ClusterAlert(*key, self._alert_since[key[0]], key[0] in self._acknowledged) for key in keys]

    def alert_counts(self, view: ClusterView) -> dict[tuple[str, str], int]:
        """Unacknowledged firing alerts per (type, severity), every known pair present (read only)."""
        counts = {pair: 0 for pair in health.ALERT_SEVERITIES.items()}
        with self._lock:
            acknowledged = set(self._acknowledged)
        for alert_id, kind, severity, _, _ in self._alert_keys(view):
            if alert_id not in acknowledged:
                counts[(kind, severity)] = counts.get((kind, severity), 0) + 1
        return counts

    def acknowledge_alert(self, alert_id: str) -> bool:
        """Mark a firing alert acknowledged; False when no alert with this id fires now."""
        firing = {alert.id for alert in self.active_alerts()}
        if alert_id not in firing:
            return False
        with self._lock:
            self._acknowledged.add(alert_id)
        return True

    def get_coordinator_stats(self, view: ClusterView | None = None) -> CoordinatorStats:
        """Every section of the original's CoordinatorStats, computed from the workers now (or this view)."""
        view = view or self.cluster_view()
        stats = {wid: read_stats(wid, monitor) for wid, monitor in self.workers().items()}
        with self._lock:
            running_sums, running = self._sums.copy(), len(self._running)
        s: _Sums = {**running_sums, **self._series_sums()}
        online = [stats[wid] for wid, v in view.vitals.items() if v.status != "offline" and wid in stats]
        timed = {wid: st.query_stats.total_queries - st.query_stats.unmatched_ends for wid, st in stats.items()}
        weight = sum(timed.values())
        response = sum(st.performance.average_response_time.total_seconds() * timed[wid]
                       for wid, st in stats.items()) / weight if weight else 0.0
        loads = list(view.online_loads.values())
        processed = sum(st.query_stats.bytes_processed for st in stats.values())
        sent = sum(st.network_stats.bytes_sent for st in stats.values())
        hits = sum(st.cache_stats.cache_hits for st in stats.values())
        lookups = hits + sum(st.cache_stats.cache_misses for st in stats.values())
        samples = sum(st.network_stats.latency_samples for st in stats.values())
        latency = sum(st.network_stats.network_latency.total_seconds() * st.network_stats.latency_samples
                      for st in stats.values()) / samples if samples else 0.0
        rate = sum(st.network_stats.bytes_per_second for st in stats.values())
        per_query = s["workers"] / s["started"] if s["started"] else 0.0
        return CoordinatorStats(
            cluster_health=self.get_cluster_health(view),
            system_performance=SystemPerformanceStats(
                sum(st.performance.queries_per_second for st in stats.values()), timedelta(seconds=response),
                sum(st.performance.throughput_mbps for st in stats.values()), view.utilization_percent,
                view.load_balance_score),
            query_coordination=QueryCoordinationStats(
                s["ended"], running, s["failed"],
                s["fragments"] / s["started"] if s["started"] else 0.0, per_query,
                _avg(s["duration"], s["timed"]), _avg(s["planning"] + s["aggregation"] + s["overhead"], s["ended"]),
                _avg(s["planning"], s["plannings"]), _avg(s["aggregation"], s["aggregations"]),
                min(100.0, percent(per_query, len(online))) if s["started"] and online else None),
            resource_distribution=ResourceDistribution(
                sum(_known(st.resource_utilization.cpu_usage_percent for st in online)),
                sum(_known(st.resource_utilization.memory_usage_mb for st in online)),
                sum(loads) / len(loads) if loads else 0.0, health.load_variance(loads),
                {wid: v.load for wid, v in view.vitals.items() if v.load is not None}),
            optimization_metrics=OptimizationMetrics(
                health.optional_percent(s["applied"], s["applied"] + s["skipped"]),
                s["reduction"] / s["applied"] if s["applied"] else 0.0,
                100.0 - 100.0 * sent / processed if processed else None,
                health.optional_percent(hits, lookups), s["applied"], s["skipped"]),
            network_metrics=NetworkMetrics(
                sum(st.network_stats.bytes_received + st.network_stats.bytes_sent for st in stats.values()) / MIB,
                timedelta(seconds=latency),
                100.0 * rate / (self.bandwidth_capacity_mbps * MIB) if self.bandwidth_capacity_mbps else None,
                s["fragments"] / s["workers"] if s["workers"] else 0.0),
            active_alerts=self.active_alerts(view),
        )

    def _series_sums(self) -> _SeriesSums:
        """Counts and sums read back from the coordinator's own series."""
        fragments, planning, aggregation = self._m_fragments, self._m_planning, self._m_aggregation
        applied, skipped = (int(self._m_optimizations[r].get()) for r in ("applied", "skipped"))
        return {"started": int(fragments.get()), "fragments": fragments.total(), "workers": self._m_workers.total(),
                "ended": int(sum(m.get() for m in self._m_queries.values())),
                "failed": int(self._m_queries["failed"].get()),
                "planning": planning.total(), "plannings": int(planning.get()),
                "aggregation": aggregation.total(), "aggregations": int(aggregation.get()),
                "applied": applied, "skipped": skipped, "reduction": 100.0 * self._m_reduction.total()}

    def recommendations(self, stats: CoordinatorStats | None = None) -> list[PerformanceRecommendation]:
        """Query, cluster and per-worker advice (from these stats, or fresh ones); "performing well" when none fires."""
        view = self.cluster_view()
        stats = stats or self.get_coordinator_stats(view)
        q, opt, perf = stats.query_coordination, stats.optimization_metrics, stats.system_performance
        found = query_recommendations(
            total_queries=q.queries_coordinated, failure_rate_percent=percent(q.failed_queries, q.queries_coordinated),
            optimization_rate_percent=opt.optimizer_applied_percent, optimization_figure=DECISIONS_APPLIED,
            average_response_seconds=q.average_query_duration.total_seconds(),
            optimized_queries=opt.optimizations_applied,
            average_cost_reduction_percent=opt.average_cost_reduction_percent,
            average_coordination_seconds=q.coordination_overhead.total_seconds(), thresholds=self.thresholds)
        h = stats.cluster_health
        found += cluster_recommendations(
            load_balance_score=perf.load_balance_score, online_workers=h.total_workers - h.offline_workers,
            cluster_utilization_percent=perf.cluster_utilization_percent,
            workers_not_healthy=h.total_workers - h.healthy_workers, total_workers=h.total_workers,
            average_network_latency_seconds=stats.network_metrics.average_network_latency.total_seconds(),
            thresholds=self.thresholds)
        for wid, v in sorted(view.vitals.items()):
            if v.status != "offline":
                found += worker_recommendations(wid, v.cpu_percent, v.memory_percent, v.cache_hits, v.cache_misses,
                                                self.thresholds)
        return or_performing_well(found)


def _record_phase(phase: str, duration: timedelta | float, histogram: Histogram) -> None:
    seconds = as_seconds(duration)
    if seconds < 0:
        raise ValueError(f"{phase} time must not be negative")
    histogram.observe(seconds)


def _known(values: Iterable[float | None]) -> list[float]:
    """The values that were read (not None)."""
    return [value for value in values if value is not None]


def read_vitals(worker_id: str, monitor: WorkerSource) -> WorkerVitals:
    """The worker's vitals (one reading per scrape); one whose reading raises is logged and shown offline."""
    try:
        return scrape_vitals(monitor)
    except Exception as error:
        log.exception("worker %s: reading its vitals failed; shown offline", worker_id)
        return WorkerVitals(worker_id, "offline", [_unreadable(error)], 0.0, 0.0, None, None, None, 0, None, 0, 0, 0,
                            0, "not_sampled")


def read_stats(worker_id: str, monitor: WorkerSource) -> WorkerStats:
    """The worker's snapshot; one whose reading raises is logged and shown offline, its figures unknown."""
    try:
        return monitor.get_worker_stats()
    except Exception as error:
        log.exception("worker %s: reading its stats failed; shown offline", worker_id)
        stats = WorkerStats.empty(worker_id)
        stats.status.message = _unreadable(error)
        stats.status.issues = [stats.status.message]
        return stats


def _unreadable(error: Exception) -> str:
    return f"reading the worker failed: {type(error).__name__}: {str(error)[:200]}"


def _avg(total_seconds: float, count: int) -> timedelta:
    return timedelta(seconds=total_seconds / count if count else 0.0)
