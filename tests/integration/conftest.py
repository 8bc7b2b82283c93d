"""Fixtures: a small monitored cluster with recorded activity and an app over it."""
import pytest

from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.query.monitor import QueryMonitor
from bytedb_exporter.web.app import create_app


@pytest.fixture
def monitors():
    registry = MetricsRegistry()
    queries, coordinator = QueryMonitor(registry), CoordinatorMonitor(registry)
    workers = {}
    for wid in ("worker-1", "worker-2"):
        worker = WorkerMonitor(wid, MetricsRegistry())  # its own registry, as a remote worker has
        worker.update_resource_metrics()
        worker.heartbeat()
        coordinator.register_worker(wid, worker)
        workers[wid] = worker
    for i in range(6):
        with queries.monitor_query(f"q{i}", f"SELECT * FROM employees WHERE salary > {70000 + i}") as ex:
            ex.set_worker_info(2, 2)
            ex.set_data_info(100, 4096)
            ex.set_optimization_info(True, 100.0, 60.0)
        for wid, worker in workers.items():
            worker.record_query_start(f"q{i}-{wid}")
            worker.record_query_end(f"q{i}-{wid}", True, 50, 2048)
    failed = queries.start_query_monitoring("bad", "SELECT nope FROM employees")
    failed.set_error("no such column: nope")
    failed.finish()
    yield queries, coordinator, workers
    for worker in workers.values():
        worker.close()


@pytest.fixture
def app(monitors):
    queries, coordinator, _ = monitors
    app = create_app(coordinator, queries, stream_interval=0.05, keepalive=0.1, start_stream=False)
    yield app
    app.extensions["bytedb"].hub.stop()


@pytest.fixture
def client(app):
    return app.test_client()
