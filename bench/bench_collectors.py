"""Scrape cost with 1, 10, 100 and 1000 registered workers, its ratio to one worker, and the exposition per series
against plain prometheus_client.

Run: python bench/bench_collectors.py  (target: the scrape-time collectors of 100 workers well under
50 ms; cost grows linearly with the workers). Prints figures only, each the best of several rounds:
- collectors: collect() of the worker and cluster collectors (what this package computes per scrape);
- scrape: a full `generate_latest` of a registry holding a coordinator and its worker monitors;
- format floor: `generate_latest` of the same families collected beforehand, i.e. prometheus_client's
  own text formatting of that many series, which any exporter of these families pays.
Targets (report.check): the exporter's exposition (`exposition_registry`, what /metrics builds) per series <=
1.1x `generate_latest` of a plain registry of labeled gauges holding the same series, at 1, 100 and 1000
workers; the merge step (`_merge` of the collected families) <= 5 % of that exposition.
"""
from __future__ import annotations

import logging
import timeit

import report
from minimal_exporter import registry_of
from prometheus_client import CollectorRegistry, generate_latest

from bytedb_exporter.cluster.collectors import ClusterCollector, WorkerCollector
from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.prometheus.exposition import _merge, exposition_registry

ROUNDS = 7
SIZES = (1, 10, 100, 1000)
CHECKED = (1, 100, 1000)


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
    number = max(1, 300 // workers)
    exposition = exposition_registry(lambda: [collector_registry])
    text = generate_latest(exposition).decode()
    plain = registry_of(text)
    families = list(collector_registry.collect())
    ours_ms, plain_ms = [], []
    for _ in range(ROUNDS):  # alternating rounds, best of each
        ours_ms.append(1000 * timeit.timeit(lambda: generate_latest(exposition), number=number) / number)
        plain_ms.append(1000 * timeit.timeit(lambda: generate_latest(plain), number=number) / number)
    return {
        "series": sum(1 for line in text.splitlines() if line and not line.startswith("#")),
        "exposition": min(ours_ms),
        "plain": min(plain_ms),
        "merge": best_ms(lambda: _merge(families), number),
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
    for workers in CHECKED:
        r = results[workers]
        per_series, plain = 1000 * r["exposition"] / r["series"], 1000 * r["plain"] / r["series"]
        report.check(f"exposition per series vs plain, {workers} workers", r["exposition"] / r["plain"], 1.1,
                     detail=f"{per_series:.1f} vs {plain:.1f} us, {r['series']} series, {r['exposition']:.1f} ms")
        report.check(f"merge step share of the exposition, {workers} workers", 100 * r["merge"] / r["exposition"],
                     5.0, unit="%", detail=f"{r['merge']:.3f} of {r['exposition']:.2f} ms")


if __name__ == "__main__":
    main()
