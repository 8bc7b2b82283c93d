"""Cost of the metrics wrappers and of a full query lifecycle, as ratios to raw prometheus_client.

Run: python bench/bench_core.py. Every ratio is candidate / baseline measured in alternating rounds of
this run (best of ROUNDS), so it holds on a noisy machine; targets are printed with their verdicts.
"""
from __future__ import annotations

import gc
import itertools
import os
import threading
import time
import timeit
from collections.abc import Callable
from typing import NamedTuple

import prometheus_client
import psutil
import report
from prometheus_client import CollectorRegistry

from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.query.monitor import (
    BYTES_BUCKETS,
    COST_REDUCTION_BUCKETS,
    DURATION_BUCKETS,
    FRAGMENT_BUCKETS,
    RATIO_BUCKETS,
    ROWS_BUCKETS,
    TIMER_BUCKETS,
    WORKER_BUCKETS,
    QueryMonitor,
)

ROUNDS = 15
SQL = "SELECT * FROM employees WHERE salary > 70000"


def best_pair(baseline, candidate, number: int) -> tuple[float, float]:
    """Best seconds per call of two statements measured in alternating rounds (load drifts hit both)."""
    best = [float("inf"), float("inf")]
    for _ in range(ROUNDS):
        for index, statement in enumerate((baseline, candidate)):
            best[index] = min(best[index], timeit.timeit(statement, number=number) / number)
    return best[0], best[1]


def raw_query_updates():
    """The prometheus_client updates one finished query performs, done directly."""
    r = CollectorRegistry()
    h = prometheus_client.Histogram
    total = prometheus_client.Counter("q", "q", ["query_type", "status"], registry=r).labels("SELECT", "success")
    active = prometheus_client.Gauge("a", "a", registry=r)
    duration = h("d", "d", ["query_type"], buckets=DURATION_BUCKETS, registry=r).labels("SELECT")
    phase_family = h("p", "p", ["phase"], buckets=TIMER_BUCKETS, registry=r)
    phases = [phase_family.labels(p) for p in ("planning", "execution", "aggregation", "coordination")]
    latency = h("l", "l", buckets=TIMER_BUCKETS, registry=r)
    rows = h("r", "r", buckets=ROWS_BUCKETS, registry=r)
    size = h("b", "b", buckets=BYTES_BUCKETS, registry=r)
    workers = h("w", "w", buckets=WORKER_BUCKETS, registry=r)
    fragments = h("f", "f", buckets=FRAGMENT_BUCKETS, registry=r)
    optimizations = prometheus_client.Counter("o", "o", registry=r)
    reduction = h("c", "c", buckets=COST_REDUCTION_BUCKETS, registry=r)
    cache = h("h", "h", buckets=RATIO_BUCKETS, registry=r)

    def updates():
        active.inc()
        total.inc()
        duration.observe(0.012)
        active.dec()
        for phase in phases:
            phase.observe(0.003)
        latency.observe(0.001)
        rows.observe(1500)
        size.observe(127500)
        workers.observe(3)
        fragments.observe(5)
        optimizations.inc()
        reduction.observe(0.4)
        cache.observe(0.785)

    return updates


def wrapped_lifecycle(monitor: QueryMonitor | None = None):
    """A full lifecycle through QueryMonitor: start, four phases, every setter, finish."""
    monitor = monitor or QueryMonitor(MetricsRegistry())

    def lifecycle():
        execution = monitor.start_query_monitoring("query-123", "SELECT * FROM employees WHERE salary > 70000")
        execution.set_query_type("SELECT")
        execution.start_planning()
        execution.end_planning()
        execution.start_execution()
        execution.end_execution()
        execution.start_aggregation()
        execution.end_aggregation()
        execution.start_coordination()
        execution.end_coordination()
        execution.set_worker_info(3, 5)
        execution.set_data_info(1500, 127500)
        execution.set_optimization_info(True, 150.0, 90.0)
        execution.set_cache_info(78.5)
        execution.set_network_latency(0.001)
        execution.finish()

    return lifecycle


def set_facts(execution) -> None:
    execution.set_worker_info(3, 5)
    execution.set_data_info(1500, 127500)
    execution.set_optimization_info(True, 150.0, 90.0)
    execution.set_cache_info(78.5)
    execution.set_network_latency(0.001)


def phase_block_lifecycle(monitor: QueryMonitor | None = None, texts: Callable[[], str] | None = None):
    """The same lifecycle with `with execution.phase(...)` blocks; `texts` gives each query's SQL."""
    monitor = monitor or QueryMonitor(MetricsRegistry())
    next_sql = texts or (lambda: SQL)

    def lifecycle():
        execution = monitor.start_query_monitoring("query-123", next_sql())
        execution.set_query_type("SELECT")
        with execution.phase("planning"):
            pass
        with execution.phase("execution"):
            pass
        with execution.phase("aggregation"):
            pass
        with execution.phase("coordination"):
            pass
        set_facts(execution)
        execution.finish()

    return lifecycle


def arriving_texts(distinct: bool) -> Callable[[], str]:
    """Each query's SQL as an engine hands it over: a new str formatted from the query's literals. With
    `distinct` the literals differ per query (every cache misses; all fold to one statement), else they are
    always the same; either way the text is a new object, hashed and read afresh like one off the wire."""
    numbers = itertools.count()

    def next_text() -> str:
        n = next(numbers) if distinct else 70_000
        return f"SELECT name, salary FROM employees WHERE salary > {n} AND dept = 'd{n % 97}'"

    return next_text


def run_on_threads(run: Callable[[], None], threads: int) -> float:
    """Start `threads` threads running `run`, wait for all; the perf_counter when they were started."""
    workers = [threading.Thread(target=run) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return started


def threads_throughput(queries: int, threads: int) -> float:
    """Seconds for `threads` threads to run `queries` lifecycles in all on one monitor, until a reader sees them
    all (records still queued when the threads end are applied within the time: the same work on both sides)."""
    monitor = QueryMonitor(MetricsRegistry())
    lifecycle = wrapped_lifecycle(monitor)
    share = queries // threads

    def run() -> None:
        for _ in range(share):
            lifecycle()

    started = run_on_threads(run, threads)
    recorded = monitor.get_query_stats().total_queries
    elapsed = time.perf_counter() - started
    assert recorded == share * threads, (recorded, share * threads)
    return elapsed


def plain_loop_seconds(iterations: int, threads: int) -> float:
    """Seconds for `threads` threads to share a pure-Python loop with no shared state: what the GIL alone
    gives 8 threads against 1 on this machine (the ceiling of the 8-thread target)."""
    share = iterations // threads

    def run() -> None:
        total = 0
        for n in range(share):
            total += n % 7

    started = run_on_threads(run, threads)
    return time.perf_counter() - started


def metric_calls() -> None:
    """By-name lookup, labelled children and the timer against what prometheus_client does for the same."""
    registry = MetricsRegistry()
    held = registry.counter("looked_up")
    raw, by_name = best_pair(lambda: held.inc(), lambda: registry.counter("looked_up").inc(), 100_000)
    report.check("registry.counter(name).inc() vs a held counter", by_name / raw, 1.3,
                 detail=f"{by_name * 1e9:.0f} vs {raw * 1e9:.0f} ns")
    raw_family = prometheus_client.Counter("raw_labelled", "r", ["worker_id"], registry=CollectorRegistry())
    raw_child = raw_family.labels("w1")
    child = registry.counter("labelled", labels={"worker_id": "w1"})
    raw, wrapped = best_pair(raw_child.inc, child.inc, 100_000)
    report.check("held labelled counter inc vs raw labelled child", wrapped / raw, 1.2,
                 detail=f"{wrapped * 1e9:.0f} vs {raw * 1e9:.0f} ns")
    raw, wrapped = best_pair(lambda: raw_family.labels(worker_id="w1").inc(),
                             lambda: registry.counter("labelled", labels={"worker_id": "w1"}).inc(), 50_000)
    report.check("labelled lookup by name + inc vs raw .labels(...).inc()", wrapped / raw, 1.3,
                 detail=f"{wrapped * 1e9:.0f} vs {raw * 1e9:.0f} ns")
    raw_histogram = prometheus_client.Histogram("raw_timer", "r", buckets=TIMER_BUCKETS, registry=CollectorRegistry())
    timer = registry.timer("timed")

    def raw_timed() -> None:
        with raw_histogram.time():
            pass

    def wrapped_timed() -> None:
        with timer.time():
            pass

    raw, wrapped = best_pair(raw_timed, wrapped_timed, 50_000)
    report.check("with timer.time() vs raw Histogram.time()", wrapped / raw, 1.2,
                 detail=f"{wrapped * 1e9:.0f} vs {raw * 1e9:.0f} ns")


def lifecycles() -> None:
    """The lifecycle against its raw updates, with phase blocks, with distinct texts, and on 8 threads."""
    raw, wrapped = best_pair(raw_query_updates(), wrapped_lifecycle(), 10_000)
    report.check("query lifecycle (start/end methods) vs raw updates", wrapped / raw, 1.1,
                 detail=f"{wrapped * 1e6:.2f} vs {raw * 1e6:.2f} us")
    raw, wrapped = best_pair(raw_query_updates(), phase_block_lifecycle(), 10_000)
    report.check("query lifecycle (with ex.phase()) vs raw updates", wrapped / raw, 1.1,
                 detail=f"{wrapped * 1e6:.2f} vs {raw * 1e6:.2f} us")
    repeated, distinct = best_pair(phase_block_lifecycle(texts=arriving_texts(False)),
                                  phase_block_lifecycle(texts=arriving_texts(True)), 10_000)
    report.check("distinct SQL texts vs one repeated text", distinct / repeated, 1.2,
                 detail=f"{distinct * 1e6:.2f} vs {repeated * 1e6:.2f} us")
    spread = eight_versus_one()
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})  # the same on one core: no hand-over of the GIL between cores
    try:
        pinned = eight_versus_one()
    finally:
        os.sched_setaffinity(0, allowed)
    report.check("8 threads' throughput vs one thread's", spread.monitor, 1.0, at_least=True,
                 detail=f"{spread.eight_qps:.0f} vs {spread.one_qps:.0f} queries/s; a plain Python loop with no "
                        f"shared state: {spread.loop:.2f}x; both pinned to one core: {pinned.monitor:.2f}x and "
                        f"{pinned.loop:.2f}x")


class ThreadRatios(NamedTuple):
    """8-vs-1-thread throughput ratios of the monitor and of a plain loop; the monitor's queries/s on 8 and 1."""

    monitor: float
    loop: float
    eight_qps: float
    one_qps: float


def eight_versus_one() -> ThreadRatios:
    """ThreadRatios from the best of 5 alternating rounds each."""
    best_one = best_eight = loop_one = loop_eight = float("inf")
    for _ in range(5):
        best_one = min(best_one, threads_throughput(40_000, 1))
        best_eight = min(best_eight, threads_throughput(40_000, 8))
        loop_one = min(loop_one, plain_loop_seconds(4_000_000, 1))
        loop_eight = min(loop_eight, plain_loop_seconds(4_000_000, 8))
    return ThreadRatios(best_one / best_eight, loop_one / loop_eight, 40_000 / best_eight, 40_000 / best_one)


def top_queries() -> None:
    """get_top_queries(10) on a full table of 5,000 texts against one of 50: O(k), not O(table)."""
    timings = []
    for size in (50, 5000):
        monitor = QueryMonitor(MetricsRegistry(), top_queries_size=size)
        for n in range(size):
            execution = monitor.start_query_monitoring(f"q{n}", f"SELECT c{n} FROM t")
            execution.finish(total_seconds=0.001 * (n % 113))
        timings.append(lambda monitor=monitor: monitor.get_top_queries(10))
    small, large = best_pair(timings[0], timings[1], 2_000)
    report.check("get_top_queries(10): 5,000-text table vs 50", large / small, 1.5,
                 detail=f"{large * 1e6:.1f} vs {small * 1e6:.1f} us")


def memory_growth() -> None:
    """RSS after 100k queries with distinct texts, then after 500k more: the lifecycle keeps no more memory."""
    lifecycle = phase_block_lifecycle(texts=arriving_texts(True))
    process = psutil.Process()
    for _ in range(100_000):
        lifecycle()
    gc.collect()
    before = process.memory_info().rss
    for _ in range(500_000):
        lifecycle()
    gc.collect()
    grown = (process.memory_info().rss - before) / 2**20
    report.check("RSS growth from 100k to 600k queries", grown, 2.0, unit=" MiB")


def main() -> None:
    metric_calls()
    lifecycles()
    top_queries()
    memory_growth()


if __name__ == "__main__":
    main()
