"""limits.cardinality: the per-worker series each level exports, and that quantiles survive at low."""
from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.cluster.worker_metrics import (
    FINE_FRAGMENT_DURATION_BUCKETS,
    FINE_NETWORK_LATENCY_BUCKETS,
    FRAGMENT_DURATION_BUCKETS,
    NETWORK_LATENCY_BUCKETS,
)
from bytedb_exporter.metrics.registry import MetricsRegistry


def busy_worker(cardinality: str) -> tuple[WorkerMonitor, dict[str, int]]:
    """A worker that ran queries, and its exported series per family (sample lines of /metrics)."""
    monitor = WorkerMonitor("worker-1", MetricsRegistry(), data_path=None, cardinality=cardinality)
    for query in range(4):
        monitor.record_query_start(str(query))
        monitor.record_query_end(str(query), query != 3, rows_processed=10, bytes_processed=100)
    monitor.record_network_activity(100, 10, latency=0.002)
    monitor.update_resource_metrics()
    families: dict[str, int] = {}
    for line in generate_latest(monitor.registry.collector_registry).decode().splitlines():
        if line.startswith("bytedb_worker") and 'worker_id="worker-1"' in line:
            name = line.split("{", 1)[0].removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
            families[name] = families.get(name, 0) + 1
    return monitor, families


HISTOGRAMS = ("bytedb_worker_query_duration_seconds", "bytedb_worker_network_latency_seconds")


def test_low_exports_no_per_worker_histogram_but_keeps_every_other_family() -> None:
    _, low = busy_worker("low")
    _, default = busy_worker("default")
    assert all(name not in low for name in HISTOGRAMS) and all(name in default for name in HISTOGRAMS)
    assert set(default) - set(low) == set(HISTOGRAMS)
    assert {name: n for name, n in default.items() if name not in HISTOGRAMS} == low


def test_default_and_high_differ_by_the_buckets_of_the_per_worker_histograms() -> None:
    _, default = busy_worker("default")
    _, high = busy_worker("high")
    # buckets + the +Inf bucket, _count and _sum
    assert default["bytedb_worker_query_duration_seconds"] == len(FRAGMENT_DURATION_BUCKETS) + 3
    assert high["bytedb_worker_query_duration_seconds"] == len(FINE_FRAGMENT_DURATION_BUCKETS) + 3
    assert high["bytedb_worker_network_latency_seconds"] == len(FINE_NETWORK_LATENCY_BUCKETS) + 3
    assert default["bytedb_worker_network_latency_seconds"] == len(NETWORK_LATENCY_BUCKETS) + 3
    assert {k: v for k, v in high.items() if k not in HISTOGRAMS} == {
        k: v for k, v in default.items() if k not in HISTOGRAMS}


def test_at_low_the_worker_still_reports_its_quantiles() -> None:
    monitor, _ = busy_worker("low")
    performance = monitor.get_worker_stats().performance
    assert performance.latency_p50 is not None and performance.latency_p99 is not None


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="cardinality must be one of low, default, high"):
        WorkerMonitor("worker-1", MetricsRegistry(), data_path=None, cardinality="all")
