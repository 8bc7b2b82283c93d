"""The query performance report: phase timing, distributions, optimization impact, advice."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from bytedb_exporter.metrics.jsonutil import to_jsonable
from bytedb_exporter.metrics.stats import percent
from bytedb_exporter.query.models import QueryStats
from bytedb_exporter.rules.recommendations import PerformanceRecommendation, or_performing_well, query_recommendations

if TYPE_CHECKING:
    from bytedb_exporter.query.monitor import QueryMonitor


@dataclass
class QueryPerformanceReport:
    """Everything the query monitor knows, summarized for people."""

    summary: QueryStats
    timing_breakdown: dict[str, dict[str, Any]]
    distribution_stats: dict[str, dict[str, Any]]
    optimization_impact: dict[str, Any]
    recommendations: list[PerformanceRecommendation]
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


def timing_breakdown(phase_stats: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per phase: count, total/average/p50/p95/p99 in ms and share of all phase time."""
    all_phases = sum(stats["sum"] for stats in phase_stats.values())
    breakdown = {}
    for phase, stats in phase_stats.items():
        breakdown[f"{phase}_time"] = {
            "count": stats["count"],
            "total_ms": stats["sum"] * 1000,
            "average_ms": stats["mean"] * 1000,
            **{f"{q}_ms": None if stats[q] is None else stats[q] * 1000 for q in ("p50", "p95", "p99")},
            "share_percent": percent(stats["sum"], all_phases),
        }
    return breakdown


def build_report(monitor: QueryMonitor) -> QueryPerformanceReport:
    """Assemble the report from the monitor's current statistics (constant cost); advice at its thresholds."""
    summary = monitor.get_query_stats()
    phases = monitor.phase_stats()
    cache = monitor.cache_hit_stats()
    coordination = phases["coordination"]
    reduction = monitor.cost_reduction_stats()
    advice = query_recommendations(
        total_queries=summary.total_queries,
        failure_rate_percent=summary.error_rate_percent,
        optimization_rate_percent=summary.optimized_queries_percent,
        average_response_seconds=summary.query_response_time.total_seconds(),
        optimized_queries=summary.optimized_queries,
        average_cost_reduction_percent=summary.average_cost_reduction_percent,
        average_coordination_seconds=coordination["mean"],
        average_cache_hit_percent=cache["mean"] * 100 if cache["count"] else None,
        thresholds=monitor.thresholds,
    )
    return QueryPerformanceReport(
        summary=summary,
        timing_breakdown=timing_breakdown(phases),
        distribution_stats=monitor.distribution_stats(),
        optimization_impact={
            "optimized_queries_percent": summary.optimized_queries_percent,
            "cost_reduction_distribution": reduction,
            "average_cost_reduction": summary.average_cost_reduction_percent,
        },
        recommendations=or_performing_well(advice) if summary.total_queries else [],
    )
