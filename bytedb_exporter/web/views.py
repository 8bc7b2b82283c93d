"""JSON views of the monitors: the shapes of the original's endpoints (serialization only)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from ..coordinator_models import ClusterAlert, CoordinatorStats
from ..coordinator_monitor import CoordinatorMonitor
from ..history import ClusterHistory
from ..jsonutil import iso, to_jsonable
from ..query_models import QueryStats
from ..query_monitor import QueryMonitor
from ..recommendations import PERFORMING_WELL, PerformanceRecommendation


class MonitorViews:
    """Builds every JSON document the app serves from one coordinator and one query monitor."""

    def __init__(self, coordinator: CoordinatorMonitor, queries: QueryMonitor, history: ClusterHistory):
        self.coordinator = coordinator
        self.queries = queries
        self.history = history

    def cluster(self) -> Dict[str, Any]:
        return self.coordinator.get_cluster_health().to_dict()

    def workers(self) -> Dict[str, Dict[str, Any]]:
        return {wid: monitor.get_worker_stats().to_dict() for wid, monitor in sorted(self.coordinator.workers().items())}

    def worker(self, worker_id: str) -> Optional[Dict[str, Any]]:
        monitor = self.coordinator.workers().get(worker_id)
        return monitor.get_worker_stats().to_dict() if monitor else None

    def alerts(self, alerts: Optional[List[ClusterAlert]] = None) -> List[Dict[str, Any]]:
        """Active alerts (these, or the coordinator's now); a worker's alert carries its worker_id."""
        found = []
        for alert in self.coordinator.active_alerts() if alerts is None else alerts:
            data = alert.to_dict()
            if alert.component != "cluster":
                data["worker_id"] = alert.component
            found.append(data)
        return found

    def overview(self, stats: Optional[CoordinatorStats] = None,
                 query_stats: Optional[QueryStats] = None) -> Dict[str, Any]:
        """The original's overview card (from these snapshots, or fresh ones)."""
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
            "optimization_rate": query_stats.optimization_rate_percent,
            "average_response_time": query_stats.average_response_time.total_seconds() * 1000,
            "total_qps": query_stats.throughput_qps,
            "uptime": health.uptime.total_seconds(),
            "last_updated": iso(datetime.now(timezone.utc)),
        }

    def queries_view(self, limit: int) -> Dict[str, Any]:
        return {
            "stats": self.queries.get_query_stats().to_dict(),
            "report": self.queries.query_performance_report().to_dict(),
            "recent": [q.to_dict() for q in self.queries.get_recent_queries(limit)],
            "top": [t.to_dict() for t in self.queries.get_top_queries(limit)],
            "failed": [q.to_dict() for q in self.queries.get_failed_queries(limit)],
        }

    def recommendations(self, stats: Optional[CoordinatorStats] = None) -> List[Dict[str, Any]]:
        """Coordinator advice (from these stats, or fresh ones) and query advice, each type once;
        "performing well" only when nothing else fires."""
        found: Dict[str, PerformanceRecommendation] = {}
        report = self.queries.query_performance_report().recommendations
        for item in list(self.coordinator.recommendations(stats)) + list(report):
            if item.type != PERFORMING_WELL.type:
                found.setdefault(item.type, item)
        return [item.to_dict() for item in (list(found.values()) or [PERFORMING_WELL])]

    def performance(self) -> Dict[str, Any]:
        stats = self.coordinator.get_coordinator_stats()
        workers = {}
        for wid, monitor in sorted(self.coordinator.workers().items()):
            worker = monitor.get_worker_stats()
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

    def live(self) -> Dict[str, Any]:
        """The stream's snapshot; also records the chart point for /api/history."""
        stats = self.coordinator.get_coordinator_stats()
        query_stats = self.queries.get_query_stats()
        workers = self.workers()
        now = iso(datetime.now(timezone.utc))
        point = self.history.record(
            now, query_stats.throughput_qps, self.queries.duration_buckets(), query_stats.total_queries,
            query_stats.failed_queries,
            {wid: w["resource_utilization"]["cpu_usage_percent"] for wid, w in workers.items()})
        system = stats.system_performance
        return {
            "timestamp": now,
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
        }
