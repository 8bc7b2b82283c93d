"""Scrape cost with 1, 10 and 100 registered workers, and its ratio to one worker.

Run: python bench/bench_collectors.py  (target: the scrape-time collectors of 100 workers well under
50 ms; cost grows linearly with the workers). Prints figures only, each the best of several rounds:
- collectors: collect() of the worker and cluster collectors (what this package computes per scrape);
- scrape: a full `generate_latest` of a registry holding a coordinator and its worker monitors;
- format floor: `generate_latest` of the same families collected beforehand, i.e. prometheus_client's
  own text formatting of that many series, which any exporter of these families pays.
"""
from __future__ import annotations

import logging
import timeit

from prometheus_client import CollectorRegistry, generate_latest

from bytedb_exporter.cluster.collectors import ClusterCollector, WorkerCollector
from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.metrics.registry import MetricsRegistry

ROUNDS = 7
SIZES = (1, 10, 100)


def build(workers: int) -> MetricsRegistry:
    """A registry with a coordinator and `workers` busy worker monitors (one psutil sample each)."""
    return build_cluster(workers).registry


def build_cluster(workers: int) -> CoordinatorMonitor:
    """A coordinator over `workers` busy worker monitors (one psutil sample each), all in one registry."""
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
    return coordinator


class Frozen:
    """Yields families collected once: generate_latest then measures formatting alone."""

    def __init__(self, families: list):
        self.families = families

    def collect(self) -> list:
        return self.families


def best_ms(func, number: int) -> float:
    """Best milliseconds per call over ROUNDS rounds."""
    return 1000 * min(timeit.repeat(func, number=number, repeat=ROUNDS)) / number


def measure(workers: int) -> dict:
    """Collector, full scrape and formatting-floor milliseconds, and the exposition size."""
    collector_registry = build(workers).collector_registry
    ours = [c for c in collector_registry._collector_to_names if isinstance(c, (WorkerCollector, ClusterCollector))]
    frozen = CollectorRegistry()
    frozen.register(Frozen(list(collector_registry.collect())))
    number = max(3, 300 // workers)
    return {
        "collectors": best_ms(lambda: [list(c.collect()) for c in ours], number),
        "scrape": best_ms(lambda: generate_latest(collector_registry), number),
        "floor": best_ms(lambda: generate_latest(frozen), number),
        "bytes": len(generate_latest(collector_registry)),
    }


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    results = {workers: measure(workers) for workers in SIZES}
    base = results[SIZES[0]]
    print(f"{'workers':>7} {'collectors ms':>13} {'x 1':>6} {'scrape ms':>10} {'x 1':>6} {'format floor ms':>15} "
          f"{'bytes':>8}")
    for workers, r in results.items():
        print(f"{workers:>7} {r['collectors']:>13.3f} {r['collectors'] / base['collectors']:>6.1f} "
              f"{r['scrape']:>10.2f} {r['scrape'] / base['scrape']:>6.1f} {r['floor']:>15.2f} {r['bytes']:>8}")


if __name__ == "__main__":
    main()
