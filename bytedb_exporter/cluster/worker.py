"""One worker's monitoring: query, cache, network and error counters, psutil samples, health."""
from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from bytedb_exporter.cluster.collectors import worker_collector
from bytedb_exporter.cluster.load_window import LoadWindow
from bytedb_exporter.cluster.sampling import PidProvider, ProcessSampler, ResourceSample
from bytedb_exporter.cluster.worker_metrics import SEVERITIES, WorkerMetrics
from bytedb_exporter.cluster.worker_models import (
    PerformanceAlert,
    WorkerCacheStats,
    WorkerError,
    WorkerHealthStatus,
    WorkerNetworkStats,
    WorkerPerformanceStats,
    WorkerQueryStats,
    WorkerResourceStats,
    WorkerStats,
    WorkerVitals,
)
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.metrics.stats import SlidingWindowCounter, percent
from bytedb_exporter.metrics.types import Counter
from bytedb_exporter.rules import health
from bytedb_exporter.rules.health import Thresholds

log = logging.getLogger(__name__)

MIB = 1024 * 1024
MAX_ACTIVE_QUERIES = 10_000
"""Started queries remembered while waiting for their end; beyond it the oldest are forgotten."""


class WorkerMonitor:
    """Monitors one worker; Prometheus series carry its worker_id, snapshots come from get_worker_stats().

    Counters live only in those series; snapshots read them back instead of keeping copies. The load
    is computed at each resource sample, from CPU and running queries averaged over the `window_seconds`
    before it (the window of the query and byte rates), so every reading until the next sample agrees.
    """

    def __init__(self, worker_id: str, registry: MetricsRegistry | None = None,
                 thresholds: Thresholds | None = None, *, pid: int | None = None,
                 pid_provider: PidProvider | None = None, data_path: str | None = ".",
                 sampler: ProcessSampler | None = None, clock: Callable[[], float] = time.monotonic,
                 error_history: int = 100, window_seconds: float = 60.0, cardinality: str = "default"):
        if not worker_id:
            raise ValueError("worker_id must not be empty")
        self.worker_id = worker_id
        self.registry = registry or MetricsRegistry()
        self.thresholds = thresholds or health.DEFAULT_THRESHOLDS
        self._sampler = sampler or ProcessSampler(pid=pid, pid_provider=pid_provider, data_path=data_path)
        self._clock = clock
        self._lock = threading.Lock()
        self._started = self._last_seen = clock()
        self._active: dict[str, float] = {}
        self._unmatched = self._responses = 0
        self._qps = SlidingWindowCounter(window_seconds, clock)
        self._throughput = SlidingWindowCounter(window_seconds, clock)
        self._net_rate = SlidingWindowCounter(window_seconds, clock)
        self._errors: deque[WorkerError] = deque(maxlen=error_history)
        self._critical_times: deque[float] = deque(maxlen=error_history)
        self._sample = ResourceSample()
        self._window = LoadWindow(window_seconds, self._started)
        self._load: float | None = None
        self._logged_status = "healthy"
        self._sampling_stop: threading.Event | None = None
        self._sampling_thread: threading.Thread | None = None
        self._m = WorkerMetrics(self.registry, worker_id, cardinality)
        worker_collector(self.registry).add(self)

    def _touch(self) -> float:
        now = self._clock()
        self._last_seen = now
        return now

    def record_query_start(self, query_id: str) -> None:
        """A query (fragment) started on this worker."""
        with self._lock:
            now = self._active[query_id] = self._touch()
            if len(self._active) > MAX_ACTIVE_QUERIES:  # ends that never came: forget the oldest start
                del self._active[next(iter(self._active))]
            self._window.running(now, len(self._active))
            self._m.active.set(len(self._active))

    def record_query_end(self, query_id: str, success: bool, rows_processed: int = 0,
                         bytes_processed: int = 0) -> None:
        """A query ended; without a matching start it is counted and logged, and gets no duration."""
        _check_amounts(rows_processed=rows_processed, bytes_processed=bytes_processed)
        with self._lock:
            now = self._touch()
            started = self._active.pop(query_id, None)
            self._qps.add()
            self._throughput.add(bytes_processed)
            self._unmatched += started is None
            self._window.running(now, len(self._active))
            self._m.active.set(len(self._active))
        if started is None:
            log.warning("worker %s: end of query %r without a start", self.worker_id, query_id)
        else:
            self._m.duration.observe(now - started)
        self._m.queries["success" if success else "failed"].inc()
        self._m.rows.inc(rows_processed)
        self._m.bytes.inc(bytes_processed)

    def record_cache_hit(self, count: int = 1) -> None:
        self._count(self._m.hits, count)

    def record_cache_miss(self, count: int = 1) -> None:
        self._count(self._m.misses, count)

    def record_cache_eviction(self, count: int = 1) -> None:
        self._count(self._m.evictions, count)

    def _count(self, metric: Counter, count: int) -> None:
        with self._lock:
            self._touch()
        metric.inc(count)

    def set_cache_size(self, size_bytes: int) -> None:
        """Current cache size in bytes."""
        _check_amounts(size_bytes=size_bytes)
        self._m.cache_size.set(size_bytes)

    def record_error(self, err: BaseException | str, query: str = "", severity: str = "error") -> None:
        """Keep the error in a bounded history; critical errors degrade health for a while."""
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}")
        message = str(err) or type(err).__name__
        with self._lock:
            now = self._touch()
            self._errors.append(WorkerError(datetime.now(timezone.utc), message, query, severity))
            if severity == "critical":
                self._critical_times.append(now)
        self._m.errors[severity].inc()

    def record_network_activity(self, bytes_received: int, bytes_sent: int,
                                latency: float | timedelta | None = None) -> None:
        """Bytes in and out of one exchange; a request is counted when bytes came in, a response when bytes went out."""
        seconds = latency.total_seconds() if isinstance(latency, timedelta) else latency
        _check_amounts(bytes_received=bytes_received, bytes_sent=bytes_sent, latency=seconds or 0)
        with self._lock:
            self._touch()
            self._responses += bytes_sent > 0
            self._net_rate.add(bytes_received + bytes_sent)
        self._m.received.inc(bytes_received)
        self._m.sent.inc(bytes_sent)
        if bytes_received > 0:
            self._m.requests.inc()
        if seconds is not None:
            self._m.latency.observe(seconds)

    def heartbeat(self) -> None:
        """The worker is alive."""
        with self._lock:
            self._touch()
        self._note_status()

    def update_resource_metrics(self) -> ResourceSample:
        """Sample the process and data path now, without sleeping (the first CPU figure is 0.0)."""
        sample = self._sampler.sample()
        with self._lock:
            self._sample = sample
            now = self._clock()
            self._window.cpu_sample(now, sample.pid if sample.ok else None, sample.cpu_seconds)
            self._load = health.worker_load(self._window.cpu_percent(), sample.memory_percent,
                                            self._window.mean_running(now))
        self._m.set_resources(sample)
        self._note_status()
        return sample

    def start_sampling(self, interval: float = 5.0,
                       on_sample: Callable[[ResourceSample], None] | None = None) -> None:
        """Call update_resource_metrics() (then `on_sample` with its result) every `interval` seconds
        in a daemon thread."""
        if interval <= 0:
            raise ValueError("interval must be positive")
        if self._sampling_thread is not None:
            raise RuntimeError("sampling already started")
        stop = self._sampling_stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                try:
                    sample = self.update_resource_metrics()
                    if on_sample is not None:
                        on_sample(sample)
                except Exception:  # keep sampling; the next round may succeed
                    log.exception("worker %s: resource sampling failed", self.worker_id)
                stop.wait(interval)

        self._sampling_thread = threading.Thread(target=loop, name=f"sampler-{self.worker_id}", daemon=True)
        self._sampling_thread.start()

    def stop_sampling(self, timeout: float = 5.0) -> None:
        """Stop the sampling thread and wait for it."""
        if self._sampling_thread is None or self._sampling_stop is None:
            return
        self._sampling_stop.set()
        self._sampling_thread.join(timeout)
        self._sampling_thread = self._sampling_stop = None

    def close(self) -> None:
        """Stop sampling and leave the scrape-time collector (the counters stay in the registry)."""
        self.stop_sampling()
        worker_collector(self.registry).remove(self)

    def vitals(self) -> WorkerVitals:
        """Health, load and alert inputs; reads only, safe for scrape-time collectors."""
        with self._lock:
            now = self._clock()
            sample, active, since = self._sample, len(self._active), now - self._last_seen
            window = self.thresholds.critical_error_window_seconds
            critical = sum(1 for moment in self._critical_times if now - moment <= window)
            uptime = now - self._started
            load = self._load
        m = self._m
        success, failed = int(m.queries["success"].get()), int(m.queries["failed"].get())
        status, issues = health.worker_health(sample.cpu_percent, sample.memory_bytes, since, critical,
                                              sample.status, self.thresholds, process_pid=sample.pid)
        return WorkerVitals(self.worker_id, status, issues, since, uptime, sample.cpu_percent,
                            sample.memory_bytes, sample.memory_percent, active, load,
                            success + failed, success, int(m.hits.get()), int(m.misses.get()), sample.status)

    def _note_status(self) -> WorkerVitals:
        """Read the vitals and log a status change once."""
        vitals = self.vitals()
        with self._lock:
            previous, self._logged_status = self._logged_status, vitals.status
        if previous != vitals.status:
            level = logging.INFO if vitals.status == "healthy" else logging.WARNING
            log.log(level, "worker %s: %s -> %s %s", self.worker_id, previous, vitals.status, vitals.issues)
        return vitals

    def get_worker_stats(self) -> WorkerStats:
        """Snapshot of everything; resources come from the last sample (no psutil call here)."""
        vitals = self._note_status()
        with self._lock:
            sample, errors, unmatched, responses = self._sample, list(self._errors), self._unmatched, self._responses
            qps, throughput, net_rate = self._qps.rate(), self._throughput.rate(), self._net_rate.rate()
        m, duration, latency = self._m, self._m.duration.get_stats(), self._m.latency.get_stats()
        total, success, hits, misses = (vitals.total_queries, vitals.successful_queries, vitals.cache_hits,
                                        vitals.cache_misses)
        return WorkerStats(
            worker_id=self.worker_id,
            status=WorkerHealthStatus(vitals.status, datetime.now(timezone.utc),
                                      "; ".join(vitals.issues) or "Worker is healthy",
                                      timedelta(seconds=vitals.uptime_seconds), vitals.issues,
                                      vitals.seconds_since_heartbeat),
            performance=WorkerPerformanceStats(qps, timedelta(seconds=duration["mean"]), throughput / MIB,
                                               *(None if duration[p] is None else timedelta(seconds=duration[p])
                                                 for p in ("p50", "p95", "p99"))),
            resource_utilization=WorkerResourceStats(
                sample.cpu_percent, _mib(sample.memory_bytes), sample.memory_percent,
                _mib(sample.disk_used_bytes), sample.disk_percent, sample.connections, sample.open_fds,
                sample.threads, sample.status),
            query_stats=WorkerQueryStats(total, vitals.active_queries, success, total - success,
                                         percent(success, total), int(m.rows.get()), int(m.bytes.get()), unmatched),
            cache_stats=WorkerCacheStats(hits, misses, percent(hits, hits + misses), int(m.cache_size.get()) / MIB,
                                         int(m.evictions.get())),
            network_stats=WorkerNetworkStats(int(m.received.get()), int(m.sent.get()), int(m.requests.get()),
                                             responses, timedelta(seconds=latency["mean"]), latency["count"], net_rate),
            recent_errors=errors[::-1],
            load=vitals.load,
        )

    def check_performance_alerts(self, vitals: WorkerVitals | None = None) -> list[PerformanceAlert]:
        """high_cpu, high_memory, low_cache_hit_rate and high_failure_rate alerts that fire now."""
        return (vitals or self._note_status()).performance_alerts(self.thresholds)


def _mib(size_bytes: int | None) -> float | None:
    return None if size_bytes is None else size_bytes / MIB


def _check_amounts(**amounts: float) -> None:
    """Reject negative and non-finite amounts before any state changes."""
    for name, value in amounts.items():
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number not below 0, got {value}")
