"""A short, bounded history of cluster figures for the live charts (default 15 minutes)."""
from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from bytedb_exporter.metrics.stats import histogram_quantile

Buckets = Sequence[tuple[float, float]]


def bucket_delta(newer: Buckets, older: Buckets | None) -> list[tuple[float, float]]:
    """Cumulative buckets of the observations made between two readings (a counter reset restarts)."""
    if not older or len(older) != len(newer) or newer[-1][1] < older[-1][1]:
        return list(newer)
    return [(bound, count - old) for (bound, count), (_, old) in zip(newer, older, strict=False)]


def window_quantiles(newer: Buckets, older: Buckets | None) -> dict[str, float | None]:
    """p50/p95/p99 in milliseconds of the observations between two readings, None without any."""
    delta = bucket_delta(newer, older)
    result: dict[str, float | None] = {}
    for name, q in (("latency_p50_ms", 0.5), ("latency_p95_ms", 0.95), ("latency_p99_ms", 0.99)):
        value = histogram_quantile(q, delta) if delta and delta[-1][1] > 0 else math.nan
        result[name] = None if math.isnan(value) else value * 1000
    return result


class ClusterHistory:
    """Points for the charts, one per tick, over a fixed span; latency over a sliding window."""

    def __init__(self, span_seconds: float = 900, interval_seconds: float = 2.0, window_seconds: float = 30.0):
        self.interval_seconds = interval_seconds
        self._points: deque[dict[str, Any]] = deque(maxlen=max(1, int(span_seconds / interval_seconds)))
        self._readings: deque[tuple[list[tuple[float, float]], float, float]] = deque(
            maxlen=max(1, int(window_seconds / interval_seconds)) + 1)
        self._lock = threading.Lock()

    def record(self, timestamp: str, query_qps: float, duration_buckets: Buckets, finished: float,
               failed: float, worker_cpu: Mapping[str, float | None]) -> dict[str, Any]:
        """Add a point from cumulative readings; returns it."""
        with self._lock:
            self._readings.append((list(duration_buckets), finished, failed))
            oldest = self._readings[0] if len(self._readings) > 1 else None
            older_buckets = oldest[0] if oldest else None
            done = finished - oldest[1] if oldest else finished
            errors = failed - oldest[2] if oldest else failed
            point = {
                "timestamp": timestamp,
                "query_qps": query_qps,
                **window_quantiles(duration_buckets, older_buckets),
                "error_rate_percent": 100.0 * errors / done if done > 0 else 0.0,
                "worker_cpu": dict(worker_cpu),
            }
            self._points.append(point)
            return point

    def points(self) -> list[dict[str, Any]]:
        """Every kept point, oldest first."""
        with self._lock:
            return list(self._points)
