"""Integration tests: a real 3-worker DemoCluster (child processes, SQLite shards) with recording monitors."""
from __future__ import annotations

import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest

from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.demo.dataset import DatasetSpec, build_shards
from bytedb_exporter.demo.engine import DemoCluster, worker_names
from bytedb_exporter.demo.worker_process import WorkerProcess
from bytedb_exporter.demo.workload import run
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.query.monitor import QueryMonitor

SPEC = DatasetSpec(employees=900, departments=12, sales=9000, seed=11)
ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    """The only fake: records every call made on it (and on the executions it hands out)."""

    def __init__(self, log: list[tuple[str, str, tuple[Any, ...]]], name: str) -> None:
        self.log, self.name, self.lock = log, name, threading.Lock()

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.log.append((self.name, method, args + tuple(sorted(kwargs.items()))))
            if method == "start_query_monitoring":
                return Recorder(self.log, f"ex:{args[0]}")
            return {"finished": True} if method == "finish" else None
        return call


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[tuple[DemoCluster, list[tuple[str, str, tuple[Any, ...]]]]]:
    """A started cluster with recording monitors; closed at the end."""
    log: list[tuple[str, str, tuple[Any, ...]]] = []
    monitors = {wid: Recorder(log, wid) for wid in worker_names(3)}
    with DemoCluster(tmp_path / "data", 3, SPEC, query_monitor=Recorder(log, "queries"), worker_monitors=monitors,
                     coordinator_monitor=Recorder(log, "coordinator"), fragment_timeout=3.0,
                     worker_cache_bytes=8 * 1024) as demo:
        yield demo, log


def test_workload_drives_every_hook(cluster: tuple[DemoCluster, list[Any]]) -> None:
    demo, log = cluster
    results = []
    summary = run(demo, qps=500, max_queries=60, on_result=lambda q, r: results.append((q, r)), error_rate=0.1)
    assert summary.queries == 60 and len(results) == 60
    for query, result in results:
        assert result.ok != query.expect_error, (query.sql, result.error)
    ok = [r for _, r in results if r.ok and not r.stats.cache_hit]
    assert ok and any(r.stats.cache_hit for _, r in results)
    for r in ok:
        s = r.stats
        assert s.planning_seconds > 0 and s.execution_seconds > 0 and s.aggregation_seconds >= 0
        assert s.coordination_seconds > 0 and s.network_latency_seconds > 0 and s.bytes_transferred > 0
        assert 1 <= s.workers_used <= 3 and s.fragments >= s.workers_used and s.optimized_cost > 0
        assert s.total_seconds >= s.planning_seconds + s.execution_seconds
    for qid in {r.stats.query_id for _, r in results}:
        calls = [(m, a) for n, m, a in log if n == f"ex:{qid}"]
        methods = [m for m, _ in calls]
        assert methods[-1] == "finish" and "set_cache_info" in methods and "set_query_type" in methods
        if "start_execution" in methods:
            order = ["start_planning", "end_planning", "start_coordination", "end_coordination",
                     "start_execution", "end_execution", "start_aggregation", "end_aggregation"]
            positions = [methods.index(m) for m in order if m in methods]
            assert positions == sorted(positions) and len(positions) >= 6
            rows, size = dict(calls)["set_data_info"]
            assert size > 0
            assert dict(calls)["set_network_latency"][0] > 0
    coordinator = [(m, a) for n, m, a in log if n == "coordinator"]
    starts = [a for m, a in coordinator if m == "record_query_start"]
    ends = [a for m, a in coordinator if m == "record_query_end"]
    assert len(starts) == len(ends) == 60 and sum(1 for a in ends if not a[1]) == summary.failed
    assert any(m == "record_optimization" and a[0] and a[2] < a[1] for m, a in coordinator)
    assert all(isinstance(a[0], timedelta) for m, a in coordinator if m.endswith("_time"))
    worker_calls = [(n, m, a) for n, m, a in log if n.startswith("worker-")]
    for wid in worker_names(3):
        methods = {m for n, m, _ in worker_calls if n == wid}
        assert {"record_query_start", "record_query_end", "record_network_activity", "heartbeat",
                "set_cache_size"} <= methods
    assert any(m == "record_cache_hit" for _, m, _ in worker_calls)
    assert any(m == "record_cache_miss" for _, m, _ in worker_calls)
    assert any(m == "record_cache_eviction" for _, m, _ in worker_calls)
    assert all(a[2] >= 0 and a[3] >= 0 for _, m, a in worker_calls if m == "record_query_end" and a[1])


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="the demo reads bytes read from /proc/self/io")
def test_workers_report_bytes_read_apart_from_bytes_sent(tmp_path: Path) -> None:
    """Processed bytes are what a worker read from its shard, sent bytes its answers: two figures, so the
    data transfer reduction (100 - 100 x sent / processed) is measured, not 0 by construction."""
    coordinator = CoordinatorMonitor(MetricsRegistry())
    monitors = {wid: WorkerMonitor(wid, MetricsRegistry(), data_path=None) for wid in worker_names(3)}
    for wid, monitor in monitors.items():
        coordinator.register_worker(wid, monitor)
    try:
        with DemoCluster(tmp_path / "data", 3, SPEC, worker_monitors=monitors, coordinator_monitor=coordinator,
                         worker_cache_bytes=8 * 1024) as demo:
            summary = run(demo, qps=500, max_queries=40, error_rate=0.0)
        assert summary.queries == 40
        stats = [monitor.get_worker_stats() for monitor in monitors.values()]
        processed = sum(st.query_stats.bytes_processed for st in stats)
        sent = sum(st.network_stats.bytes_sent for st in stats)
        assert processed > 0 and sent > 0 and processed != sent
        reduction = coordinator.get_coordinator_stats().optimization_metrics.data_transfer_reduction_percent
        assert reduction == pytest.approx(100 - 100 * sent / processed) and reduction != 0.0
    finally:
        for monitor in monitors.values():
            monitor.close()


def test_invalid_queries_fail_and_cluster_keeps_working(cluster: tuple[DemoCluster, list[Any]]) -> None:
    demo, log = cluster
    for sql in ("SELECT bonus FROM employees", "SELEC name FROM employees", "DROP TABLE employees"):
        result = demo.execute(sql)
        assert not result.ok and result.error
        errors = [a for n, m, a in log if n == f"ex:{result.stats.query_id}" and m == "set_error"]
        assert errors and errors[0][0] == result.error
    good = demo.execute("SELECT COUNT(*) AS n FROM employees")
    assert good.ok and good.rows == [(SPEC.employees,)]
    assert all(w.is_alive() for w in demo.workers.values())


def test_worker_answers_bad_sql_with_an_error(tmp_path: Path) -> None:
    path = build_shards(tmp_path, 1, SPEC)[0]
    worker = WorkerProcess("w", path)
    worker.start()
    try:
        bad = worker.execute("f1", "SELECT nope FROM employees")
        assert not bad.ok and "no such column" in (bad.error or "")
        good = worker.execute("f2", "SELECT COUNT(*) FROM employees")
        assert good.ok and good.rows == [(SPEC.employees,)] and good.result_bytes > 0 and good.exec_seconds > 0
        assert psutil.Process(worker.pid).is_running()
    finally:
        worker.stop()


def test_killed_worker_gives_errors_not_a_hang(cluster: tuple[DemoCluster, list[Any]]) -> None:
    demo, log = cluster
    assert demo.worker_ids == ["worker-1", "worker-2", "worker-3"]  # shard i is worker-<i+1>
    victim = demo.workers["worker-2"]
    os.kill(victim.pid, signal.SIGKILL)
    victim._process.join(5)
    started = time.monotonic()
    result = demo.execute("SELECT city, COUNT(*) AS n FROM employees GROUP BY city ORDER BY city")
    assert time.monotonic() - started < demo.fragment_timeout
    assert not result.ok and "worker-2" in (result.error or "")
    assert any(n == "worker-2" and m == "record_error" for n, m, _ in log)
    other = demo.execute("SELECT id FROM employees WHERE id = 3")  # 3 % 3 = shard 0: pruned to worker-1
    assert other.ok and other.rows == [(3,)]
    assert demo.restart_dead_workers() == ["worker-2"]
    assert demo.execute("SELECT COUNT(*) AS n FROM sales WHERE region = 'north'").ok


def test_close_leaves_no_children(tmp_path: Path) -> None:
    demo = DemoCluster(tmp_path / "data", 3, SPEC)
    pids = [pid for pid in demo.worker_pids.values() if pid]
    assert len(pids) == 3 and all(psutil.pid_exists(pid) for pid in pids)
    assert demo.execute("SELECT COUNT(*) FROM departments").ok
    demo.close()
    assert not multiprocessing.active_children()
    assert not [p for p in psutil.Process().children(recursive=True) if p.pid in pids and p.is_running()
                and p.status() != psutil.STATUS_ZOMBIE]


def test_worker_stops_on_sigterm_and_on_parent_death(tmp_path: Path) -> None:
    path = build_shards(tmp_path, 1, SPEC)[0]
    worker = WorkerProcess("w", path)
    worker.start()
    assert worker.ping(timeout=30)  # handlers are installed once the child answers
    os.kill(worker.pid, signal.SIGTERM)
    worker._process.join(5)
    assert worker._process.exitcode == 0
    worker.stop()
    script = textwrap.dedent(f"""
        import sys, time
        from bytedb_exporter.demo.worker_process import WorkerProcess
        if __name__ == "__main__":
            w = WorkerProcess("w", {str(path)!r}); w.start(); w.ping(30); print(w.pid, flush=True); time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=ROOT, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        child = int(parent.stdout.readline())
        assert psutil.pid_exists(child)
        parent.kill()
        parent.wait(5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and psutil.pid_exists(child):
            time.sleep(0.1)
        assert not psutil.pid_exists(child)
    finally:
        parent.kill()


def test_a_distributed_query_keeps_a_fragment_per_worker_and_its_plan(tmp_path: Path) -> None:
    queries = QueryMonitor(MetricsRegistry())
    with DemoCluster(tmp_path / "data", 3, SPEC, query_monitor=queries) as demo:
        result = demo.execute("SELECT department_id, COUNT(*) FROM employees GROUP BY department_id")
    assert result.ok, result.error
    found = queries.get_query(result.stats.query_id)
    assert found is not None and len(found.fragments) == result.stats.fragments
    assert {f.worker_id for f in found.fragments} == set(worker_names(3))
    assert all(f.seconds > 0 and f.queued_seconds >= 0 and f.bytes > 0 for f in found.fragments)
    assert sum(f.rows for f in found.fragments) == result.stats.rows_processed
    assert "fragment 0 on shard" in found.plan and "strategy=" in found.plan


def test_a_heavier_share_now_and_then_shows_as_fragment_skew(tmp_path: Path) -> None:
    queries = QueryMonitor(MetricsRegistry())
    sql = "SELECT COUNT(*), SUM(amount) FROM sales WHERE amount > {}"
    with DemoCluster(tmp_path / "data", 3, SPEC, query_monitor=queries, burst_every=2, burst_factor=200,
                     worker_cache_bytes=1, result_cache_bytes=1) as demo:
        results = [demo.execute(sql.format(i)) for i in range(12)][2:]  # after 2 warm-up runs
    assert all(r.ok for r in results), [r.error for r in results]
    skews = {}
    for r in results:
        found = queries.get_query(r.stats.query_id)
        fragments = found.fragments
        skews[r.stats.query_id] = max(f.seconds for f in fragments) / sorted(f.seconds for f in fragments)[1]
    ordered = [skews[r.stats.query_id] for r in results]
    heavy, light = ordered[1::2], ordered[0::2]  # runs 4, 6, 8, 10, 12 carry the heavier share
    # Medians: the shared cores add noise to single fragments, the heavier share shows through it.
    assert statistics.median(heavy) > 3 * statistics.median(light), ordered
