"""Cost of the metrics wrappers and of a full query lifecycle, as ratios to raw prometheus_client.

Run: python bench/bench_core.py  (targets: counter inc <= 1.2x raw; lifecycle <= 1.5x raw updates).
Each figure is the best of several rounds measured in this run, so the ratio holds on a noisy machine.
"""
from __future__ import annotations

import timeit

import prometheus_client
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


def best_per_call(statement, number: int) -> float:
    """Best seconds per call over ROUNDS rounds."""
    return min(timeit.repeat(statement, number=number, repeat=ROUNDS)) / number


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


def wrapped_lifecycle():
    """A full lifecycle through QueryMonitor: start, four phases, every setter, finish."""
    monitor = QueryMonitor(MetricsRegistry())

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


def main() -> None:
    raw_counter = prometheus_client.Counter("raw", "raw", registry=CollectorRegistry())
    wrapped_counter = MetricsRegistry().counter("wrapped")
    raw_inc, wrapped_inc = best_pair(raw_counter.inc, wrapped_counter.inc, 200_000)
    print(f"counter.inc      raw {raw_inc * 1e9:7.1f} ns  wrapper {wrapped_inc * 1e9:7.1f} ns  "
          f"ratio {wrapped_inc / raw_inc:.2f}x (target <= 1.2x)")
    registry = MetricsRegistry()
    registry.counter("looked_up")
    lookup = best_per_call(lambda: registry.counter("looked_up").inc(), 100_000)
    print(f"lookup+inc       {lookup * 1e9:7.1f} ns  ratio to raw inc {lookup / raw_inc:.2f}x (lock-free lookup)")
    raw, wrapped = best_pair(raw_query_updates(), wrapped_lifecycle(), 10_000)
    print(f"query lifecycle  raw {raw * 1e6:7.2f} us  monitor {wrapped * 1e6:7.2f} us  "
          f"ratio {wrapped / raw:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
