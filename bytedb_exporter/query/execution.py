"""One monitored query: phase timings and facts set while it runs, finished once."""
from __future__ import annotations

import math
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bytedb_exporter.metrics.jsonutil import as_seconds
from bytedb_exporter.metrics.text import encodable
from bytedb_exporter.query.models import Fragment, QueryMetrics
from bytedb_exporter.query.sqltext import classify_sql, normalize_sql

if TYPE_CHECKING:
    from bytedb_exporter.query.monitor import QueryMonitor

PHASES = ("planning", "execution", "aggregation", "coordination")
MAX_FRAGMENTS = 1000  # fragments kept per query (record_fragment, and fragment_timings of one ingest event)
_STARTED = {phase: f"_{phase}_started" for phase in PHASES}  # the slot holding a running phase's start


class QueryExecution:
    """One query being monitored; its phase timings belong to it alone (safe across threads)."""

    __slots__ = (
        "_monitor", "query_id", "sql", "query_type", "start_timestamp", "_started", *_STARTED.values(),
        "phase_seconds", "workers_used", "fragments_executed", "rows_processed", "bytes_transferred",
        "cache_hit_rate", "optimization_applied", "original_cost", "optimized_cost", "error_message",
        "network_latency", "result", "fragments", "plan",
    )

    def __init__(self, monitor: QueryMonitor, query_id: str, sql: str):
        self._monitor = monitor
        self.query_id = encodable(query_id)
        self.sql = encodable(sql)
        self.query_type: str | None = None
        self.start_timestamp = time.time()
        self._started = time.perf_counter()
        self._planning_started: float | None = None
        self._execution_started: float | None = None
        self._aggregation_started: float | None = None
        self._coordination_started: float | None = None
        self.phase_seconds: dict[str, float] = {}
        # Facts the engine did not report stay None (absent in JSON, not observed in histograms).
        self.workers_used: int | None = None
        self.fragments_executed: int | None = None
        self.rows_processed: int | None = None
        self.bytes_transferred: int | None = None
        self.cache_hit_rate: float | None = None
        self.optimization_applied = False
        self.original_cost = self.optimized_cost = self.network_latency = 0.0
        self.error_message = ""
        self.result: QueryMetrics | None = None
        self.fragments: list[Fragment] | None = None
        self.plan = ""

    def set_query_type(self, query_type: str) -> None:
        """SELECT, SELECT_AGGREGATE, ...; types outside QUERY_TYPES are labelled OTHER in Prometheus."""
        self.query_type = encodable(query_type)

    def start_phase(self, name: str) -> None:
        """Start timing a phase (planning, execution, aggregation or coordination)."""
        if name not in PHASES:
            raise ValueError(f"unknown phase {name!r}; expected one of {', '.join(PHASES)}")
        setattr(self, _STARTED[name], time.perf_counter())

    def end_phase(self, name: str) -> None:
        """Stop timing a phase; a phase run several times adds up."""
        ended = time.perf_counter()
        if name not in PHASES:
            raise ValueError(f"unknown phase {name!r}; expected one of {', '.join(PHASES)}")
        self._add_phase(name, getattr(self, _STARTED[name]), ended)
        setattr(self, _STARTED[name], None)

    def phase(self, name: str) -> PhaseTiming:
        """`with execution.phase("planning"):` times the block."""
        if name not in PHASES:
            raise ValueError(f"unknown phase {name!r}; expected one of {', '.join(PHASES)}")
        return PhaseTiming(self, name)

    # The named phase methods are on the hot path of every query: no validation, no lookups.
    def start_planning(self) -> None:
        self._planning_started = time.perf_counter()

    def end_planning(self) -> None:
        self._add_phase("planning", self._planning_started, time.perf_counter())
        self._planning_started = None

    def start_execution(self) -> None:
        self._execution_started = time.perf_counter()

    def end_execution(self) -> None:
        self._add_phase("execution", self._execution_started, time.perf_counter())
        self._execution_started = None

    def start_aggregation(self) -> None:
        self._aggregation_started = time.perf_counter()

    def end_aggregation(self) -> None:
        self._add_phase("aggregation", self._aggregation_started, time.perf_counter())
        self._aggregation_started = None

    def start_coordination(self) -> None:
        self._coordination_started = time.perf_counter()

    def end_coordination(self) -> None:
        self._add_phase("coordination", self._coordination_started, time.perf_counter())
        self._coordination_started = None

    def _add_phase(self, name: str, started: float | None, ended: float) -> None:
        if started is None:
            raise RuntimeError(f"phase {name!r} was not started")
        seconds = self.phase_seconds
        seconds[name] = seconds.get(name, 0.0) + ended - started

    def set_worker_info(self, workers_used: int | None, fragments_executed: int | None) -> None:
        """Workers and fragments the query used (None: not known)."""
        self.workers_used, self.fragments_executed = _known("workers_used", workers_used), _known(
            "fragments_executed", fragments_executed)

    def set_data_info(self, rows_processed: int | None, bytes_transferred: int | None) -> None:
        """Rows the query processed and bytes it moved between nodes (None: not known)."""
        self.rows_processed, self.bytes_transferred = _known("rows_processed", rows_processed), _known(
            "bytes_transferred", bytes_transferred)

    def set_optimization_info(self, applied: bool, original_cost: float, optimized_cost: float) -> None:
        costs = _finite("original_cost", original_cost), _finite("optimized_cost", optimized_cost)
        self.optimization_applied = bool(applied)
        self.original_cost, self.optimized_cost = costs

    def set_cache_info(self, hit_rate_percent: float) -> None:
        """Cache hit rate of this query in percent (0..100)."""
        if not 0 <= hit_rate_percent <= 100:
            raise ValueError(f"cache hit rate must be 0..100 percent, got {hit_rate_percent}")
        self.cache_hit_rate = float(hit_rate_percent)

    def set_network_latency(self, latency: float | timedelta) -> None:
        """Network latency of this query (seconds or timedelta)."""
        self.network_latency = _finite("network latency", as_seconds(latency))

    def set_coordination_overhead(self, overhead: float | timedelta) -> None:
        """Coordination overhead measured elsewhere (seconds or timedelta)."""
        self.phase_seconds["coordination"] = _finite("coordination overhead", as_seconds(overhead))

    def record_fragment(self, worker_id: str, seconds: float, rows: int = 0, bytes: int = 0,
                        queued_seconds: float = 0.0) -> None:
        """One fragment of this query ran on `worker_id` for `seconds` (after `queued_seconds` waiting); at
        most MAX_FRAGMENTS per query are kept, a ValueError says so beyond (memory stays bounded)."""
        fragment = Fragment(encodable(worker_id), _finite("fragment seconds", seconds), _count("fragment rows", rows),
                            _count("fragment bytes", bytes), _finite("fragment queued_seconds", queued_seconds))
        if self.fragments is not None and len(self.fragments) >= MAX_FRAGMENTS:
            raise ValueError(f"query {self.query_id!r} already has {MAX_FRAGMENTS} fragments, the most kept per query")
        if self.fragments is None:
            self.fragments = [fragment]
        else:
            self.fragments.append(fragment)

    def set_plan(self, plan: str) -> None:
        """The query's plan as text (shown on its page and kept in the slow-query log)."""
        self.plan = encodable(plan)

    def set_error(self, error: BaseException | str) -> None:
        """Mark the query failed with this error."""
        self.error_message = encodable(error) or type(error).__name__

    def finish(self, total_seconds: float | None = None) -> QueryMetrics:
        """Stop the clock, record everything and return the query's metrics (only once).

        `total_seconds` gives a duration the node measured itself (e.g. an ingested event):
        the query is then taken to have started that long before now.
        """
        total = time.perf_counter() - self._started
        if total_seconds is not None:
            total_seconds = _finite("total_seconds", total_seconds)
            self.start_timestamp = time.time() - total_seconds
            total = total_seconds
        if self.result is not None:
            raise RuntimeError(f"query {self.query_id!r} already finished")
        original, optimized = self.original_cost, self.optimized_cost
        applied = self.optimization_applied
        statement = normalize_sql(self.sql)  # classified with its literals folded: a string saying 'join' is no join
        self.result = QueryMetrics(
            self.query_id, self.sql, statement, self.query_type or classify_sql(statement), self.start_timestamp, total,
            self.phase_seconds, self.workers_used, self.fragments_executed, self.rows_processed,
            self.bytes_transferred, self.cache_hit_rate, applied, original, optimized,
            100.0 * (original - optimized) / original if applied and original > 0 else 0.0,
            self.error_message, self.network_latency, tuple(self.fragments or ()), self.plan,
        )
        self._monitor._record(self.result)
        return self.result


def _finite(name: str, value: float) -> float:
    """`value` as a float when it is finite and not negative, else a ValueError naming it (nothing is stored)."""
    number = float(value)
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"{name} must be a finite number not below 0, got {value!r}")
    return number


def _known(name: str, value: int | None) -> int | None:
    """None (not known), or `value` checked by _count."""
    return None if value is None else _count(name, value)


def _count(name: str, value: int) -> int:
    """`value` as an int when it is finite and not negative, else a ValueError naming it."""
    if isinstance(value, float) and not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number not below 0, got {value!r}")
    return int(value)


class PhaseTiming:
    """The context manager of `QueryExecution.phase`: a class, not a generator, because it is on the hot path."""

    __slots__ = ("_execution", "_name", "_started")

    def __init__(self, execution: QueryExecution, name: str):
        self._execution = execution
        self._name = name
        self._started = 0.0

    def __enter__(self) -> QueryExecution:
        self._started = time.perf_counter()
        return self._execution

    def __exit__(self, *exc_info: Any) -> None:
        self._execution._add_phase(self._name, self._started, time.perf_counter())
