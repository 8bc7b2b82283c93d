"""Query lifecycle monitoring: one QueryExecution per query, aggregated by a QueryMonitor."""
from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, NamedTuple

from bytedb_exporter.metrics.groups import CountCell, HistogramCells, MetricGroup
from bytedb_exporter.metrics.registry import NAMESPACE, TIMER_BUCKETS, MetricsRegistry
from bytedb_exporter.metrics.stats import SlidingWindowCounter, percent
from bytedb_exporter.metrics.types import summarize_buckets
from bytedb_exporter.query.execution import PHASES, QueryExecution
from bytedb_exporter.query.fragments import fragment_skew
from bytedb_exporter.query.models import QueryMetrics, QueryStats, TopQueryInfo
from bytedb_exporter.query.report import QueryPerformanceReport, build_report
from bytedb_exporter.query.sqltext import QUERY_TYPES, label_for_query_type
from bytedb_exporter.query.statement_export import StatementCollector
from bytedb_exporter.query.statements import StatementStats, StatementTable, top_statements
from bytedb_exporter.rules.health import DEFAULT_THRESHOLDS, Thresholds

# The original's 10 ms..30 s, plus 1 and 5 ms so that cache hits and small queries get real quantiles.
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
ROWS_BUCKETS = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)
BYTES_BUCKETS = tuple(float(1024 * 4 ** i) for i in range(9)) + (100.0 * 1024 * 1024,)
COST_REDUCTION_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)
FRAGMENT_BUCKETS = (1, 2, 3, 5, 8, 10, 20, 50)
WORKER_BUCKETS = (1, 2, 3, 4, 5, 8, 10, 15, 20)
RATIO_BUCKETS = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)
# An exemplar's label names and values may hold 128 characters in all (OpenMetrics); `query_id` takes 8.
MAX_EXEMPLAR_ID = 120
SKEW_BUCKETS = (1.1, 1.25, 1.5, 2, 3, 5, 10, 20)
# Queued entries beyond which a query waits for the lock's holder to apply them. It bounds the queue, and a
# long queue costs more than the wait: its records outlive their turn and trigger garbage collections.
MAX_PENDING = 256
FULL_QUEUE_BACKOFF = 0.0002  # seconds between looks at a busy lock while the queue is full


class TypeSeries(NamedTuple):
    """The series one query type writes: finished queries by status, and their durations."""

    succeeded: CountCell
    failed: CountCell
    duration: HistogramCells


class QueryMonitor:
    """Records every query's lifecycle into Prometheus metrics and bounded histories; its advice
    uses `thresholds`; `export_statements` K > 0 exports the top K statements as bytedb_statement_*.
    One registry holds one QueryMonitor (a second one is a ValueError: its series would collide)."""

    def __init__(self, registry: MetricsRegistry | None = None, history_size: int = 1000,
                 failed_history_size: int = 200, top_queries_size: int = 500, window_seconds: float = 60.0,
                 thresholds: Thresholds | None = None, export_statements: int = 0):
        if min(history_size, failed_history_size, top_queries_size) < 1:
            raise ValueError("history sizes must be at least 1")
        self.registry = registry or MetricsRegistry()
        self.thresholds = thresholds or DEFAULT_THRESHOLDS
        # The per-query counters, histograms and histories share one lock. A started or finished query queues
        # its entry (None, or its QueryMetrics; deque.append needs no lock) and applies the queue only if the lock
        # is free: no convoy of threads behind one preempted holder. Whoever holds the lock next applies the
        # queue, and every reader applies it first.
        self._pending: deque[QueryMetrics | None] = deque()
        self._histograms = MetricGroup(NAMESPACE, self.registry.const_labels, flush=self._apply_pending)
        self._lock: threading.Lock = self._histograms.lock
        self._recent: deque[QueryMetrics] = deque(maxlen=history_size)
        self._by_id: dict[str, QueryMetrics] = {}  # the newest of each id in _recent
        self._failed: deque[QueryMetrics] = deque(maxlen=failed_history_size)
        self._statements = StatementTable(top_queries_size, time.time())
        self._window = SlidingWindowCounter(window_seconds)
        self._listeners: list[Callable[[QueryMetrics], None]] = []
        self._create_metrics()
        try:
            self.registry.register_collector(self._histograms)
        except ValueError as error:  # prometheus_client: "Duplicated timeseries in CollectorRegistry"
            raise ValueError("this MetricsRegistry already holds a QueryMonitor's series: share that monitor, or "
                             "give each QueryMonitor its own registry") from error
        if export_statements > 0:
            self.registry.register_collector(
                StatementCollector(lambda k: self.get_statement_stats(k), export_statements))

    def _create_metrics(self) -> None:
        # The group exposes its families in this order: the counters first, as when they were
        # prometheus_client's own, registered before the group.
        h = self._histograms
        self._active = h.gauge("queries_active", "Queries started and not yet finished.")
        totals = {(query_type, status): h.counter("queries_total", "Queries finished, by query type and status "
                                                  "(success or failed).", {"query_type": query_type, "status": status})
                  for query_type in QUERY_TYPES for status in ("success", "failed")}
        self._optimizations = h.counter("query_optimizations_total", "Queries whose plan the optimizer improved.")
        self._skewed = h.counter("query_skewed_total", "Queries whose fragment skew exceeded "
                                                       "thresholds.fragment_skew_ratio.")
        self._by_type: dict[str, TypeSeries] = {
            query_type: TypeSeries(totals[query_type, "success"], totals[query_type, "failed"], h.histogram(
                "query_duration_seconds", DURATION_BUCKETS, "End-to-end query duration.", {"query_type": query_type}))
            for query_type in QUERY_TYPES
        }
        self._phase_histograms = {
            phase: h.histogram("query_phase_duration_seconds", TIMER_BUCKETS,
                               "Time spent in one phase of a query (planning, execution, aggregation, coordination).",
                               {"phase": phase})
            for phase in PHASES
        }
        self._network_latency = h.histogram("query_network_latency_seconds", TIMER_BUCKETS,
                                            "Network latency reported for a query.")
        self._rows = h.histogram("query_rows_processed", ROWS_BUCKETS,
                                 "Rows processed per query that reported them.")
        self._bytes = h.histogram("query_transferred_bytes", BYTES_BUCKETS,
                                  "Bytes transferred per query that reported them.")
        self._workers = h.histogram("query_workers", WORKER_BUCKETS,
                                    "Workers used per query that reported them (1 or more).")
        self._fragments = h.histogram("query_fragments", FRAGMENT_BUCKETS,
                                      "Fragments executed per query that reported them (1 or more).")
        self._cost_reduction = h.histogram("query_cost_reduction_ratio", COST_REDUCTION_BUCKETS,
                                           "Optimizer cost reduction per optimized query, 0..1.")
        self._skew = h.histogram("query_fragment_skew_ratio", SKEW_BUCKETS,
                                 "Slowest over median fragment seconds, per query with 2 or more fragments.")
        self._cache_hit = h.histogram("query_cache_hit_ratio", RATIO_BUCKETS,
                                      "Cache hit ratio reported per query, 0..1.")

    def start_query_monitoring(self, query_id: str, sql: str) -> QueryExecution:
        """Begin monitoring a query; call `finish()` on the result when it ends."""
        execution = QueryExecution(self, query_id, sql)
        pending = self._pending
        pending.append(None)
        if len(pending) > MAX_PENDING:
            self._offer()
        return execution

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
            self._listeners = [item for item in self._listeners if item != listener]

    def _record(self, metrics: QueryMetrics) -> None:
        self._pending.append(metrics)
        self._offer()
        for listener in self._listeners:
            listener(metrics)

    def _offer(self) -> None:
        """Apply the queue if the lock is free; when it is busy and the queue full, wait for the holder."""
        lock = self._lock
        while not lock.acquire(blocking=False):
            if len(self._pending) <= MAX_PENDING:
                return
            # Sleep rather than block on the lock: a thread woken as its owner would keep it while waiting
            # for the GIL, and every other thread would queue behind it (a convoy of batches).
            time.sleep(FULL_QUEUE_BACKOFF)
        try:
            self._apply_pending()
        finally:
            lock.release()

    def _apply_pending(self) -> None:
        """Apply the queued starts and finished queries (the caller holds the lock)."""
        pending = self._pending
        by_type, phase_histograms = self._by_type, self._phase_histograms
        active, recent, by_id = self._active, self._recent, self._by_id
        while pending:
            metrics = pending.popleft()
            if metrics is None:
                active.value += 1
                continue
            active.value -= 1
            query_id = metrics.query_id
            series = by_type.get(metrics.query_type) or by_type[label_for_query_type(metrics.query_type)]
            if metrics.error_message:
                series.failed.value += 1
                self._failed.append(metrics)
            else:
                series.succeeded.value += 1
            series.duration.observe(metrics.total_seconds,
                                    {"query_id": query_id} if 0 < len(query_id) <= MAX_EXEMPLAR_ID else None)
            for phase, seconds in metrics.phase_seconds.items():
                phase_histograms[phase].observe(seconds)
            if metrics.network_latency_seconds:
                self._network_latency.observe(metrics.network_latency_seconds)
            if metrics.rows_processed is not None:
                self._rows.observe(metrics.rows_processed)
            if metrics.bytes_transferred is not None:
                self._bytes.observe(metrics.bytes_transferred)
            if metrics.workers_used:
                self._workers.observe(metrics.workers_used)
            if metrics.fragments_executed:
                self._fragments.observe(metrics.fragments_executed)
            if metrics.optimization_applied:
                self._optimizations.value += 1
                self._cost_reduction.observe(metrics.cost_reduction / 100.0)
            if metrics.cache_hit_rate is not None:
                self._cache_hit.observe(metrics.cache_hit_rate / 100.0)
            skew = fragment_skew(metrics.fragments) if metrics.fragments else None
            if skew is not None:
                self._skew.observe(skew)
                if skew > self.thresholds.fragment_skew_ratio:
                    self._skewed.value += 1
            self._window.add()
            if len(recent) == recent.maxlen and by_id.get(recent[0].query_id) is recent[0]:
                del by_id[recent[0].query_id]
            recent.append(metrics)
            by_id[query_id] = metrics
            self._statements.add(metrics.statement, metrics.total_seconds, bool(metrics.error_message),
                                 metrics.rows_processed or 0, metrics.bytes_transferred or 0,
                                 metrics.cache_hit_rate == 100.0,
                                 metrics.start_timestamp + metrics.total_seconds)

    def get_query_stats(self) -> QueryStats:
        """Totals since start (read from the exported series: one source of truth), throughput over the
        sliding window; one consistent reading."""
        with self._histograms.reading():
            series = self._by_type.values()
            failed = int(sum(s.failed.value for s in series))  # whole counts: the monitor adds ones
            total = int(sum(s.succeeded.value for s in series)) + failed
            duration_sum = sum(s.duration.sum for s in series)
            optimized = int(self._optimizations.value)
            reduction_sum = self._cost_reduction.sum * 100.0
            active = int(self._active.value)
            qps = self._window.rate()
        return QueryStats(
            total_queries=total,
            successful_queries=total - failed,
            failed_queries=failed,
            optimized_queries=optimized,
            active_queries=active,
            query_response_time=timedelta(seconds=duration_sum / total if total else 0.0),
            throughput_qps=qps,
            optimized_queries_percent=percent(optimized, total),
            average_cost_reduction_percent=reduction_sum / optimized if optimized else 0.0,
            error_rate_percent=percent(failed, total),
            window_seconds=self._window.window,
        )

    def get_recent_queries(self, limit: int = 20) -> list[QueryMetrics]:
        """The latest finished queries, newest first."""
        with self._histograms.reading():
            return list(self._recent)[::-1][:max(limit, 0)]

    def get_query(self, query_id: str) -> QueryMetrics | None:
        """The newest finished query with this id still in the recent history, or None."""
        with self._histograms.reading():
            return self._by_id.get(query_id)

    def get_failed_queries(self, limit: int = 20) -> list[QueryMetrics]:
        """The latest failed queries with their errors, newest first."""
        with self._histograms.reading():
            return list(self._failed)[::-1][:max(limit, 0)]

    def get_top_queries(self, limit: int = 10) -> list[TopQueryInfo]:
        """Normalized SQL texts ordered by total time spent, largest first (the table keeps the largest)."""
        return [TopQueryInfo(sql=row.query, execution_count=row.calls, total_seconds=row.total_seconds,
                             total_rows_processed=row.rows, failed_count=row.errors, last_timestamp=row.last_seen)
                for row in self._top_rows(limit, "total")]

    def get_statement_stats(self, limit: int = 100, sort: str = "total") -> list[StatementStats]:
        """Copies of the `limit` largest statements by `sort` (a statements.SORT_KEYS key), largest first."""
        return self._top_rows(limit, sort)

    def statement_other(self) -> StatementStats:
        """A copy of the `other` row: the calls of statements evicted from the bounded table."""
        with self._histograms.reading():
            return dataclasses.replace(self._statements.other)

    def statements_since(self) -> float:
        """When the statement table was last reset (or created), as a Unix timestamp."""
        return self._statements.stats_since

    def reset_statement_stats(self, fingerprint: str | None = None) -> int:
        """Forget every statement's statistics, or one fingerprint's; how many rows went."""
        with self._histograms.reading():
            return self._statements.reset(time.time(), fingerprint)

    def _top_rows(self, limit: int, sort: str) -> list[StatementStats]:
        # The queued records are applied first; the candidates are listed under the lock (the table's
        # LEADERS leaders for the top by total, O(LEADERS); else every row, list() in C), the selection
        # runs outside it and only the k rows returned are copied under it.
        with self._histograms.reading():
            rows = self._statements.candidates(limit, sort)
        chosen = top_statements(rows, limit, sort)
        with self._lock:
            return [dataclasses.replace(row) for row in chosen]

    def duration_buckets(self) -> list[tuple[float, float]]:
        """Cumulative (bound, count) buckets of end-to-end duration (seconds) over all query types."""
        merged: list[tuple[float, float]] | None = None
        for series in self._by_type.values():
            buckets = series.duration.cumulative_buckets()
            merged = buckets if merged is None else [(b, n + m) for (b, n), (_, m) in zip(merged, buckets, strict=True)]
        return merged or [(math.inf, 0.0)]

    def duration_stats(self) -> dict[str, Any]:
        """HistogramStats of end-to-end duration (seconds) over all query types."""
        return summarize_buckets(self.duration_buckets(), sum(s.duration.total() for s in self._by_type.values()))

    def phase_stats(self) -> dict[str, dict[str, Any]]:
        """HistogramStats (seconds) of each phase."""
        return {phase: histogram.get_stats() for phase, histogram in self._phase_histograms.items()}

    def distribution_stats(self) -> dict[str, dict[str, Any]]:
        """HistogramStats of duration (seconds), rows and bytes per query."""
        return {
            "duration_distribution": self.duration_stats(),
            "rows_distribution": self._rows.get_stats(),
            "bytes_distribution": self._bytes.get_stats(),
        }

    def cost_reduction_stats(self) -> dict[str, Any]:
        """HistogramStats of the cost reduction ratio of optimized queries."""
        return self._cost_reduction.get_stats()

    def cache_hit_stats(self) -> dict[str, Any]:
        """HistogramStats of the per-query cache hit ratio."""
        return self._cache_hit.get_stats()

    def query_performance_report(self) -> QueryPerformanceReport:
        """Timing breakdown, distributions, optimization impact and recommendations."""
        return build_report(self)
