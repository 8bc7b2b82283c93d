"""Plain snapshots of query monitoring: one finished query, totals, grouped SQL."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Dict, Optional

from .jsonutil import to_jsonable


@dataclass
class QueryMetrics:
    """Everything measured about one finished query."""

    query_id: str
    sql: str
    query_type: str
    start_time: datetime
    end_time: datetime
    total_duration: timedelta
    planning_duration: timedelta
    execution_duration: timedelta
    aggregation_duration: timedelta
    workers_used: int
    fragments_executed: int
    rows_processed: int
    bytes_transferred: int
    cache_hit_rate: Optional[float]
    optimization_applied: bool
    original_cost: float
    optimized_cost: float
    cost_reduction: float
    error_occurred: bool
    error_message: str
    network_latency: timedelta
    coordination_overhead: timedelta

    def to_dict(self) -> Dict[str, Any]:
        """JSON form: durations as `_ms`, times ISO; error_message only when set."""
        data = to_jsonable(self)
        if not self.error_message:
            data.pop("error_message")
        return data


@dataclass
class QueryStats:
    """Totals and rates over every query the monitor has seen."""

    total_queries: int
    successful_queries: int
    failed_queries: int
    optimized_queries: int
    active_queries: int
    average_response_time: timedelta
    throughput_qps: float
    optimization_rate_percent: float
    average_cost_reduction_percent: float
    error_rate_percent: float
    window_seconds: float

    def to_dict(self) -> Dict[str, Any]:
        return to_jsonable(self)


@dataclass
class TopQueryInfo:
    """Executions of one normalized SQL text."""

    sql: str
    execution_count: int = 0
    total_duration: timedelta = field(default_factory=timedelta)
    total_rows_processed: int = 0
    failed_count: int = 0
    last_execution: Optional[datetime] = None

    @property
    def average_duration(self) -> timedelta:
        return self.total_duration / self.execution_count if self.execution_count else timedelta()

    @property
    def average_rows_processed(self) -> float:
        return self.total_rows_processed / self.execution_count if self.execution_count else 0.0

    def to_dict(self) -> Dict[str, Any]:
        return to_jsonable({
            "sql": self.sql,
            "execution_count": self.execution_count,
            "average_duration": self.average_duration,
            "total_duration": self.total_duration,
            "average_rows_processed": self.average_rows_processed,
            "failed_count": self.failed_count,
            "last_execution": self.last_execution,
        })
