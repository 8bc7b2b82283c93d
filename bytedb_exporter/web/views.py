"""JSON views of the monitors: the shapes of the original's endpoints (serialization only)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from bytedb_exporter.cluster.coordinator import CoordinatorMonitor, read_stats, read_vitals
from bytedb_exporter.cluster.coordinator_models import ClusterAlert, CoordinatorStats
from bytedb_exporter.metrics.jsonutil import iso, to_jsonable
from bytedb_exporter.query.fragments import fragment_skew
from bytedb_exporter.query.models import QueryMetrics, QueryStats
from bytedb_exporter.query.monitor import QueryMonitor
from bytedb_exporter.rules.insights import skew_insights, statement_insights
from bytedb_exporter.rules.recommendations import PERFORMING_WELL, PerformanceRecommendation
from bytedb_exporter.web.history import ClusterHistory


class MonitorViews:
    """Builds every JSON document the app serves from one coordinator and one query monitor."""

    def __init__(self, coordinator: CoordinatorMonitor, queries: QueryMonitor, history: ClusterHistory):
        self.coordinator = coordinator
        self.queries = queries
        self.history = history

    def cluster(self) -> dict[str, Any]:
        return self.coordinator.get_cluster_health().to_dict()

    def workers(self) -> dict[str, dict[str, Any]]:
        return {wid: read_stats(wid, monitor).to_dict()
                for wid, monitor in sorted(self.coordinator.workers().items())}

    def worker(self, worker_id: str) -> dict[str, Any] | None:
        monitor = self.coordinator.workers().get(worker_id)
        return read_stats(worker_id, monitor).to_dict() if monitor else None

    def alerts(self, alerts: list[ClusterAlert] | None = None) -> list[dict[str, Any]]:
        """Active alerts (these, or the coordinator's now); a worker's alert carries its worker_id."""
        found = []
        for alert in self.coordinator.active_alerts() if alerts is None else alerts:
            data = alert.to_dict()
            if alert.component != "cluster":
                data["worker_id"] = alert.component
            found.append(data)
        return found

    def query(self, query_id: str) -> dict[str, Any] | None:
        """One finished query still in the recent history: its facts, phases, plan and fragments with skew."""
        found = self.queries.get_query(query_id)
        return None if found is None else query_detail(found, self.queries.thresholds.fragment_skew_ratio)

    def insights(self, statements: int = 100, recent: int = 200) -> list[dict[str, Any]]:
        """Slow and error-prone statements (the `statements` largest by total time) and skewed queries
        (the `recent` newest, each id once: its newest run, as /api/queries/<id> shows)."""
        thresholds = self.queries.thresholds
        rows = [row.to_dict() for row in self.queries.get_statement_stats(statements)]
        newest: dict[str, float | None] = {}
        for q in self.queries.get_recent_queries(recent):  # newest first: a reused query id counts once
            newest.setdefault(q.query_id, fragment_skew(q.fragments))
        skews = [(query_id, skew) for query_id, skew in newest.items() if skew is not None]
        found = statement_insights(rows, thresholds) + skew_insights(skews, thresholds)
        return [insight.to_dict() for insight in found]

    def overview(self, stats: CoordinatorStats | None = None,
                 query_stats: QueryStats | None = None) -> dict[str, Any]:
        """The original's overview card (from these snapshots, or fresh ones); its query figures are end-to-end
        queries (docs/api.md names the keys they replace)."""
        stats = stats or self.coordinator.get_coordinator_stats()
        query_stats = query_stats or self.queries.get_query_stats()
        health = stats.cluster_health
        return {
            "cluster_status": health.status,
            "total_workers": health.total_workers,
            "healthy_workers": health.healthy_workers,
            "total_queries": query_stats.total_queries,
            "successful_queries": query_stats.successful_queries,
            "failed_queries": query_stats.failed_queries,
            "optimized_queries_percent": query_stats.optimized_queries_percent,
            "query_response_time_ms": query_stats.query_response_time.total_seconds() * 1000,
            "query_qps": query_stats.throughput_qps,
            "uptime": health.uptime.total_seconds(),
            "last_updated": iso(datetime.now(timezone.utc)),
        }

    def queries_view(self, limit: int) -> dict[str, Any]:
        return {
            "stats": self.queries.get_query_stats().to_dict(),
            "report": self.queries.query_performance_report().to_dict(),
            "recent": [q.to_dict() for q in self.queries.get_recent_queries(limit)],
            "top": [t.to_dict() for t in self.queries.get_top_queries(limit)],
            "failed": [q.to_dict() for q in self.queries.get_failed_queries(limit)],
        }

    def recommendations(self, stats: CoordinatorStats | None = None) -> list[dict[str, Any]]:
        """Coordinator advice (from these stats, or fresh ones) and query advice, each type once;
        "performing well" only when nothing else fires."""
        found: dict[str, PerformanceRecommendation] = {}
        report = self.queries.query_performance_report().recommendations
        for item in list(self.coordinator.recommendations(stats)) + list(report):
            if item.type != PERFORMING_WELL.type:
                found.setdefault(item.type, item)
        return [item.to_dict() for item in (list(found.values()) or [PERFORMING_WELL])]

    def performance(self) -> dict[str, Any]:
        stats = self.coordinator.get_coordinator_stats()
        workers = {}
        for wid, monitor in sorted(self.coordinator.workers().items()):
            worker = read_stats(wid, monitor)
            workers[wid] = {
                "qps": worker.performance.queries_per_second,
                "response_time": worker.performance.average_response_time.total_seconds() * 1000,
                "cpu_usage": worker.resource_utilization.cpu_usage_percent,
                "memory_usage": worker.resource_utilization.memory_usage_percent,
                "cache_hit_rate": worker.cache_stats.hit_rate_percent,
            }
        return {
            "system_performance": to_jsonable(stats.system_performance),
            "query_performance": self.queries.query_performance_report().to_dict(),
            "worker_performance": workers,
            "optimization_metrics": to_jsonable(stats.optimization_metrics),
            "network_metrics": to_jsonable(stats.network_metrics),
            "recommendations": self.recommendations(stats),
        }

    def record_point(self, query_stats: QueryStats | None = None) -> dict[str, Any]:
        """Record the chart point for /api/history from the query stats and each worker's CPU reading."""
        query_stats = query_stats or self.queries.get_query_stats()
        workers = sorted(self.coordinator.workers().items())
        cpu = {wid: read_vitals(wid, monitor).cpu_percent for wid, monitor in workers}
        return self.history.record(iso(datetime.now(timezone.utc)), query_stats.throughput_qps,
                                   self.queries.duration_buckets(), query_stats.total_queries,
                                   query_stats.failed_queries, cpu)

    def live(self) -> dict[str, Any]:
        """The stream's snapshot; also records the chart point for /api/history."""
        stats = self.coordinator.get_coordinator_stats()
        query_stats = self.queries.get_query_stats()
        workers = self.workers()
        point = self.record_point(query_stats)
        system = stats.system_performance
        return {
            "timestamp": point["timestamp"],
            "point": point,
            "overview": self.overview(stats, query_stats),
            "cluster": stats.cluster_health.to_dict(),
            "system_metrics": {
                "cpu_usage": system.cluster_utilization_percent,
                "memory_usage": stats.resource_distribution.total_memory_usage_mb,
                "query_rate": query_stats.throughput_qps,
                "throughput": system.total_throughput_mbps,
            },
            "system_performance": to_jsonable(system),
            "latency": {key.replace("latency_", ""): point[key]
                        for key in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms")},
            "error_rate_percent": point["error_rate_percent"],
            "workers": workers,
            "queries": {
                "recent": [q.to_dict() for q in self.queries.get_recent_queries(20)],
                "slowest": [t.to_dict() for t in self.queries.get_top_queries(10)],
                "failed": [q.to_dict() for q in self.queries.get_failed_queries(20)],
            },
            "alerts": self.alerts(stats.active_alerts),
            "recommendations": self.recommendations(stats),
            "insights": self.insights(),
        }


def query_detail(metrics: QueryMetrics, skew_threshold: float) -> dict[str, Any]:
    """The /api/queries/<id> document: the query's row, `phases` (seconds), `plan`, `fragments`, `skew`."""
    skew = fragment_skew(metrics.fragments)
    return {
        **metrics.to_dict(),
        "phases": dict(metrics.phase_seconds),
        "plan": metrics.plan or None,
        "fragments": [fragment.to_dict() for fragment in metrics.fragments],
        "skew": {"ratio": skew, "threshold": skew_threshold,
                 "skewed": skew is not None and skew > skew_threshold},
    }
