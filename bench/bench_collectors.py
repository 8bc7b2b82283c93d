"""Scrape cost with 1, 100 and 1000 registered workers, per series, against plain prometheus_client.

Run: python bench/bench_collectors.py. For each size, best of ROUNDS rounds in alternation:
- exposition per series: `generate_latest` of what /metrics serves (the merged source registries, the
  worker and cluster collectors, the process collector) against a plain prometheus_client registry of
  labelled gauges holding the same series (same names, labels and values): target <= 1.1x;
- merge step: the same exposition against the same collectors registered in one CollectorRegistry
  (what the merge of the monitors' registries adds): target <= 5 %;
- collectors: collect() of the worker and cluster collectors alone, and the exposition size.
"""
from __future__ import annotations

import logging
import timeit

import report
from prometheus_client import CollectorRegistry, Gauge, ProcessCollector, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bytedb_exporter.cluster.collectors import ClusterCollector, WorkerCollector
from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.prometheus.exposition import exposition_registry

ROUNDS = 5
SIZES = (1, 100, 1000)


def build(workers: int) -> MetricsRegistry:
    """A registry with a coordinator and `workers` busy worker monitors (one psutil sample each)."""
    registry = MetricsRegistry()
    coordinator = CoordinatorMonitor(registry)
    for index in range(workers):
        monitor = WorkerMonitor(f"worker-{index}", registry, data_path=None)
        for query in range(5):
            monitor.record_query_start(str(query))
            monitor.record_query_end(str(query), query % 4 != 0, rows_processed=100, bytes_processed=4096)
        monitor.record_cache_hit()
        monitor.record_network_activity(1000, 200, latency=0.002)
        monitor.update_resource_metrics()
        coordinator.register_worker(monitor.worker_id, monitor)
    return registry


def plain_gauges(text: str) -> CollectorRegistry:
    """A registry of labelled gauges with the same series as this exposition (names, labels, values)."""
    registry = CollectorRegistry()
    families: dict[tuple[str, tuple[str, ...]], Gauge] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            names = tuple(sorted(sample.labels))
            gauge = families.get((sample.name, names))
            if gauge is None:
                gauge = families[(sample.name, names)] = Gauge(f"g{len(families)}_{sample.name}", "Plain gauge.",
                                                               names, registry=registry)
            (gauge.labels(**sample.labels) if names else gauge).set(sample.value)
    return registry


def best_pair(baseline, candidate, number: int) -> tuple[float, float]:
    """Best milliseconds per call of two callables measured in alternating rounds."""
    best = [float("inf"), float("inf")]
    for _ in range(ROUNDS):
        for index, func in enumerate((baseline, candidate)):
            best[index] = min(best[index], 1000 * timeit.timeit(func, number=number) / number)
    return best[0], best[1]


def measure(workers: int) -> None:
    """Print and check the per-series and merge ratios at this many workers."""
    registry = build(workers)
    served = exposition_registry(lambda: [registry.collector_registry])
    text = generate_latest(served).decode()
    series = sum(len(family.samples) for family in text_string_to_metric_families(text))
    number = max(2, 300 // workers)
    baseline = plain_gauges(text)
    plain, ours = best_pair(lambda: generate_latest(baseline), lambda: generate_latest(served), number)
    report.check(f"exposition per series vs plain gauges, {workers} workers", ours / plain, 1.1,
                 detail=f"{series} series, {ours:.1f} vs {plain:.1f} ms, {len(text) // 1024} KB")
    direct = CollectorRegistry(auto_describe=False)
    for collector in list(registry.collector_registry._collector_to_names):
        direct.register(collector)
    ProcessCollector(registry=direct)
    unmerged, merged = best_pair(lambda: generate_latest(direct), lambda: generate_latest(served), number)
    report.check(f"merge step, {workers} workers", 100 * (merged / unmerged - 1), 5.0, unit=" %",
                 detail=f"{merged:.1f} vs {unmerged:.1f} ms")
    ours_collectors = [c for c in registry.collector_registry._collector_to_names
                       if isinstance(c, (WorkerCollector, ClusterCollector))]
    collect_ms = 1000 * min(timeit.repeat(lambda: [list(c.collect()) for c in ours_collectors], number=number,
                                          repeat=ROUNDS)) / number
    print(f"  {workers} workers: worker and cluster collectors {collect_ms:.2f} ms of {merged:.1f} ms per scrape")


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    for workers in SIZES:
        measure(workers)


if __name__ == "__main__":
    main()
