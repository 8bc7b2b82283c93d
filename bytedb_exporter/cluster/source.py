"""What the coordinator, views and collectors read of a worker: local (WorkerMonitor) or remote alike."""
from __future__ import annotations

from typing import Protocol

from bytedb_exporter.cluster.worker_models import PerformanceAlert, WorkerStats, WorkerVitals
from bytedb_exporter.metrics.registry import MetricsRegistry


class WorkerSource(Protocol):
    """A worker as the coordinator sees it; `WorkerMonitor` and `RemoteWorkerMonitor` implement it."""

    worker_id: str
    registry: MetricsRegistry

    def vitals(self) -> WorkerVitals:
        """Health, load and alert inputs, read without side effects (safe at scrape time)."""

    def get_worker_stats(self) -> WorkerStats:
        """The worker's full snapshot."""

    def check_performance_alerts(self, vitals: WorkerVitals | None = None) -> list[PerformanceAlert]:
        """The worker alert rules over these vitals (read now when not given)."""

    def close(self) -> None:
        """Leave the scrape-time collector and stop any background work."""
