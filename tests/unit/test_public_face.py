"""The package face: what the README and docs import comes from `bytedb_exporter` itself."""
from __future__ import annotations

import importlib

import bytedb_exporter

FACE = ("MetricsRegistry", "QueryMonitor", "QueryExecution", "WorkerMonitor", "RemoteWorkerMonitor",
        "CoordinatorMonitor", "Thresholds", "Dashboard", "create_app", "MetricsExporter", "PerformanceProfiler",
        "counter", "gauge", "histogram", "timer", "set_debug_mode")


def test_every_documented_name_is_in_all_and_importable():
    assert set(FACE) <= set(bytedb_exporter.__all__)
    for name in bytedb_exporter.__all__:
        assert getattr(bytedb_exporter, name) is not None, name


def test_all_lists_only_names_that_exist_and_nothing_twice():
    assert len(bytedb_exporter.__all__) == len(set(bytedb_exporter.__all__))
    module = importlib.reload(bytedb_exporter)
    assert all(hasattr(module, name) for name in module.__all__)


def test_face_objects_work_together():
    registry = bytedb_exporter.MetricsRegistry()
    queries = bytedb_exporter.QueryMonitor(registry)
    execution = queries.start_query_monitoring("q-1", "SELECT 1")
    assert isinstance(execution, bytedb_exporter.QueryExecution)
    execution.finish()
    assert "bytedb_queries_total" in bytedb_exporter.MetricsExporter(registry).export_prometheus_metrics()
