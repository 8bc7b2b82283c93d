"""ByteDB metric types: thin wrappers over the cells of a `MetricGroup`, whose methods they hand out as their own."""
from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol

from prometheus_client.utils import floatToGoString

from bytedb_exporter.metrics.stats import histogram_quantile

Labels = Mapping[str, str]


class Metric:
    """Common part of every wrapper: identity, description and the cell that holds the figures."""

    kind = "metric"
    __slots__ = ("name", "description", "labels", "_child")

    def __init__(self, name: str, description: str, labels: Labels, child: Any):
        self.name = name
        self.description = description
        self.labels = dict(labels)
        self._child = child

    @property
    def unit(self) -> str:
        """Unit inferred from the name's suffix (seconds, bytes, percent, ratio) or ''."""
        for unit in ("seconds", "bytes", "percent", "ratio"):
            if self.name.endswith("_" + unit):
                return unit
        return ""

    def get(self) -> float:
        """Current value."""
        return float(self._child.get())

    def value(self) -> Any:
        """Value as shown in the JSON export."""
        return self.get()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.labels or ''}>"


class Counter(Metric):
    """A value that only goes up; a negative or non-finite amount is a ValueError and changes nothing."""

    kind = "counter"
    __slots__ = ("inc", "add")

    def __init__(self, name: str, description: str, labels: Labels, child: Any):
        super().__init__(name, description, labels, child)
        # The cell's bound methods: no wrapper cost.
        self.inc: Callable[..., None] = child.inc
        self.add: Callable[[float], None] = child.inc


class Gauge(Metric):
    """A value that goes up and down."""

    kind = "gauge"
    __slots__ = ("set", "add", "inc", "dec")

    def __init__(self, name: str, description: str, labels: Labels, child: Any):
        super().__init__(name, description, labels, child)
        self.set: Callable[[float], None] = child.set
        self.add: Callable[[float], None] = child.add
        self.inc: Callable[..., None] = child.add
        self.dec: Callable[..., None] = child.sub


class Observe(Protocol):
    """A histogram's observe: a finite value, optionally with exemplar labels."""

    def __call__(self, amount: float, exemplar: dict[str, str] | None = None) -> None: ...


class Histogram(Metric):
    """A distribution over fixed buckets; quantiles are estimated like histogram_quantile.

    Its cells are a `HistogramCells` of the registry (one bisect and two additions under one lock per
    observation); they are exposed as prometheus_client's Histogram would expose them.
    """

    kind = "histogram"
    __slots__ = ("observe", "buckets")

    def __init__(self, name: str, description: str, labels: Labels, child: Any, buckets: Sequence[float]):
        super().__init__(name, description, labels, child)
        self.buckets = tuple(buckets)
        self.observe: Observe = child.record

    def cumulative_buckets(self) -> list[tuple[float, float]]:
        """(upper bound, cumulative count) pairs ending with +Inf."""
        buckets: list[tuple[float, float]] = self._child.cumulative_buckets()
        return buckets

    def get(self) -> float:
        """Number of observations."""
        return float(self._child.get())

    def quantile(self, q: float) -> float:
        """Estimated q-quantile (0..1); NaN before the first observation."""
        return histogram_quantile(q, self.cumulative_buckets())

    def total(self) -> float:
        """Sum of all observations."""
        return float(self._child.total())

    def get_stats(self) -> dict[str, Any]:
        """count, sum, mean, cumulative buckets and p50/p95/p99 estimates."""
        stats: dict[str, Any] = self._child.get_stats()
        return stats

    def value(self) -> Any:
        return self.get_stats()


class TimingHandle:
    """One running timing; `stop()` records it once. Also a context manager and decorator."""

    __slots__ = ("_observe", "_started", "_seconds", "_timer")

    def __init__(self, timer: Timer):
        self._timer = timer
        self._observe = timer.observe
        self._seconds: float | None = None
        self._started = time.perf_counter()

    @property
    def elapsed(self) -> timedelta | None:
        """The recorded duration, None while running."""
        return None if self._seconds is None else timedelta(seconds=self._seconds)

    def stop(self) -> timedelta:
        """Record the elapsed time and return it; a second stop raises RuntimeError."""
        self._stop()
        return timedelta(seconds=self._seconds or 0.0)

    def _stop(self) -> None:
        seconds = time.perf_counter() - self._started
        if self._seconds is not None:
            raise RuntimeError("timing already stopped")
        self._observe(seconds)
        self._seconds = seconds

    def __enter__(self) -> TimingHandle:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop()

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        timer = self._timer

        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with timer.start():
                return func(*args, **kwargs)

        return timed


class Timer(Histogram):
    """A histogram of durations in seconds."""

    kind = "timer"
    __slots__ = ()

    def start(self) -> TimingHandle:
        """Start an independent timing; call `stop()` on the handle to record it."""
        return TimingHandle(self)

    def time(self, func: Callable[[], Any] | None = None) -> Any:
        """`time(fn)` runs fn and returns the elapsed timedelta; `time()` returns a handle
        usable as `with timer.time():` or `@timer.time()`."""
        if func is None:
            return TimingHandle(self)
        handle = TimingHandle(self)
        try:
            func()
        finally:
            elapsed = handle.stop()
        return elapsed

    @property
    def unit(self) -> str:
        return "seconds"


def summarize_buckets(buckets: Sequence[tuple[float, float]], total: float) -> dict[str, Any]:
    """HistogramStats of cumulative (bound, count) buckets ending at +Inf and their sum."""
    count = buckets[-1][1]
    stats: dict[str, Any] = {
        "count": int(count),
        "sum": total,
        "mean": total / count if count else 0.0,
        "buckets": {floatToGoString(bound): int(n) for bound, n in buckets},
        "buckets_cumulative": True,
    }
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        estimate = histogram_quantile(q, buckets)
        stats[name] = None if math.isnan(estimate) else estimate
    return stats

