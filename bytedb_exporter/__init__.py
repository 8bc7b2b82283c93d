"""bytedb-exporter: metrics, query and cluster monitoring, and a live dashboard for ByteDB.

Everything a ByteDB process needs is importable from here::

    from bytedb_exporter import MetricsRegistry, QueryMonitor, WorkerMonitor, CoordinatorMonitor, Dashboard
"""
from __future__ import annotations

from bytedb_exporter._version import __version__
from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.profiler import PerformanceProfiler
from bytedb_exporter.cluster.remote import RemoteWorkerMonitor, WorkerPoller
from bytedb_exporter.cluster.source import WorkerSource
from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.debug import set_debug_mode
from bytedb_exporter.metrics.export import MetricsExporter
from bytedb_exporter.metrics.registry import (
                                              MetricsRegistry,
                                              counter,
                                              default_registry,
                                              gauge,
                                              get_all_metrics,
                                              get_metric,
                                              histogram,
                                              timer,
)
from bytedb_exporter.metrics.types import Counter, Gauge, Histogram, Timer
from bytedb_exporter.query.execution import QueryExecution
from bytedb_exporter.query.models import Fragment
from bytedb_exporter.query.monitor import QueryMonitor
from bytedb_exporter.query.slowlog import SlowQueryLog
from bytedb_exporter.query.slowstore import SlowQueryStore
from bytedb_exporter.query.statements import StatementStats
from bytedb_exporter.rules.health import Thresholds
from bytedb_exporter.web.app import create_app
from bytedb_exporter.web.dashboard import Dashboard
from bytedb_exporter.web.worker_app import create_worker_app

__all__ = [
    "__version__",
    "Counter", "Gauge", "Histogram", "Timer",
    "MetricsRegistry", "MetricsExporter", "counter", "gauge", "histogram", "timer", "get_metric",
    "get_all_metrics", "default_registry", "set_debug_mode",
    "QueryMonitor", "QueryExecution", "Fragment", "StatementStats", "SlowQueryLog", "SlowQueryStore",
    "WorkerMonitor", "RemoteWorkerMonitor", "WorkerPoller", "WorkerSource", "CoordinatorMonitor",
    "PerformanceProfiler", "Thresholds",
    "Dashboard", "create_app", "create_worker_app",
]
