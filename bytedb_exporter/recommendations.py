"""Performance recommendations: pure rules over plain numbers (thresholds of the original)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional


@dataclass(frozen=True)
class PerformanceRecommendation:
    """One piece of advice: what is wrong, how much it matters, what to do."""

    type: str
    priority: str  # high, medium, low
    description: str
    impact: str
    action: str

    def to_dict(self) -> Dict[str, str]:
        return asdict(self)


PERFORMING_WELL = PerformanceRecommendation(
    type="performing_well", priority="low",
    description="The system is performing well: no rule fired.",
    impact="None", action="Keep monitoring.",
)


def or_performing_well(recommendations: List[PerformanceRecommendation]) -> List[PerformanceRecommendation]:
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
    average_cache_hit_percent: Optional[float] = None,
    optimization_threshold_percent: float = 50.0,
) -> List[PerformanceRecommendation]:
    """Rules on query statistics; empty when none fires or nothing ran yet."""
    if total_queries == 0:
        return []
    found: List[PerformanceRecommendation] = []
    if failure_rate_percent > 5:
        found.append(PerformanceRecommendation(
            "high_failure_rate", "high",
            f"Query failure rate is {failure_rate_percent:.1f}% (above 5%).",
            "Failed queries waste cluster capacity and hurt users.",
            "Review error logs and query complexity; check the failed queries list."))
    if optimization_rate_percent < optimization_threshold_percent:
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
