"""Plain snapshots of query monitoring: one finished query, totals, grouped SQL."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from bytedb_exporter.metrics.jsonutil import iso, to_jsonable


class Fragment(NamedTuple):
    """One fragment of a distributed query: where it ran, how long it took and what it moved."""

    worker_id: str
    seconds: float
    rows: int = 0
    bytes: int = 0
    queued_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"worker_id": self.worker_id, "seconds": self.seconds, "rows": self.rows, "bytes": self.bytes,
                "queued_seconds": self.queued_seconds}


@dataclass(slots=True)
class QueryMetrics:
    """Everything measured about one finished query.

    Raw seconds are stored; the timedelta/datetime views are computed on access, which keeps
    the hot path of `QueryExecution.finish()` cheap.
    """

    query_id: str
    sql: str
    statement: str  # `sql` with its literals folded (normalize_sql): the statement table's key
    query_type: str
    start_timestamp: float
    total_seconds: float
    phase_seconds: dict[str, float]
    workers_used: int | None  # None: the engine did not report it
    fragments_executed: int | None
    rows_processed: int | None
    bytes_transferred: int | None
    cache_hit_rate: float | None
    optimization_applied: bool
    original_cost: float
    optimized_cost: float
    cost_reduction: float
    error_message: str
    network_latency_seconds: float
    fragments: tuple[Fragment, ...] = ()
    plan: str = ""

    @property
    def error_occurred(self) -> bool:
        return bool(self.error_message)

    @property
    def start_time(self) -> datetime:
        return datetime.fromtimestamp(self.start_timestamp, timezone.utc)

    @property
    def end_time(self) -> datetime:
        return datetime.fromtimestamp(self.start_timestamp + self.total_seconds, timezone.utc)

    @property
    def total_duration(self) -> timedelta:
        return timedelta(seconds=self.total_seconds)

    @property
    def planning_duration(self) -> timedelta:
        return timedelta(seconds=self.phase_seconds.get("planning", 0.0))

    @property
    def execution_duration(self) -> timedelta:
        return timedelta(seconds=self.phase_seconds.get("execution", 0.0))

    @property
    def aggregation_duration(self) -> timedelta:
        return timedelta(seconds=self.phase_seconds.get("aggregation", 0.0))

    @property
    def coordination_overhead(self) -> timedelta:
        return timedelta(seconds=self.phase_seconds.get("coordination", 0.0))

    @property
    def network_latency(self) -> timedelta:
        return timedelta(seconds=self.network_latency_seconds)

    def to_dict(self) -> dict[str, Any]:
        """JSON form with the original's keys: durations as `_ms`, times ISO; error_message only when set."""
        phases = self.phase_seconds
        data: dict[str, Any] = {
            "query_id": self.query_id,
            "sql": self.sql,
            "query_type": self.query_type,
            "start_time": iso(self.start_time),
            "end_time": iso(self.end_time),
            "total_duration_ms": self.total_seconds * 1000,
            "planning_duration_ms": phases.get("planning", 0.0) * 1000,
            "execution_duration_ms": phases.get("execution", 0.0) * 1000,
            "aggregation_duration_ms": phases.get("aggregation", 0.0) * 1000,
            "workers_used": self.workers_used,
            "fragments_executed": self.fragments_executed,
            "rows_processed": self.rows_processed,
            "bytes_transferred": self.bytes_transferred,
            "cache_hit_rate": self.cache_hit_rate,
            "optimization_applied": self.optimization_applied,
            "original_cost": self.original_cost,
            "optimized_cost": self.optimized_cost,
            "cost_reduction": self.cost_reduction,
            "error_occurred": self.error_occurred,
            "network_latency_ms": self.network_latency_seconds * 1000,
            "coordination_overhead_ms": phases.get("coordination", 0.0) * 1000,
        }
        if self.error_message:
            data["error_message"] = self.error_message
        return data


@dataclass
class QueryStats:
    """Totals and rates over every query the monitor has seen (end-to-end queries, not worker fragments)."""

    total_queries: int
    successful_queries: int
    failed_queries: int
    optimized_queries: int
    active_queries: int
    query_response_time: timedelta
    throughput_qps: float
    optimized_queries_percent: float
    average_cost_reduction_percent: float
    error_rate_percent: float
    window_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@dataclass
class TopQueryInfo:
    """Executions of one normalized SQL text."""

    sql: str
    execution_count: int = 0
    total_seconds: float = 0.0
    total_rows_processed: int = 0
    failed_count: int = 0
    last_timestamp: float = 0.0

    @property
    def last_execution(self) -> datetime | None:
        return datetime.fromtimestamp(self.last_timestamp, timezone.utc) if self.execution_count else None

    @property
    def total_duration(self) -> timedelta:
        return timedelta(seconds=self.total_seconds)

    @property
    def average_duration(self) -> timedelta:
        return timedelta(seconds=self.total_seconds / self.execution_count if self.execution_count else 0.0)

    @property
    def average_rows_processed(self) -> float:
        return self.total_rows_processed / self.execution_count if self.execution_count else 0.0

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({
            "sql": self.sql,
            "execution_count": self.execution_count,
            "average_duration": self.average_duration,
            "total_duration": self.total_duration,
            "average_rows_processed": self.average_rows_processed,
            "failed_count": self.failed_count,
            "last_execution": self.last_execution,
        })
