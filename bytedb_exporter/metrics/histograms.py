"""Histograms observed together under one lock and exposed at scrape time by a prometheus_client collector.

A finished query observes about a dozen histograms. prometheus_client's own `Histogram.observe` takes a lock
per bucket increment and per sum, and scans the bounds linearly, so those observations were the largest
part of a query's recording cost. A `HistogramGroup` keeps plain bucket counts and sums, which the caller
updates under the group's one lock (`bisect` finds the bucket). Its `collect()` yields ordinary histogram
families, so the exposition is the same as that of `prometheus_client.Histogram`.

An owner that defers its updates (QueryMonitor queues finished queries when the lock is busy) passes
`flush`: every reader calls it under the lock first, so a reading never misses a queued observation.
"""
from __future__ import annotations

import contextlib
import math
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from bytedb_exporter.metrics.stats import histogram_quantile
from bytedb_exporter.metrics.types import summarize_buckets


class HistogramCells:
    """One labelled histogram of a group: per-bucket counts (the last one is +Inf), the sum, and each bucket's
    latest exemplar.

    `observe` does not lock: call it while holding the group's `lock`. The readers take that lock.
    """

    __slots__ = ("bounds", "counts", "sum", "exemplars", "_group")

    def __init__(self, bounds: tuple[float, ...], group: HistogramGroup):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.exemplars: list[Exemplar | None] = [None] * (len(bounds) + 1)
        self._group = group

    def observe(self, value: float, exemplar: dict[str, str] | None = None) -> None:
        """Count `value` in the first bucket whose upper bound is >= value, with these exemplar labels if given
        (caller holds the group's lock)."""
        index = bisect_left(self.bounds, value)
        self.counts[index] += 1
        self.sum += value
        if exemplar is not None:
            self.exemplars[index] = Exemplar(exemplar, value, time.time())

    def cumulative_buckets(self) -> list[tuple[float, float]]:
        """(upper bound, cumulative count) pairs ending with +Inf."""
        with self._group.reading():
            return self._cumulative_unlocked()

    def get(self) -> float:
        """Number of observations."""
        with self._group.reading():
            return float(sum(self.counts))

    def total(self) -> float:
        """Sum of all observations."""
        with self._group.reading():
            return self.sum

    def quantile(self, q: float) -> float:
        """Estimated q-quantile (0..1); NaN before the first observation."""
        return histogram_quantile(q, self.cumulative_buckets())

    def get_stats(self) -> dict[str, Any]:
        """count, sum, mean, cumulative buckets and p50/p95/p99 estimates."""
        with self._group.reading():
            total = self.sum
            buckets = self._cumulative_unlocked()
        return summarize_buckets(buckets, total)

    def _cumulative_unlocked(self) -> list[tuple[float, float]]:
        running = 0
        buckets = []
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            buckets.append((bound, float(running)))
        return buckets


class _Family:
    """One histogram family of a group: its name, help, label names, bounds and labelled children."""

    def __init__(self, name: str, documentation: str, bounds: tuple[float, ...], label_names: tuple[str, ...]):
        self.name = name
        self.documentation = documentation
        self.bounds = bounds
        self.label_names = label_names
        self.children: dict[tuple[str, ...], HistogramCells] = {}


class HistogramGroup(Collector):
    """Histogram families whose observations are made together under `lock`, exported as histograms."""

    def __init__(self, namespace: str, const_labels: Mapping[str, str] | None = None,
                 flush: Callable[[], None] | None = None):
        self.lock = threading.Lock()
        self._flush = flush
        self._namespace = namespace
        self._const_labels = dict(const_labels or {})
        self._families: dict[str, _Family] = {}

    def histogram(self, name: str, buckets: Sequence[float], documentation: str,
                  labels: Mapping[str, str] | None = None) -> HistogramCells:
        """The child of family `name` with these label values (created on first use; same bounds and label
        names for every child of a family)."""
        bounds = tuple(float(b) for b in buckets if not math.isinf(b))
        if list(bounds) != sorted(set(bounds)):
            raise ValueError(f"histogram {name!r}: buckets must be increasing, got {list(buckets)}")
        labels = dict(labels or {})
        with self.lock:
            family = self._families.get(name)
            if family is None:
                family = self._families[name] = _Family(name, documentation, bounds, tuple(sorted(labels)))
            elif family.bounds != bounds or family.label_names != tuple(sorted(labels)):
                raise ValueError(f"histogram {name!r} exists with other buckets or label names")
            values = tuple(labels[label] for label in family.label_names)
            cells = family.children.get(values)
            if cells is None:
                cells = family.children[values] = HistogramCells(bounds, self)
            return cells

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the lock for a consistent read, after applying what the owner deferred."""
        with self.lock:
            if self._flush is not None:
                self._flush()
            yield

    def describe(self) -> Iterator[Metric]:
        """The families' names, for the registry's duplicate check (no samples)."""
        for family in list(self._families.values()):
            yield HistogramMetricFamily(self._exposed(family), family.documentation,
                                        labels=[*self._const_labels, *family.label_names])

    def collect(self) -> Iterator[Metric]:
        with self.reading():
            readings = [(family, [(values, list(cells.counts), cells.sum, list(cells.exemplars))
                                  for values, cells in family.children.items()])
                        for family in self._families.values()]
        const_names, const_values = list(self._const_labels), list(self._const_labels.values())
        for family, children in readings:
            exposed = HistogramMetricFamily(self._exposed(family), family.documentation,
                                            labels=[*const_names, *family.label_names])
            edges = [floatToGoString(bound) for bound in (*family.bounds, math.inf)]
            for values, counts, total, exemplars in children:
                running = 0
                buckets: list[Any] = []
                for edge, count, exemplar in zip(edges, counts, exemplars, strict=True):
                    running += count
                    buckets.append((edge, float(running)) if exemplar is None else (edge, float(running), exemplar))
                exposed.add_metric([*const_values, *values], buckets, total)
            yield exposed

    def _exposed(self, family: _Family) -> str:
        return f"{self._namespace}_{family.name}"
