"""Remote workers: a monitor mirroring a worker exporter's /api/worker JSON, and the poller that feeds it."""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any
from urllib.request import ProxyHandler, Request, build_opener

from bytedb_exporter.cluster.collectors import worker_collector
from bytedb_exporter.cluster.worker import MIB
from bytedb_exporter.cluster.worker_models import PerformanceAlert, WorkerHealthStatus, WorkerStats, WorkerVitals
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.rules import health
from bytedb_exporter.rules.health import Thresholds

log = logging.getLogger(__name__)
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


class RemoteWorkerMonitor:
    """A worker seen through its exporter: the last polled stats, offline when polls fail or grow stale.

    Offers what the coordinator, views and collectors use of a WorkerMonitor; nothing here touches the network.
    """

    def __init__(self, worker_id: str, url: str, registry: MetricsRegistry | None = None,
                 thresholds: Thresholds | None = None, *, stale_after_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.worker_id = worker_id
        self.url = url.rstrip("/")
        self.registry = registry or MetricsRegistry()
        self.thresholds = thresholds or health.DEFAULT_THRESHOLDS
        self.stale_after_seconds = stale_after_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._stats: WorkerStats | None = None
        self._polled_at: float | None = None
        self._failure: str | None = "not polled yet"
        labels = {"worker_id": worker_id}
        self._m_up = self.registry.gauge("remote_worker_up", "1 when the last poll of a remote worker exporter "
                                         "succeeded.", labels)
        self._m_failures = self.registry.counter("remote_worker_poll_failures_total", "Failed polls of a remote "
                                                 "worker exporter (error, timeout or bad answer).", labels)
        worker_collector(self.registry).add(self)

    def record_poll(self, document: Any) -> None:
        """Keep a polled /api/worker document; a malformed one or another worker's counts as a failure."""
        try:
            stats = WorkerStats.from_dict(document)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            self.record_failure(f"malformed answer ({type(error).__name__}: {error})")
            return
        if stats.worker_id != self.worker_id:
            self.record_failure(f"answered as worker {stats.worker_id!r}")
            return
        with self._lock:
            was_failing, answered_before = self._failure, self._polled_at is not None
            self._failure, self._stats, self._polled_at = None, stats, self._clock()
        if was_failing:
            log.info("remote worker %s at %s %s", self.worker_id, self.url,
                     "answers again" if answered_before else "answers")
        self._m_up.set(1)

    def record_failure(self, reason: str) -> None:
        """The last poll failed; the worker is offline until one succeeds."""
        with self._lock:
            first, self._failure = self._failure is None, reason
        if first:
            log.warning("remote worker %s at %s: %s", self.worker_id, self.url, reason)
        self._m_up.set(0)
        self._m_failures.inc()

    def _state(self) -> tuple[WorkerStats, str | None, float]:
        """(last stats, why offline or None, seconds since the last successful poll)."""
        with self._lock:
            stats, failure, polled = self._stats, self._failure, self._polled_at
        age = self._clock() - polled if polled is not None else 0.0
        if failure is None and age > self.stale_after_seconds:
            failure = f"no successful poll for {age:.1f} s"
        return stats or WorkerStats.empty(self.worker_id), failure, age

    def vitals(self) -> WorkerVitals:
        """Health, load and alert inputs from the last poll (read only)."""
        return self._vitals(*self._state())

    def _vitals(self, stats: WorkerStats, failure: str | None, age: float) -> WorkerVitals:
        r, q, c = stats.resource_utilization, stats.query_stats, stats.cache_stats
        status, issues = stats.status.status, list(stats.status.issues)
        if failure is not None:
            status, issues = "offline", [f"worker exporter {self.url} not answering: {failure}"]
        return WorkerVitals(self.worker_id, status, issues, stats.status.seconds_since_heartbeat + age,
                            stats.status.uptime.total_seconds(), r.cpu_usage_percent, int(r.memory_usage_mb * MIB),
                            r.memory_usage_percent, q.active_queries, stats.load, q.total_queries,
                            q.successful_queries, c.cache_hits, c.cache_misses, r.process_status)

    def get_worker_stats(self) -> WorkerStats:
        """The last polled stats; status says offline (and why) when the exporter does not answer."""
        stats, failure, age = self._state()
        vitals = self._vitals(stats, failure, age)
        status = WorkerHealthStatus(vitals.status, datetime.now(timezone.utc),
                                    "; ".join(vitals.issues) or "Worker is healthy", stats.status.uptime,
                                    vitals.issues, vitals.seconds_since_heartbeat)
        return WorkerStats(stats.worker_id, status, stats.performance, stats.resource_utilization, stats.query_stats,
                           stats.cache_stats, stats.network_stats, list(stats.recent_errors), stats.load)

    def check_performance_alerts(self, vitals: WorkerVitals | None = None) -> list[PerformanceAlert]:
        """The worker alert rules over the last polled figures; none while offline."""
        v = vitals or self.vitals()
        if v.status == "offline":
            return []
        return v.performance_alerts(self.thresholds)

    def close(self) -> None:
        """Leave the scrape-time collector."""
        worker_collector(self.registry).remove(self)


class WorkerPoller:
    """Polls every remote worker's /api/worker concurrently in the background, each with a timeout.

    A worker whose previous poll is still running is not polled again, so one that hangs holds one
    thread and delays nobody; the monitors turn offline on their own when polls stop succeeding.
    """

    def __init__(self, monitors: Sequence[RemoteWorkerMonitor], interval: float = 5.0, timeout: float = 2.0,
                 bearer_token: str | None = None):
        self.monitors = list(monitors)
        self.interval, self.timeout = interval, timeout
        self._headers = {"Accept": "application/json", "User-Agent": "bytedb-exporter"}
        if bearer_token:
            self._headers["Authorization"] = f"Bearer {bearer_token}"
        self._opener = build_opener(ProxyHandler({}))  # exporters are reached directly, never through a proxy
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.monitors)), thread_name_prefix="bytedb-poll")
        self._in_flight: dict[str, Future] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self, monitor: RemoteWorkerMonitor) -> None:
        """One poll of one worker, its outcome recorded on the monitor."""
        request = Request(f"{monitor.url}/api/worker", headers=self._headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_RESPONSE_BYTES + 1)
            if len(body) > MAX_RESPONSE_BYTES:
                raise ValueError(f"answer larger than {MAX_RESPONSE_BYTES} bytes")
            document = json.loads(body)
        except Exception as error:  # any failure (refused, timeout, HTTP error, bad JSON) means offline
            monitor.record_failure(f"{type(error).__name__}: {error}")
            return
        monitor.record_poll(document)

    def poll_round(self) -> None:
        """Start a poll of every worker not still busy with the previous one."""
        for monitor in self.monitors:
            running = self._in_flight.get(monitor.worker_id)
            if running is None or running.done():
                self._in_flight[monitor.worker_id] = self._pool.submit(self.poll, monitor)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            self.poll_round()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def start(self) -> None:
        """Poll in a daemon thread, the first round at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bytedb-worker-poller", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop polling; running polls end within the timeout."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 1)
        self._pool.shutdown(wait=False, cancel_futures=True)
