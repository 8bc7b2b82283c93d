"""Performance recommendations: pure rules over plain numbers (thresholds of the original)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from bytedb_exporter.metrics.stats import percent


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


def or_performing_well(recommendations: list[PerformanceRecommendation]) -> list[PerformanceRecommendation]:
    """The list itself, or the single "performing well" note when it is empty."""
    return recommendations or [PERFORMING_WELL]


def query_recommendations(
    *,
    total_queries: int,
    failure_rate_percent: float,
    optimization_rate_percent: float,
    average_response_seconds: float,
    optimized_queries: int,
    average_cost_reduction_percent: float,
    average_coordination_seconds: float = 0.0,
    average_cache_hit_percent: float | None = None,
    optimization_threshold_percent: float | None = 50.0,
) -> list[PerformanceRecommendation]:
    """Rules on query statistics; empty when none fires or nothing ran yet (threshold None: no optimization rule)."""
    if total_queries == 0:
        return []
    found: list[PerformanceRecommendation] = []
    if failure_rate_percent > 5:
        found.append(PerformanceRecommendation(
            "high_failure_rate", "high",
            f"Query failure rate is {failure_rate_percent:.1f}% (above 5%).",
            "Failed queries waste cluster capacity and hurt users.",
            "Review error logs and query complexity; check the failed queries list."))
    if optimization_threshold_percent is not None and optimization_rate_percent < optimization_threshold_percent:
        found.append(PerformanceRecommendation(
            "low_optimization_rate", "medium",
            f"Only {optimization_rate_percent:.1f}% of queries were optimized "
            f"(below {optimization_threshold_percent:.0f}%).",
            "Unoptimized plans move more data and run longer.",
            "Review query patterns and data partitioning."))
    if average_response_seconds > 5:
        found.append(PerformanceRecommendation(
            "high_response_time", "high",
            f"Average response time is {average_response_seconds:.2f} s (above 5 s).",
            "Slow queries queue up and reduce throughput.",
            "Consider adding more workers or optimizing the slowest queries."))
    if optimized_queries > 0 and average_cost_reduction_percent < 50:
        found.append(PerformanceRecommendation(
            "low_cost_reduction", "low",
            f"Optimized queries cut cost by {average_cost_reduction_percent:.1f}% on average (below 50%).",
            "The optimizer finds little to improve.",
            "Review optimizer rules, statistics and indexes."))
    if average_coordination_seconds > 0.1:
        found.append(PerformanceRecommendation(
            "high_coordination_overhead", "medium",
            f"Coordination overhead averages {average_coordination_seconds * 1000:.0f} ms (above 100 ms).",
            "Time spent coordinating is not spent executing.",
            "Optimize query planning; use fewer, larger fragments."))
    if average_cache_hit_percent is not None and average_cache_hit_percent < 50:
        found.append(PerformanceRecommendation(
            "low_cache_hit_rate", "medium",
            f"Query cache hit rate averages {average_cache_hit_percent:.1f}% (below 50%).",
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
    average_network_latency_ms: float,
) -> list[PerformanceRecommendation]:
    """Rules on cluster figures: load balance, utilization, unhealthy workers, network latency."""
    found: list[PerformanceRecommendation] = []
    if online_workers >= 2 and load_balance_score < 70:
        found.append(PerformanceRecommendation(
            "poor_load_balance", "medium",
            f"Load balance score is {load_balance_score:.0f} (below 70).",
            "Busy workers slow every query that waits for their fragments.",
            "Review data distribution; redistribute queries or add workers."))
    if cluster_utilization_percent > 85:
        found.append(PerformanceRecommendation(
            "high_cluster_utilization", "high",
            f"Cluster utilization is {cluster_utilization_percent:.1f}% (above 85%).",
            "Little headroom is left for peaks; queries will queue.",
            "Scale up worker resources or add workers."))
    if workers_not_healthy > 0:
        found.append(PerformanceRecommendation(
            "unhealthy_workers", "high",
            f"{workers_not_healthy} of {total_workers} workers are not healthy.",
            "The cluster runs with reduced capacity and redundancy.",
            "Check the workers' status issues, logs and hosts; restart or replace them."))
    if average_network_latency_ms > 50:
        found.append(PerformanceRecommendation(
            "high_network_latency", "medium",
            f"Average network latency is {average_network_latency_ms:.0f} ms (above 50 ms).",
            "Fragments wait on the network instead of computing.",
            "Optimize network configuration; place workers closer to their data."))
    return found


def worker_recommendations(worker_id: str, cpu_percent: float, memory_percent: float,
                           cache_hits: int, cache_misses: int) -> list[PerformanceRecommendation]:
    """The tuning guide for one worker: CPU > 85 %, memory > 80 %, cache hit rate < 50 %."""
    found: list[PerformanceRecommendation] = []
    if cpu_percent > 85:
        found.append(PerformanceRecommendation(
            "high_cpu_usage", "high", f"Worker {worker_id} CPU usage is {cpu_percent:.1f}% (above 85%).",
            "A saturated worker slows the fragments placed on it.", "Scale up or add workers."))
    if memory_percent > 80:
        found.append(PerformanceRecommendation(
            "high_memory_usage", "medium",
            f"Worker {worker_id} memory usage is {memory_percent:.1f}% (above 80%).",
            "The worker risks swapping or being killed.", "Increase worker memory limits."))
    lookups = cache_hits + cache_misses
    hit_rate = percent(cache_hits, lookups)
    if lookups and hit_rate < 50:
        found.append(PerformanceRecommendation(
            "low_cache_hit_rate", "medium",
            f"Worker {worker_id} cache hit rate is {hit_rate:.1f}% (below 50%).",
            "Cache misses repeat work that could be reused.", "Tune cache size or TTL."))
    return found
