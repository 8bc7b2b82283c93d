"""DemoCluster: a coordinator that plans SQL, fans fragments out to worker processes and merges."""
from __future__ import annotations

import itertools
import logging
import pickle
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bytedb_exporter.demo.cache import LRUCache, normalize_sql
from bytedb_exporter.demo.catalog import Catalog
from bytedb_exporter.demo.dataset import DatasetSpec, build_shards, schema_ddl
from bytedb_exporter.demo.planner import PlanError, QueryPlan, classify, plan_query
from bytedb_exporter.demo.worker_process import FragmentAnswer, WorkerProcess, encode_request

logger = logging.getLogger(__name__)
DEFAULT_SPEC = DatasetSpec()


@dataclass
class QueryStats:
    """Measured numbers of one query."""

    query_id: str
    query_type: str
    strategy: str = ""
    rows_processed: int = 0
    bytes_transferred: int = 0
    planning_seconds: float = 0.0
    coordination_seconds: float = 0.0
    execution_seconds: float = 0.0
    aggregation_seconds: float = 0.0
    network_latency_seconds: float = 0.0
    total_seconds: float = 0.0
    workers_used: int = 0
    fragments: int = 0
    original_cost: float = 0.0
    optimized_cost: float = 0.0
    optimization_applied: bool = False
    cache_hit: bool = False
    worker_cache_hits: int = 0


@dataclass
class QueryResult:
    """Rows, column names, stats and error (None on success) of one query."""

    sql: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    stats: QueryStats = field(default_factory=lambda: QueryStats("", ""))
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the query succeeded."""
        return self.error is None


def worker_names(count: int) -> list[str]:
    """Worker ids of a cluster with `count` workers: worker-1 .. worker-<count> (shard i is worker-<i+1>)."""
    return [f"worker-{i + 1}" for i in range(count)]


def merge_answers(plan: QueryPlan, parts: Sequence[tuple[str, list[str], list[tuple[Any, ...]]]]
                  ) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run the plan's merge step over (target table, columns, rows) of every fragment."""
    if plan.merge_sql is None:
        return list(parts[0][1]), list(parts[0][2])
    db = sqlite3.connect(":memory:")
    try:
        if plan.strategy == "ship_tables":
            tables, indexes = schema_ddl({target for target, _, _ in parts})
        else:
            tables, indexes = ["CREATE TABLE partial (" + ", ".join(f'"{c}"' for c in parts[0][1]) + ")"], []
        for ddl in tables:
            db.execute(ddl)
        for target, columns, rows in parts:
            if rows:
                db.executemany(f"INSERT INTO {target} VALUES ({','.join('?' * len(columns))})", rows)
        for ddl in indexes:
            db.execute(ddl)
        cursor = db.execute(plan.merge_sql)
        return [d[0] for d in cursor.description], cursor.fetchall()
    finally:
        db.close()


def _hook(obj: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call a monitoring hook if the monitor exists; a failing hook is logged, never fatal."""
    if obj is None:
        return None
    try:
        return getattr(obj, name)(*args, **kwargs)
    except Exception:  # a monitor bug must not break the query path
        logger.exception("monitoring hook %s failed", name)
        return None


class DemoCluster:
    """A coordinator plus one worker process per shard of the demo data set."""

    def __init__(self, data_dir: Path, workers: int = 3, spec: DatasetSpec = DEFAULT_SPEC,
                 query_monitor: Any = None, worker_monitors: Mapping[str, Any] | None = None,
                 coordinator_monitor: Any = None, fragment_timeout: float = 10.0,
                 result_cache_bytes: int = 2 * 1024 * 1024, result_cache_ttl: float = 10.0,
                 worker_cache_bytes: int = 256 * 1024, worker_cache_ttl: float = 30.0,
                 start_method: str = "spawn", start: bool = True,
                 work_factors: Mapping[str, int] | None = None, burst_every: int = 0, burst_factor: int = 4) -> None:
        """Build (or reuse) the shards in `data_dir` and, unless start=False, start the workers;
        `work_factors` (worker id -> factor) makes a worker run each uncached fragment that many times;
        every `burst_every`-th distributed query (0: never) one of its fragments, in turn, runs `burst_factor`
        times: a shard with a heavier share now and then, so fragment skew shows up."""
        self.worker_ids = worker_names(workers)
        factors = dict(work_factors or {})
        unknown = sorted(set(factors) - set(self.worker_ids))
        if unknown:
            raise ValueError(f"work_factors names unknown workers {unknown}; the workers are {self.worker_ids}")
        self.data_dir = Path(data_dir)
        self.paths = build_shards(self.data_dir, workers, spec)
        self.catalog = Catalog.from_shards(self.paths)
        self.workers = {wid: WorkerProcess(wid, path, worker_cache_bytes, worker_cache_ttl, start_method,
                                           factors.get(wid, 1))
                        for wid, path in zip(self.worker_ids, self.paths, strict=False)}
        self.fragment_timeout = fragment_timeout
        self.cache: LRUCache[tuple[Any, ...]] = LRUCache(result_cache_bytes, result_cache_ttl)
        self.set_monitors(query_monitor, worker_monitors, coordinator_monitor)
        self._pool = ThreadPoolExecutor(max_workers=workers * 4, thread_name_prefix="bytedb-demo-fanout")
        self._ids = itertools.count(1)
        self._runs = itertools.count(1)
        self.burst_every, self.burst_factor = burst_every, burst_factor
        self._closed = False
        self._lock = threading.Lock()
        if start:
            self.start()

    def set_monitors(self, query_monitor: Any = None, worker_monitors: Mapping[str, Any] | None = None,
                     coordinator_monitor: Any = None) -> None:
        """Attach (or replace) the monitoring objects called for every query."""
        self.query_monitor = query_monitor
        self.worker_monitors = dict(worker_monitors or {})
        self.coordinator_monitor = coordinator_monitor

    def start(self) -> None:
        """Start every worker process that is not running."""
        started = [w for w in self.workers.values() if not w.is_alive()]
        for worker in started:
            worker.start()
        for worker in started:
            if not worker.ping(timeout=60.0):
                logger.warning("%s did not answer its first ping", worker.worker_id)

    @property
    def worker_pids(self) -> dict[str, int | None]:
        """Worker id -> pid of its child process."""
        return {wid: w.pid for wid, w in self.workers.items()}

    def restart_dead_workers(self) -> list[str]:
        """Restart workers whose process exited; return their ids."""
        dead = [wid for wid, w in self.workers.items() if w.pid is not None and not w.is_alive()]
        for wid in dead:
            self.workers[wid].stop(timeout=0.5)
            self.workers[wid].start()
        return dead

    def ping_workers(self, timeout: float = 2.0) -> dict[str, bool]:
        """Ping every worker; call heartbeat() on the monitors of those that answer."""
        alive = {wid: w.ping(timeout) for wid, w in self.workers.items()}
        for wid, ok in alive.items():
            if ok:
                _hook(self.worker_monitors.get(wid), "heartbeat")
        return alive

    def _new_id(self) -> str:
        """Next query id."""
        with self._lock:
            return f"q-{next(self._ids):06d}"

    def execute(self, sql: str) -> QueryResult:
        """Plan, run and merge one query; failures come back as a result with an error."""
        if self._closed:
            raise RuntimeError("cluster is closed")
        started = time.perf_counter()
        qid = self._new_id()
        stats = QueryStats(qid, "")
        result = QueryResult(sql, stats=stats)
        ex = _hook(self.query_monitor, "start_query_monitoring", qid, sql)
        coord = self.coordinator_monitor
        key = normalize_sql(sql)
        cached = self.cache.get(key)
        if cached is not None:
            result.columns, result.rows, stats.query_type = list(cached[0]), list(cached[1]), cached[2]
            stats.cache_hit, stats.rows_processed = True, len(result.rows)
            _hook(ex, "set_query_type", stats.query_type)
            _hook(ex, "set_cache_info", 100.0)
            _hook(coord, "record_query_start", qid, 0, 0)
            return self._finish(ex, result, started)
        _hook(ex, "set_cache_info", 0.0)
        _hook(ex, "start_planning")
        t0 = time.perf_counter()
        try:
            plan: QueryPlan | None = plan_query(sql, self.catalog)
        except PlanError as exc:
            plan, result.error = None, str(exc)
        stats.planning_seconds = time.perf_counter() - t0
        stats.query_type = plan.query_type if plan is not None else classify(sql)
        _hook(ex, "end_planning")
        _hook(coord, "record_planning_time", timedelta(seconds=stats.planning_seconds))
        _hook(ex, "set_query_type", stats.query_type)
        if plan is None:
            _hook(coord, "record_query_start", qid, 0, 0)
            return self._finish(ex, result, started)
        stats.strategy, stats.original_cost, stats.optimized_cost = (plan.strategy, plan.original_cost,
                                                                     plan.optimized_cost)
        stats.optimization_applied = plan.optimization_applied
        stats.fragments, stats.workers_used = len(plan.fragments), len(plan.shards)
        _hook(ex, "set_optimization_info", plan.optimization_applied, plan.original_cost, plan.optimized_cost)
        _hook(ex, "set_plan", plan.text())
        _hook(coord, "record_optimization", plan.optimization_applied, plan.original_cost, plan.optimized_cost)
        _hook(coord, "record_query_start", qid, stats.fragments, stats.workers_used)
        answers = self._run(ex, result, plan)
        if result.ok:
            self._merge(ex, result, plan, answers)
        if result.ok:
            size = len(pickle.dumps((result.columns, result.rows), protocol=pickle.HIGHEST_PROTOCOL))
            self.cache.put(key, (tuple(result.columns), tuple(result.rows), stats.query_type), size)
        return self._finish(ex, result, started)

    def _run(self, ex: Any, result: QueryResult, plan: QueryPlan) -> list[FragmentAnswer]:
        """Coordination (routing, request encoding) then execution (fan-out and wait) phases."""
        stats = result.stats
        _hook(ex, "start_coordination")
        t0 = time.perf_counter()
        run = next(self._runs)
        heavy = (run // self.burst_every) % len(plan.fragments) \
            if self.burst_every and run % self.burst_every == 0 and len(plan.fragments) > 1 else -1
        jobs = [(self.worker_ids[f.shard], f"{stats.query_id}-f{i}",
                 encode_request("query", f.sql, repeat=self.burst_factor if i == heavy else 1))
                for i, f in enumerate(plan.fragments)]
        stats.coordination_seconds = time.perf_counter() - t0
        _hook(ex, "end_coordination")
        _hook(ex, "start_execution")
        t1 = time.perf_counter()
        futures = [self._pool.submit(self._timed_fragment, wid, fid, body, result.sql, t1)
                   for wid, fid, body in jobs]
        done, _ = wait(futures, timeout=self.fragment_timeout * 2 + 1)
        answers = []
        for future, (wid, fid, _) in zip(futures, jobs, strict=False):
            if future not in done:  # never answered: no duration to record
                answers.append(FragmentAnswer(fid, ok=False, error=f"{wid} timed out"))
                continue
            answer, queued, seconds = future.result()
            _hook(ex, "record_fragment", wid, seconds, answer.row_count, answer.request_bytes + answer.answer_bytes,
                  queued)
            answers.append(answer)
        stats.execution_seconds = time.perf_counter() - t1
        _hook(ex, "end_execution")
        answered = [a for a in answers if a.answer_bytes]
        stats.rows_processed = sum(a.row_count for a in answers)
        stats.bytes_transferred = sum(a.request_bytes + a.answer_bytes for a in answers)
        stats.worker_cache_hits = sum(a.cache_hit for a in answers)
        if answered:
            stats.network_latency_seconds = sum(a.network_seconds for a in answered) / len(answered)
        errors = [f"{wid}: {a.error}" for a, (wid, _, _) in zip(answers, jobs, strict=False) if not a.ok]
        if errors:
            result.error = "; ".join(errors)
        return answers

    def _merge(self, ex: Any, result: QueryResult, plan: QueryPlan, answers: list[FragmentAnswer]) -> None:
        """Aggregation phase: decode the fragments' rows and run the merge step."""
        _hook(ex, "start_aggregation")
        t0 = time.perf_counter()
        try:
            for answer in answers:
                answer.decode()
            result.columns, result.rows = merge_answers(
                plan, [(f.target, a.columns, a.rows) for f, a in zip(plan.fragments, answers, strict=False)])
        except (sqlite3.Error, pickle.PickleError, ValueError) as exc:
            result.error = f"merge failed: {type(exc).__name__}: {exc}"
        result.stats.aggregation_seconds = time.perf_counter() - t0
        _hook(ex, "end_aggregation")
        _hook(self.coordinator_monitor, "record_aggregation_time", timedelta(seconds=result.stats.aggregation_seconds))

    def _finish(self, ex: Any, result: QueryResult, started: float) -> QueryResult:
        """Report the query's totals to the monitors and return the result."""
        stats = result.stats
        stats.total_seconds = time.perf_counter() - started
        _hook(ex, "set_worker_info", stats.workers_used, stats.fragments)
        _hook(ex, "set_data_info", stats.rows_processed, stats.bytes_transferred)
        _hook(ex, "set_network_latency", stats.network_latency_seconds)
        if stats.cache_hit:
            _hook(ex, "set_optimization_info", False, 0.0, 0.0)
        if result.error:
            _hook(ex, "set_error", result.error)
            logger.debug("query %s failed: %s", stats.query_id, result.error)
        _hook(ex, "finish")
        _hook(self.coordinator_monitor, "record_query_end", stats.query_id, result.ok)
        return result

    def _timed_fragment(self, wid: str, fid: str, body: bytes, sql: str,
                        submitted: float) -> tuple[FragmentAnswer, float, float]:
        """`_fragment` with the seconds it waited for a pool thread and the seconds it then took."""
        started = time.perf_counter()
        answer = self._fragment(wid, fid, body, sql)
        return answer, started - submitted, time.perf_counter() - started

    def _fragment(self, wid: str, fid: str, body: bytes, sql: str) -> FragmentAnswer:
        """Run one fragment on one worker and report it to that worker's monitor."""
        monitor = self.worker_monitors.get(wid)
        _hook(monitor, "record_query_start", fid)
        answer = self.workers[wid].execute(fid, timeout=self.fragment_timeout, encoded=body, decode=False)
        if answer.answer_bytes:
            _hook(monitor, "record_network_activity", answer.request_bytes, answer.answer_bytes, answer.network_seconds)
            _hook(monitor, "heartbeat")
            _hook(monitor, "record_cache_hit" if answer.cache_hit else "record_cache_miss")
            for _ in range(answer.cache_evictions):
                _hook(monitor, "record_cache_eviction")
            _hook(monitor, "set_cache_size", answer.cache_bytes)
        if not answer.ok:
            _hook(monitor, "record_error", answer.error or "fragment failed", query=sql, severity="error")
        # Processed: what the worker read from its shard; sent: its answer (record_network_activity above).
        _hook(monitor, "record_query_end", fid, answer.ok, answer.row_count, answer.read_bytes or 0)
        return answer

    def close(self) -> None:
        """Stop every worker process and the fan-out threads."""
        if self._closed:
            return
        self._closed = True
        for worker in self.workers.values():
            worker.stop()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> DemoCluster:
        """Context manager entry: the running cluster."""
        return self

    def __exit__(self, *exc: Any) -> None:
        """Context manager exit: close()."""
        self.close()
