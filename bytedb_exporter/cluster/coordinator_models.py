"""Plain snapshots of the coordinator: cluster health, performance, coordination, alerts."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bytedb_exporter.metrics.jsonutil import to_jsonable


@dataclass
class ClusterHealth:
    """Cluster state from the registered workers' states."""

    status: str
    last_check: datetime
    total_workers: int
    healthy_workers: int
    degraded_workers: int
    unhealthy_workers: int
    offline_workers: int
    issues: list[str]
    uptime: timedelta
    worker_statuses: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@dataclass
class SystemPerformanceStats:
    """Cluster-wide worker figures: fragment rate and response time summed/averaged over the workers (not
    end-to-end queries, which QueryStats counts); utilization is the mean CPU % of online workers."""

    fragment_qps: float
    fragment_response_time: timedelta
    total_throughput_mbps: float
    cluster_utilization_percent: float
    load_balance_score: float


@dataclass
class QueryCoordinationStats:
    """Coordinator-side query figures; durations are averages per coordinated query."""

    queries_coordinated: int
    active_queries: int
    failed_queries: int
    average_fragments_per_query: float
    average_workers_per_query: float
    average_query_duration: timedelta
    coordination_overhead: timedelta
    planning_time: timedelta
    aggregation_time: timedelta
    parallelism_efficiency_percent: float | None


@dataclass
class ResourceDistribution:
    """How CPU, memory and load spread over the workers."""

    total_cpu_usage_percent: float
    total_memory_usage_mb: float
    average_worker_load: float
    load_variance: float
    worker_loads: dict[str, float]


@dataclass
class OptimizationMetrics:
    """Optimizer decisions and cache effect; None where nothing was measured yet (docs/metrics.md defines each)."""

    optimizer_applied_percent: float | None
    average_cost_reduction_percent: float
    data_transfer_reduction_percent: float | None
    cache_effectiveness_percent: float | None
    optimizations_applied: int
    optimizations_skipped: int


@dataclass
class NetworkMetrics:
    """Network totals over the workers' counters."""

    total_data_transferred_mb: float
    average_network_latency: timedelta
    bandwidth_utilization_percent: float | None
    fragmentation_ratio: float


@dataclass(frozen=True)
class ClusterAlert:
    """An active alert with an id that stays the same while the condition lasts."""

    id: str
    type: str
    severity: str
    message: str
    component: str
    timestamp: datetime
    acknowledged: bool

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@dataclass
class CoordinatorStats:
    """Everything the coordinator knows, computed from the registered workers at call time."""

    cluster_health: ClusterHealth
    system_performance: SystemPerformanceStats
    query_coordination: QueryCoordinationStats
    resource_distribution: ResourceDistribution
    optimization_metrics: OptimizationMetrics
    network_metrics: NetworkMetrics
    active_alerts: list[ClusterAlert] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)
