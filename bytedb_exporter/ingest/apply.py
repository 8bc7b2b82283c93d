"""Applying validated ingest events to the worker, query and coordinator monitors."""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bytedb_exporter.query.execution import QueryExecution

if TYPE_CHECKING:
    from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
    from bytedb_exporter.cluster.worker import WorkerMonitor
    from bytedb_exporter.ingest.events import Event
    from bytedb_exporter.query.monitor import QueryMonitor


class EventApplier:
    """Applies validated events to the monitors; keeps the queries opened by query_start until their end,
    or until `open_query_timeout` seconds pass without one (then they count as failed)."""

    def __init__(self, worker: Callable[[str], WorkerMonitor], queries: QueryMonitor | None = None,
                 coordinator: CoordinatorMonitor | None = None, *, open_query_timeout: float = 600.0,
                 clock: Callable[[], float] = time.monotonic):
        self._worker = worker
        self._queries = queries
        self._coordinator = coordinator
        self._open: dict[str, QueryExecution] = {}
        self._opened_at: dict[str, float] = {}
        self.open_query_timeout = open_query_timeout
        self._clock = clock

    def expire_stale(self) -> list[str]:
        """Finish, as failed, the queries whose end event is overdue; returns their ids."""
        now = self._clock()
        stale = [qid for qid, opened in self._opened_at.items() if now - opened > self.open_query_timeout]
        for query_id in stale:
            execution = self._open.pop(query_id)
            del self._opened_at[query_id]
            execution.set_error(f"no query_end event within {self.open_query_timeout:g} s")
            execution.finish()
            if self._coordinator is not None:
                self._coordinator.record_query_end(query_id, False)
        return stale

    def open_queries(self) -> frozenset[str]:
        """Ids of queries started and not yet ended."""
        return frozenset(self._open)

    def fragments_kept(self) -> dict[str, int]:
        """How many fragments each open query holds."""
        return {query_id: len(execution.fragments or ()) for query_id, execution in self._open.items()}

    def apply(self, events: Sequence[Event]) -> dict[str, int]:
        """Apply every event in order (call only with a batch validate_batch accepted); counts per kind."""
        counts = {"query": 0, "worker": 0}
        for event in events:
            (self._apply_query if event.kind == "query" else self._apply_worker)(event)
            counts[event.kind] += 1
        return counts

    def _apply_query(self, event: Event) -> None:
        v = event.values
        if event.type == "query_start":
            assert self._queries is not None
            execution = self._open[event.query_id] = self._queries.start_query_monitoring(event.query_id, v["sql"])
            self._opened_at[event.query_id] = self._clock()
            if "query_type" in v:
                execution.set_query_type(v["query_type"])
            if self._coordinator is not None:
                self._coordinator.record_query_start(event.query_id, v.get("fragments", 0), v.get("workers", 0))
        execution = self._open[event.query_id]
        _set_facts(execution, v)
        if event.type != "query_end":
            return
        del self._open[event.query_id]
        del self._opened_at[event.query_id]
        metrics = execution.finish(v.get("duration"))  # the node's own measurement, when it sent one
        coordinator = self._coordinator
        if coordinator is not None:
            phases = metrics.phase_seconds
            if "planning" in phases:
                coordinator.record_planning_time(phases["planning"])
            if "aggregation" in phases:
                coordinator.record_aggregation_time(phases["aggregation"])
            if "cost" in v:
                coordinator.record_optimization(*v["cost"])
            coordinator.record_query_end(event.query_id, not metrics.error_occurred,
                                         {"coordination_overhead": phases.get("coordination", 0.0)})

    def _apply_worker(self, event: Event) -> None:
        monitor, v = self._worker(event.worker_id), event.values
        if event.type == "worker_query_start":
            monitor.record_query_start(v["query_id"])
        elif event.type == "worker_query_end":
            monitor.record_query_end(v["query_id"], v["success"], v["rows"], v["bytes"])
        elif event.type in ("cache_hit", "cache_miss", "cache_eviction"):
            record = {"cache_hit": monitor.record_cache_hit, "cache_miss": monitor.record_cache_miss,
                      "cache_eviction": monitor.record_cache_eviction}[event.type]
            record(v["count"])
        elif event.type == "cache_size":
            monitor.set_cache_size(v["size_bytes"])
        elif event.type == "worker_error":
            monitor.record_error(v["error"], v["query"], v["severity"])
        elif event.type == "network":
            monitor.record_network_activity(v["received"], v["sent"], v.get("latency"))
        else:
            monitor.heartbeat()


def _set_facts(execution: QueryExecution, v: Mapping[str, Any]) -> None:
    """Copy the checked facts of one event onto a running query."""
    for phase, seconds in v.get("phases", {}).items():
        execution.phase_seconds[phase] = execution.phase_seconds.get(phase, 0.0) + seconds
    if "workers" in v or "fragments" in v:
        execution.set_worker_info(v.get("workers", execution.workers_used),
                                  v.get("fragments", execution.fragments_executed))
    if "rows" in v or "bytes" in v:
        execution.set_data_info(v.get("rows", execution.rows_processed), v.get("bytes", execution.bytes_transferred))
    if "cost" in v:
        execution.set_optimization_info(*v["cost"])
    if "cache_hit_rate" in v:
        execution.set_cache_info(v["cache_hit_rate"])
    if "network_latency" in v:
        execution.set_network_latency(v["network_latency"])
    if "error" in v:
        execution.set_error(v["error"])
    for worker_id, seconds, rows, nbytes, queued in v.get("fragment_timings", ()):
        execution.record_fragment(worker_id, seconds, rows, nbytes, queued)
    if "plan" in v:
        execution.set_plan(v["plan"])
