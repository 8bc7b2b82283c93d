"""Query lifecycle monitoring: one QueryExecution per query, aggregated by a QueryMonitor."""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional

from .metrics import MetricsRegistry, TIMER_BUCKETS, merge_histograms
from .query_models import QueryMetrics, QueryStats, TopQueryInfo
from .sqltext import QUERY_TYPES, classify_sql, label_for_query_type, normalize_sql
from .stats import SlidingWindowCounter, percent

log = logging.getLogger(__name__)

PHASES = ("planning", "execution", "aggregation", "coordination")
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
ROWS_BUCKETS = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)
BYTES_BUCKETS = tuple(float(1024 * 4 ** i) for i in range(9)) + (100.0 * 1024 * 1024,)
COST_REDUCTION_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)
FRAGMENT_BUCKETS = (1, 2, 3, 5, 8, 10, 20, 50)
WORKER_BUCKETS = (1, 2, 3, 4, 5, 8, 10, 15, 20)
RATIO_BUCKETS = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)


class QueryExecution:
    """One query being monitored; its phase timings belong to it alone."""

    def __init__(self, monitor: "QueryMonitor", query_id: str, sql: str):
        self._monitor = monitor
        self.query_id = query_id
        self.sql = sql
        self.query_type: Optional[str] = None
        self.start_time = datetime.now(timezone.utc)
        self._started = time.perf_counter()
        self._phase_started: Dict[str, float] = {}
        self.phase_seconds: Dict[str, float] = {}
        self.workers_used = 0
        self.fragments_executed = 0
        self.rows_processed = 0
        self.bytes_transferred = 0
        self.cache_hit_rate: Optional[float] = None
        self.optimization_applied = False
        self.original_cost = 0.0
        self.optimized_cost = 0.0
        self.error_message = ""
        self.network_latency = 0.0
        self.result: Optional[QueryMetrics] = None

    def set_query_type(self, query_type: str) -> None:
        """SELECT, SELECT_AGGREGATE, ...; unknown types are labelled OTHER in Prometheus."""
        self.query_type = query_type

    def start_phase(self, name: str) -> None:
        """Start timing a phase (planning, execution, aggregation or coordination)."""
        if name not in PHASES:
            raise ValueError(f"unknown phase {name!r}; expected one of {', '.join(PHASES)}")
        self._phase_started[name] = time.perf_counter()

    def end_phase(self, name: str) -> None:
        """Stop timing a phase; repeated phases add up."""
        started = self._phase_started.pop(name, None)
        if started is None:
            raise RuntimeError(f"phase {name!r} was not started")
        self.phase_seconds[name] = self.phase_seconds.get(name, 0.0) + time.perf_counter() - started

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator["QueryExecution"]:
        """`with execution.phase("planning"):` times the block."""
        self.start_phase(name)
        try:
            yield self
        finally:
            self.end_phase(name)

    def start_planning(self) -> None:
        self.start_phase("planning")

    def end_planning(self) -> None:
        self.end_phase("planning")

    def start_execution(self) -> None:
        self.start_phase("execution")

    def end_execution(self) -> None:
        self.end_phase("execution")

    def start_aggregation(self) -> None:
        self.start_phase("aggregation")

    def end_aggregation(self) -> None:
        self.end_phase("aggregation")

    def start_coordination(self) -> None:
        self.start_phase("coordination")

    def end_coordination(self) -> None:
        self.end_phase("coordination")

    def set_worker_info(self, workers_used: int, fragments_executed: int) -> None:
        self.workers_used = int(workers_used)
        self.fragments_executed = int(fragments_executed)

    def set_data_info(self, rows_processed: int, bytes_transferred: int) -> None:
        self.rows_processed = int(rows_processed)
        self.bytes_transferred = int(bytes_transferred)

    def set_optimization_info(self, applied: bool, original_cost: float, optimized_cost: float) -> None:
        self.optimization_applied = bool(applied)
        self.original_cost = float(original_cost)
        self.optimized_cost = float(optimized_cost)

    def set_cache_info(self, hit_rate_percent: float) -> None:
        """Cache hit rate of this query in percent (0..100)."""
        if not 0 <= hit_rate_percent <= 100:
            raise ValueError(f"cache hit rate must be 0..100 percent, got {hit_rate_percent}")
        self.cache_hit_rate = float(hit_rate_percent)

    def set_network_latency(self, latency: float | timedelta) -> None:
        """Network latency of this query (seconds or timedelta)."""
        self.network_latency = latency.total_seconds() if isinstance(latency, timedelta) else float(latency)

    def set_coordination_overhead(self, overhead: float | timedelta) -> None:
        """Coordination overhead measured elsewhere (seconds or timedelta)."""
        seconds = overhead.total_seconds() if isinstance(overhead, timedelta) else float(overhead)
        self.phase_seconds["coordination"] = seconds

    def set_error(self, error: BaseException | str) -> None:
        """Mark the query failed with this error."""
        self.error_message = str(error) or type(error).__name__

    def finish(self) -> QueryMetrics:
        """Stop the clock, record everything and return the query's metrics (once)."""
        if self.result is not None:
            raise RuntimeError(f"query {self.query_id!r} already finished")
        total = time.perf_counter() - self._started
        phases = self.phase_seconds
        original, optimized = self.original_cost, self.optimized_cost
        reduction = 100.0 * (original - optimized) / original if self.optimization_applied and original > 0 else 0.0
        self.result = QueryMetrics(
            query_id=self.query_id,
            sql=self.sql,
            query_type=self.query_type or classify_sql(self.sql),
            start_time=self.start_time,
            end_time=self.start_time + timedelta(seconds=total),
            total_duration=timedelta(seconds=total),
            planning_duration=timedelta(seconds=phases.get("planning", 0.0)),
            execution_duration=timedelta(seconds=phases.get("execution", 0.0)),
            aggregation_duration=timedelta(seconds=phases.get("aggregation", 0.0)),
            workers_used=self.workers_used,
            fragments_executed=self.fragments_executed,
            rows_processed=self.rows_processed,
            bytes_transferred=self.bytes_transferred,
            cache_hit_rate=self.cache_hit_rate,
            optimization_applied=self.optimization_applied,
            original_cost=original,
            optimized_cost=optimized,
            cost_reduction=reduction,
            error_occurred=bool(self.error_message),
            error_message=self.error_message,
            network_latency=timedelta(seconds=self.network_latency),
            coordination_overhead=timedelta(seconds=phases.get("coordination", 0.0)),
        )
        self._monitor._record(self.result, total, phases, self.network_latency)
        return self.result


class QueryMonitor:
    """Records every query's lifecycle into Prometheus metrics and bounded histories."""

    def __init__(self, registry: Optional[MetricsRegistry] = None, history_size: int = 1000,
                 failed_history_size: int = 200, top_queries_size: int = 500, window_seconds: float = 60.0):
        if min(history_size, failed_history_size, top_queries_size) < 1:
            raise ValueError("history sizes must be at least 1")
        self.registry = registry or MetricsRegistry()
        self._lock = threading.Lock()
        self._recent: Deque[QueryMetrics] = deque(maxlen=history_size)
        self._failed: Deque[QueryMetrics] = deque(maxlen=failed_history_size)
        self._top: "OrderedDict[str, TopQueryInfo]" = OrderedDict()
        self._top_size = top_queries_size
        self._window = SlidingWindowCounter(window_seconds)
        self._listeners: List[Callable[[QueryMetrics], None]] = []
        self._total = self._failed_count = self._optimized = 0
        self._duration_sum = self._reduction_sum = 0.0
        self._create_metrics()

    def _create_metrics(self) -> None:
        r = self.registry
        self._active = r.gauge("queries_active", "Queries started and not yet finished.")
        self._by_type: Dict[str, Any] = {}
        for query_type in QUERY_TYPES:
            self._by_type[query_type] = (
                r.counter("queries_total", "Queries finished, by query type and status (success or failed).",
                          {"query_type": query_type, "status": "success"}).inc,
                r.counter("queries_total", labels={"query_type": query_type, "status": "failed"}).inc,
                r.histogram("query_duration_seconds", DURATION_BUCKETS, "End-to-end query duration.",
                            {"query_type": query_type}),
            )
        self._phase_histograms = {
            phase: r.histogram("query_phase_duration_seconds", TIMER_BUCKETS,
                               "Time spent in one phase of a query (planning, execution, aggregation, coordination).",
                               {"phase": phase})
            for phase in PHASES
        }
        self._network_latency = r.histogram("query_network_latency_seconds", TIMER_BUCKETS,
                                            "Network latency reported for a query.")
        self._rows = r.histogram("query_rows_processed", ROWS_BUCKETS, "Rows processed per query.")
        self._bytes = r.histogram("query_transferred_bytes", BYTES_BUCKETS, "Bytes transferred per query.")
        self._workers = r.histogram("query_workers", WORKER_BUCKETS, "Workers used per query.")
        self._fragments = r.histogram("query_fragments", FRAGMENT_BUCKETS, "Fragments executed per query.")
        self._optimizations = r.counter("query_optimizations_total", "Queries whose plan the optimizer improved.")
        self._cost_reduction = r.histogram("query_cost_reduction_ratio", COST_REDUCTION_BUCKETS,
                                           "Optimizer cost reduction per optimized query, 0..1.")
        self._cache_hit = r.histogram("query_cache_hit_ratio", RATIO_BUCKETS,
                                      "Cache hit ratio reported per query, 0..1.")

    def start_query_monitoring(self, query_id: str, sql: str) -> QueryExecution:
        """Begin monitoring a query; call `finish()` on the result when it ends."""
        self._active.inc()
        return QueryExecution(self, query_id, sql)

    @contextlib.contextmanager
    def monitor_query(self, query_id: str, sql: str) -> Iterator[QueryExecution]:
        """`with monitor.monitor_query(id, sql) as ex:` finishes on exit; an exception becomes the error."""
        execution = self.start_query_monitoring(query_id, sql)
        try:
            yield execution
        except BaseException as error:
            execution.set_error(error)
            raise
        finally:
            if execution.result is None:
                execution.finish()

    def add_listener(self, listener: Callable[[QueryMetrics], None]) -> None:
        """Call `listener(metrics)` for every query that finishes from now on."""
        with self._lock:
            self._listeners = self._listeners + [listener]

    def remove_listener(self, listener: Callable[[QueryMetrics], None]) -> None:
        with self._lock:
            self._listeners = [item for item in self._listeners if item is not listener]

    def _record(self, metrics: QueryMetrics, total: float, phases: Dict[str, float], latency: float) -> None:
        success_inc, failed_inc, duration = self._by_type[label_for_query_type(metrics.query_type)]
        (failed_inc if metrics.error_occurred else success_inc)()
        duration.observe(total)
        self._active.dec()
        for phase, seconds in phases.items():
            self._phase_histograms[phase].observe(seconds)
        if latency:
            self._network_latency.observe(latency)
        self._rows.observe(metrics.rows_processed)
        self._bytes.observe(metrics.bytes_transferred)
        if metrics.workers_used:
            self._workers.observe(metrics.workers_used)
        if metrics.fragments_executed:
            self._fragments.observe(metrics.fragments_executed)
        if metrics.optimization_applied:
            self._optimizations.inc()
            self._cost_reduction.observe(metrics.cost_reduction / 100.0)
        if metrics.cache_hit_rate is not None:
            self._cache_hit.observe(metrics.cache_hit_rate / 100.0)
        key = normalize_sql(metrics.sql)
        with self._lock:
            self._total += 1
            self._duration_sum += total
            if metrics.error_occurred:
                self._failed_count += 1
                self._failed.append(metrics)
            if metrics.optimization_applied:
                self._optimized += 1
                self._reduction_sum += metrics.cost_reduction
            self._window.add()
            self._recent.append(metrics)
            self._update_top(key, metrics)
            listeners = self._listeners
        for listener in listeners:
            listener(metrics)

    def _update_top(self, key: str, metrics: QueryMetrics) -> None:
        info = self._top.get(key)
        if info is None:
            info = self._top[key] = TopQueryInfo(sql=key)
            if len(self._top) > self._top_size:
                self._top.popitem(last=False)
        else:
            self._top.move_to_end(key)
        info.execution_count += 1
        info.total_duration += metrics.total_duration
        info.total_rows_processed += metrics.rows_processed
        info.failed_count += metrics.error_occurred
        info.last_execution = metrics.end_time

    def get_query_stats(self) -> QueryStats:
        """Totals since start, throughput over the sliding window."""
        with self._lock:
            total, failed, optimized = self._total, self._failed_count, self._optimized
            duration_sum, reduction_sum = self._duration_sum, self._reduction_sum
            qps = self._window.rate()
        return QueryStats(
            total_queries=total,
            successful_queries=total - failed,
            failed_queries=failed,
            optimized_queries=optimized,
            active_queries=int(self._active.get()),
            average_response_time=timedelta(seconds=duration_sum / total if total else 0.0),
            throughput_qps=qps,
            optimization_rate_percent=percent(optimized, total),
            average_cost_reduction_percent=reduction_sum / optimized if optimized else 0.0,
            error_rate_percent=percent(failed, total),
            window_seconds=self._window.window,
        )

    def get_recent_queries(self, limit: int = 20) -> List[QueryMetrics]:
        """The latest finished queries, newest first."""
        with self._lock:
            return list(self._recent)[::-1][:max(limit, 0)]

    def get_failed_queries(self, limit: int = 20) -> List[QueryMetrics]:
        """The latest failed queries with their errors, newest first."""
        with self._lock:
            return list(self._failed)[::-1][:max(limit, 0)]

    def get_top_queries(self, limit: int = 10) -> List[TopQueryInfo]:
        """Normalized SQL texts ordered by total time spent, largest first."""
        with self._lock:
            infos = [TopQueryInfo(**vars(info)) for info in self._top.values()]
        infos.sort(key=lambda info: info.total_duration, reverse=True)
        return infos[:max(limit, 0)]

    def duration_stats(self) -> Dict[str, Any]:
        """HistogramStats of end-to-end duration (seconds) over all query types."""
        return merge_histograms([entry[2] for entry in self._by_type.values()])

    def phase_stats(self) -> Dict[str, Dict[str, Any]]:
        """HistogramStats (seconds) of each phase."""
        return {phase: histogram.get_stats() for phase, histogram in self._phase_histograms.items()}

    def distribution_stats(self) -> Dict[str, Dict[str, Any]]:
        """HistogramStats of duration (seconds), rows and bytes per query."""
        return {
            "duration_distribution": self.duration_stats(),
            "rows_distribution": self._rows.get_stats(),
            "bytes_distribution": self._bytes.get_stats(),
        }

    def cost_reduction_stats(self) -> Dict[str, Any]:
        """HistogramStats of the cost reduction ratio of optimized queries."""
        return self._cost_reduction.get_stats()

    def cache_hit_stats(self) -> Dict[str, Any]:
        """HistogramStats of the per-query cache hit ratio."""
        return self._cache_hit.get_stats()

    def query_performance_report(self) -> Any:
        """Timing breakdown, distributions, optimization impact and recommendations."""
        from .query_report import build_report

        return build_report(self)
