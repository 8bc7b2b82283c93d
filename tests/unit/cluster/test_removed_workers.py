"""A worker taken out of the coordinator leaves no stale series: they are gone from the next scrape."""
from __future__ import annotations

from prometheus_client import generate_latest

from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.remote import RemoteWorkerMonitor
from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.metrics.registry import MetricsRegistry


def worker_ids(registry: MetricsRegistry) -> set[str]:
    text = generate_latest(registry.collector_registry).decode()
    return {line.split('worker_id="', 1)[1].split('"', 1)[0] for line in text.splitlines() if 'worker_id="' in line}


def test_an_unregistered_workers_series_disappear_and_the_others_stay():
    registry = MetricsRegistry()
    coordinator = CoordinatorMonitor(registry)
    for worker_id in ("w1", "w2"):
        monitor = WorkerMonitor(worker_id, registry, data_path=None)
        monitor.record_query_start("q")
        monitor.record_query_end("q", True, rows_processed=5, bytes_processed=50)
        coordinator.register_worker(worker_id, monitor)
    coordinator.register_worker("r1", RemoteWorkerMonitor("r1", "http://127.0.0.1:9", registry))
    assert worker_ids(registry) == {"w1", "w2", "r1"}
    coordinator.unregister_worker("w2")
    coordinator.unregister_worker("r1")
    assert worker_ids(registry) == {"w1"}
    again = WorkerMonitor("w2", registry, data_path=None)  # the id can come back, counting from zero
    coordinator.register_worker("w2", again)
    text = generate_latest(registry.collector_registry).decode()
    assert 'bytedb_worker_queries_total{status="success",worker_id="w2"} 0.0' in text
