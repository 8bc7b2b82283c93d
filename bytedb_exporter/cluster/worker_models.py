"""Plain snapshots of one worker: health, performance, resources, queries, cache, network, errors."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from bytedb_exporter.metrics.jsonutil import milliseconds, to_jsonable
from bytedb_exporter.rules.health import AlertFinding, Thresholds, worker_alerts


@dataclass(frozen=True)
class WorkerVitals:
    """The few numbers health, load and alerts need; cheap enough to read on every scrape.

    cpu_percent, memory_bytes and memory_percent are None when they were not read, and so is load
    (then the worker counts in neither load balance nor utilization).
    """

    worker_id: str
    status: str
    issues: list[str]
    seconds_since_heartbeat: float
    uptime_seconds: float
    cpu_percent: float | None
    memory_bytes: int | None
    memory_percent: float | None
    active_queries: int
    load: float | None
    total_queries: int
    successful_queries: int
    cache_hits: int
    cache_misses: int
    process_status: str

    def alerts(self, thresholds: Thresholds) -> list[AlertFinding]:
        """The worker alert rules that fire on these figures."""
        return worker_alerts(self.cpu_percent, self.memory_percent, self.cache_hits, self.cache_misses,
                             self.total_queries, self.successful_queries, thresholds)

    def performance_alerts(self, thresholds: Thresholds) -> list[PerformanceAlert]:
        """Those rules as the worker's alerts, stamped now."""
        now = datetime.now(timezone.utc)
        return [PerformanceAlert(self.worker_id, f.type, f.severity, f.message, now) for f in self.alerts(thresholds)]


@dataclass
class WorkerHealthStatus:
    """Health state, why, and how long since the worker was last heard from."""

    status: str
    last_check: datetime
    message: str
    uptime: timedelta
    issues: list[str]
    seconds_since_heartbeat: float


@dataclass
class WorkerPerformanceStats:
    """Rates and latency percentiles; a percentile is None before the first query."""

    queries_per_second: float
    average_response_time: timedelta
    throughput_mbps: float
    latency_p50: timedelta | None
    latency_p95: timedelta | None
    latency_p99: timedelta | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form: every duration as `<key>_ms`, null when unknown."""
        return {
            "queries_per_second": self.queries_per_second,
            "average_response_time_ms": milliseconds(self.average_response_time),
            "throughput_mbps": self.throughput_mbps,
            **{f"latency_{q}_ms": None if value is None else milliseconds(value)
               for q, value in (("p50", self.latency_p50), ("p95", self.latency_p95), ("p99", self.latency_p99))},
        }


@dataclass
class WorkerResourceStats:
    """The last psutil sample of the worker's process and data path; a figure not read is None."""

    cpu_usage_percent: float | None
    memory_usage_mb: float | None
    memory_usage_percent: float | None
    disk_usage_mb: float | None
    disk_usage_percent: float | None
    active_connections: int | None
    open_file_descriptors: int | None
    threads: int | None
    process_status: str


@dataclass
class WorkerQueryStats:
    """Query (fragment) counts since start; unmatched_ends counts ends without a start."""

    total_queries: int
    active_queries: int
    successful_queries: int
    failed_queries: int
    success_rate_percent: float
    rows_processed: int
    bytes_processed: int
    unmatched_ends: int


@dataclass
class WorkerCacheStats:
    """Cache lookups, evictions and size."""

    cache_hits: int
    cache_misses: int
    hit_rate_percent: float
    cache_size_mb: float
    eviction_count: int


@dataclass
class WorkerNetworkStats:
    """Network counters; network_latency is the mean reported latency."""

    bytes_received: int
    bytes_sent: int
    requests_received: int
    responses_sent: int
    network_latency: timedelta
    latency_samples: int
    bytes_per_second: float


@dataclass(frozen=True)
class WorkerError:
    """One recorded error."""

    timestamp: datetime
    error: str
    query: str
    severity: str


@dataclass(frozen=True)
class PerformanceAlert:
    """An alert raised by one worker's rules."""

    worker_id: str
    type: str
    severity: str
    message: str
    timestamp: datetime

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@dataclass
class WorkerStats:
    """Everything one worker monitor knows, at one moment."""

    worker_id: str
    status: WorkerHealthStatus
    performance: WorkerPerformanceStats
    resource_utilization: WorkerResourceStats
    query_stats: WorkerQueryStats
    cache_stats: WorkerCacheStats
    network_stats: WorkerNetworkStats
    recent_errors: list[WorkerError] = field(default_factory=list)
    load: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form with the original's keys (durations as `_ms`, times ISO)."""
        data = to_jsonable(self)
        data["performance"] = self.performance.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkerStats:
        """The inverse of to_dict, for what a worker exporter serves (KeyError/TypeError/ValueError when malformed)."""
        s, p, r = data["status"], data["performance"], data["resource_utilization"]
        q, c, n = data["query_stats"], data["cache_stats"], data["network_stats"]
        return cls(
            worker_id=str(data["worker_id"]),
            status=WorkerHealthStatus(str(s["status"]), _time(s["last_check"]), str(s["message"]),
                                      timedelta(milliseconds=s["uptime_ms"]), [str(i) for i in s["issues"]],
                                      float(s["seconds_since_heartbeat"])),
            performance=WorkerPerformanceStats(float(p["queries_per_second"]),
                                               timedelta(milliseconds=float(p["average_response_time_ms"])),
                                               float(p["throughput_mbps"]), _ms(p["latency_p50_ms"]),
                                               _ms(p["latency_p95_ms"]), _ms(p["latency_p99_ms"])),
            resource_utilization=WorkerResourceStats(
                _float(r["cpu_usage_percent"]), _float(r["memory_usage_mb"]), _float(r["memory_usage_percent"]),
                _float(r["disk_usage_mb"]), _float(r["disk_usage_percent"]), _int(r["active_connections"]),
                _int(r["open_file_descriptors"]), _int(r["threads"]), str(r["process_status"])),
            query_stats=WorkerQueryStats(int(q["total_queries"]), int(q["active_queries"]),
                                         int(q["successful_queries"]), int(q["failed_queries"]),
                                         float(q["success_rate_percent"]), int(q["rows_processed"]),
                                         int(q["bytes_processed"]), int(q["unmatched_ends"])),
            cache_stats=WorkerCacheStats(int(c["cache_hits"]), int(c["cache_misses"]), float(c["hit_rate_percent"]),
                                         float(c["cache_size_mb"]), int(c["eviction_count"])),
            network_stats=WorkerNetworkStats(int(n["bytes_received"]), int(n["bytes_sent"]),
                                             int(n["requests_received"]), int(n["responses_sent"]),
                                             timedelta(milliseconds=n["network_latency_ms"]),
                                             int(n["latency_samples"]), float(n["bytes_per_second"])),
            recent_errors=[WorkerError(_time(e["timestamp"]), str(e["error"]), str(e["query"]), str(e["severity"]))
                           for e in data["recent_errors"]],
            load=_float(data.get("load")),
        )

    @classmethod
    def empty(cls, worker_id: str) -> WorkerStats:
        """Zero counts and no resource readings (None) for a worker never heard from."""
        return cls(worker_id, WorkerHealthStatus("offline", datetime.now(timezone.utc), "", timedelta(), [], 0.0),
                   WorkerPerformanceStats(0.0, timedelta(), 0.0, None, None, None),
                   WorkerResourceStats(None, None, None, None, None, None, None, None, "not_sampled"),
                   WorkerQueryStats(0, 0, 0, 0, 0.0, 0, 0, 0), WorkerCacheStats(0, 0, 0.0, 0.0, 0),
                   WorkerNetworkStats(0, 0, 0, 0, timedelta(), 0, 0.0))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _ms(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(milliseconds=float(value))


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
