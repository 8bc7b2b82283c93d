"""Performance recommendations: pure rules over plain numbers and the configured Thresholds."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from bytedb_exporter.metrics.stats import percent
from bytedb_exporter.rules.health import DEFAULT_THRESHOLDS, Thresholds


@dataclass(frozen=True)
class PerformanceRecommendation:
    """One piece of advice: what is wrong, how much it matters, what to do."""

    type: str
    priority: str  # high, medium, low
    description: str
    impact: str
    action: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


PERFORMING_WELL = PerformanceRecommendation(
    type="performing_well", priority="low",
    description="The system is performing well: no rule fired.",
    impact="None", action="Keep monitoring.",
)
QUERIES_OPTIMIZED = "of finished queries had their plan optimized"
DECISIONS_APPLIED = "of the optimizer's decisions were applied"


def or_performing_well(recommendations: list[PerformanceRecommendation]) -> list[PerformanceRecommendation]:
    """The list itself, or the single "performing well" note when it is empty."""
    return recommendations or [PERFORMING_WELL]


def _g(value: float) -> str:
    """A configured limit as written (85, 72.5, 0.05), without trailing zeros."""
    return f"{value:g}"


def query_recommendations(
    *,
    total_queries: int,
    failure_rate_percent: float,
    optimization_rate_percent: float | None,
    average_response_seconds: float,
    optimized_queries: int,
    average_cost_reduction_percent: float,
    average_coordination_seconds: float = 0.0,
    average_cache_hit_percent: float | None = None,
    optimization_figure: str = QUERIES_OPTIMIZED,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> list[PerformanceRecommendation]:
    """Rules on query statistics; empty when none fires or nothing ran yet (None: that figure was not measured)."""
    if total_queries == 0:
        return []
    t = thresholds
    found: list[PerformanceRecommendation] = []
    failure_limit = 100.0 - t.alert_success_percent
    if failure_rate_percent > failure_limit:
        found.append(PerformanceRecommendation(
            "high_failure_rate", "high",
            f"Query failure rate is {failure_rate_percent:.1f}% (above {_g(failure_limit)}%).",
            "Failed queries waste cluster capacity and hurt users.",
            "Review error logs and query complexity; check the failed queries list."))
    if optimization_rate_percent is not None and optimization_rate_percent < t.low_optimization_percent:
        found.append(PerformanceRecommendation(
            "low_optimization_rate", "medium",
            f"Only {optimization_rate_percent:.1f}% {optimization_figure} (below {_g(t.low_optimization_percent)}%).",
            "Unoptimized plans move more data and run longer.",
            "Review query patterns and data partitioning."))
    if average_response_seconds > t.high_response_seconds:
        found.append(PerformanceRecommendation(
            "high_response_time", "high",
            f"Average response time is {average_response_seconds:.2f} s (above {_g(t.high_response_seconds)} s).",
            "Slow queries queue up and reduce throughput.",
            "Consider adding more workers or optimizing the slowest queries."))
    if optimized_queries > 0 and average_cost_reduction_percent < t.low_cost_reduction_percent:
        found.append(PerformanceRecommendation(
            "low_cost_reduction", "low",
            f"Optimized queries cut cost by {average_cost_reduction_percent:.1f}% on average "
            f"(below {_g(t.low_cost_reduction_percent)}%).",
            "The optimizer finds little to improve.",
            "Review optimizer rules, statistics and indexes."))
    if average_coordination_seconds > t.high_coordination_seconds:
        found.append(PerformanceRecommendation(
            "high_coordination_overhead", "medium",
            f"Coordination overhead averages {average_coordination_seconds * 1000:.0f} ms "
            f"(above {_g(t.high_coordination_seconds * 1000)} ms).",
            "Time spent coordinating is not spent executing.",
            "Optimize query planning; use fewer, larger fragments."))
    if average_cache_hit_percent is not None and average_cache_hit_percent < t.alert_cache_hit_percent:
        found.append(PerformanceRecommendation(
            "low_cache_hit_rate", "medium",
            f"Query cache hit rate averages {average_cache_hit_percent:.1f}% "
            f"(below {_g(t.alert_cache_hit_percent)}%).",
            "Cache misses repeat work that could be reused.",
            "Tune cache size or TTL."))
    return found


def cluster_recommendations(
    *,
    load_balance_score: float,
    online_workers: int,
    cluster_utilization_percent: float,
    workers_not_healthy: int,
    total_workers: int,
    average_network_latency_seconds: float,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> list[PerformanceRecommendation]:
    """Rules on cluster figures: load balance (>= 2 online workers), utilization, unhealthy workers, latency."""
    t = thresholds
    found: list[PerformanceRecommendation] = []
    if online_workers >= 2 and load_balance_score < t.poor_load_balance_score:
        found.append(PerformanceRecommendation(
            "poor_load_balance", "medium",
            f"Load balance score is {load_balance_score:.0f} (below {_g(t.poor_load_balance_score)}).",
            "Busy workers slow every query that waits for their fragments.",
            "Review data distribution; redistribute queries or add workers."))
    if cluster_utilization_percent > t.high_cluster_utilization_percent:
        found.append(PerformanceRecommendation(
            "high_cluster_utilization", "high",
            f"Cluster utilization is {cluster_utilization_percent:.1f}% "
            f"(above {_g(t.high_cluster_utilization_percent)}%).",
            "Little headroom is left for peaks; queries will queue.",
            "Scale up worker resources or add workers."))
    if workers_not_healthy > 0:
        found.append(PerformanceRecommendation(
            "unhealthy_workers", "high",
            f"{workers_not_healthy} of {total_workers} workers are not healthy.",
            "The cluster runs with reduced capacity and redundancy.",
            "Check the workers' status issues, logs and hosts; restart or replace them."))
    if average_network_latency_seconds > t.high_network_latency_seconds:
        found.append(PerformanceRecommendation(
            "high_network_latency", "medium",
            f"Average network latency is {average_network_latency_seconds * 1000:.0f} ms "
            f"(above {_g(t.high_network_latency_seconds * 1000)} ms).",
            "Fragments wait on the network instead of computing.",
            "Optimize network configuration; place workers closer to their data."))
    return found


def worker_recommendations(worker_id: str, cpu_percent: float | None, memory_percent: float | None,
                           cache_hits: int, cache_misses: int, thresholds: Thresholds = DEFAULT_THRESHOLDS
                           ) -> list[PerformanceRecommendation]:
    """The tuning guide for one worker, at the limits of its alerts; a reading that is None fires nothing."""
    t = thresholds
    found: list[PerformanceRecommendation] = []
    if cpu_percent is not None and cpu_percent > t.alert_cpu_percent:
        found.append(PerformanceRecommendation(
            "high_cpu_usage", "high",
            f"Worker {worker_id} CPU usage is {cpu_percent:.1f}% (above {_g(t.alert_cpu_percent)}%).",
            "A saturated worker slows the fragments placed on it.", "Scale up or add workers."))
    if memory_percent is not None and memory_percent > t.alert_memory_percent:
        found.append(PerformanceRecommendation(
            "high_memory_usage", "medium",
            f"Worker {worker_id} memory usage is {memory_percent:.1f}% (above {_g(t.alert_memory_percent)}%).",
            "The worker risks swapping or being killed.", "Increase worker memory limits."))
    lookups = cache_hits + cache_misses
    hit_rate = percent(cache_hits, lookups)
    if lookups > t.alert_cache_min_lookups and hit_rate < t.alert_cache_hit_percent:
        found.append(PerformanceRecommendation(
            "low_cache_hit_rate", "medium",
            f"Worker {worker_id} cache hit rate is {hit_rate:.1f}% over {lookups} lookups "
            f"(below {_g(t.alert_cache_hit_percent)}%).",
            "Cache misses repeat work that could be reused.", "Tune cache size or TTL."))
    return found
