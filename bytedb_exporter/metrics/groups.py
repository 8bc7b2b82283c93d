"""Metric families kept as plain numbers under one lock, exposed at scrape time by a prometheus_client collector.

A finished query observes about a dozen histograms. prometheus_client's own `Histogram.observe` takes a lock
per bucket increment and per sum, and scans the bounds linearly, so those observations were the largest
part of a query's recording cost. A `MetricGroup` keeps plain bucket counts and sums (`HistogramCells`) and
plain counter and gauge values (`CountCell`), which the caller updates under the group's one lock (`bisect`
finds the bucket). Its `collect()` yields ordinary counter, gauge and histogram families, so the exposition
is the same as that of prometheus_client's Counter, Gauge and Histogram. The QueryMonitor keeps all its
families in one group; the MetricsRegistry makes a group per family.

An owner that defers its updates (QueryMonitor queues finished queries when the lock is busy) passes
`flush`: every reader calls it under the lock first, so a reading never misses a queued observation.
"""
from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import accumulate
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from bytedb_exporter.metrics.text import is_encodable
from bytedb_exporter.metrics.types import summarize_buckets

MAX_EXEMPLAR_CHARACTERS = 128
"""OpenMetrics: an exemplar's label names and values hold at most 128 characters in all."""
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

_FAMILY_TYPES: dict[str, Callable[..., Metric]] = {
    "counter": CounterMetricFamily, "gauge": GaugeMetricFamily, "histogram": HistogramMetricFamily}


class HistogramCells:
    """One labelled histogram of a group: per-bucket counts (the last one is +Inf), the sum, and each bucket's
    latest exemplar.

    `observe` does not lock: call it while holding the group's `lock`. The readers take that lock.
    """

    __slots__ = ("bounds", "counts", "sum", "exemplars", "_group")

    def __init__(self, bounds: tuple[float, ...], group: MetricGroup):
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

    def record(self, value: float, exemplar: dict[str, str] | None = None) -> None:
        """`observe` under the group's lock, for callers outside it; a non-finite value or an exemplar that
        OpenMetrics would refuse is a ValueError and changes nothing."""
        if not math.isfinite(value):
            raise ValueError(f"a histogram observes finite values, got {value!r}")
        if exemplar is not None:
            check_exemplar(exemplar)
        with self._group.lock:
            self.observe(value, exemplar)

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

    def get_stats(self) -> dict[str, Any]:
        """count, sum, mean, cumulative buckets and p50/p95/p99 estimates."""
        with self._group.reading():
            total = self.sum
            buckets = self._cumulative_unlocked()
        return summarize_buckets(buckets, total)

    def _cumulative_unlocked(self) -> list[tuple[float, float]]:
        return list(zip((*self.bounds, math.inf), map(float, accumulate(self.counts)), strict=True))


class CountCell:
    """One labelled counter or gauge of a group: `value`, changed under the group's lock (by `inc`, `add`, `set`,
    or by an owner that holds the lock already)."""

    __slots__ = ("value", "_group")

    def __init__(self, group: MetricGroup):
        self.value: float = 0
        self._group = group

    def get(self) -> float:
        """Current value."""
        with self._group.reading():
            return float(self.value)

    def inc(self, amount: float = 1) -> None:
        """A counter's increment; a negative or non-finite amount is a ValueError and changes nothing."""
        if not 0 <= amount < math.inf:
            raise ValueError(f"a counter goes up by finite non-negative amounts, got {amount!r}")
        self.add(amount)

    def add(self, amount: float = 1) -> None:
        """A gauge's change by `amount` (either sign); a non-finite amount, or one that would take the value past
        the largest float, is a ValueError and changes nothing."""
        with self._group.lock:
            value = self.value + amount
            if not -math.inf < value < math.inf:
                raise ValueError(f"adding {amount!r} to {self.value!r} leaves no finite value")
            self.value = value

    def sub(self, amount: float = 1) -> None:
        """A gauge's change by `-amount`."""
        self.add(-amount)

    def set(self, value: float) -> None:
        """A gauge's new value; a non-finite value is a ValueError and changes nothing."""
        value = float(value)
        if not -math.inf < value < math.inf:
            raise ValueError(f"a gauge holds finite values, got {value!r}")
        with self._group.lock:
            self.value = value


class _Family:
    """One family of a group: its kind, name, help, label names, bounds (histograms) and labelled children."""

    def __init__(self, kind: str, name: str, documentation: str, bounds: tuple[float, ...],
                 label_names: tuple[str, ...]):
        self.kind = kind
        self.name = name
        self.documentation = documentation
        self.bounds = bounds
        self.label_names = label_names
        self.children: dict[tuple[str, ...], Any] = {}


class MetricGroup(Collector):
    """Counter, gauge and histogram families updated together under `lock`, exposed as prometheus_client's."""

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
        bounds = _bounds(name, buckets)
        cells: HistogramCells = self._child("histogram", name, documentation, bounds, labels,
                                            lambda: HistogramCells(bounds, self))
        return cells

    def counter(self, name: str, documentation: str, labels: Mapping[str, str] | None = None) -> CountCell:
        """The child of counter family `name` (exposed as prometheus_client's Counter `name` would be)."""
        cell: CountCell = self._child("counter", name, documentation, (), labels, lambda: CountCell(self))
        return cell

    def gauge(self, name: str, documentation: str, labels: Mapping[str, str] | None = None) -> CountCell:
        """The child of gauge family `name`."""
        cell: CountCell = self._child("gauge", name, documentation, (), labels, lambda: CountCell(self))
        return cell

    def declare(self, kind: str, name: str, documentation: str, label_names: Sequence[str],
                buckets: Sequence[float] = ()) -> None:
        """Family `name` of `kind` (histogram, counter or gauge) with no children yet: a registry's duplicate
        check then sees its name."""
        bounds = _bounds(name, buckets) if kind == "histogram" else ()
        with self.lock:
            self._family(kind, name, documentation, bounds, tuple(sorted(label_names)))

    def documentation(self, name: str) -> str:
        """The help text of family `name`."""
        return self._families[name].documentation

    def remove(self, name: str, labels: Mapping[str, str]) -> bool:
        """Drop the child of family `name` with these label values; False when there is none."""
        with self.lock:
            family = self._families.get(name)
            if family is None or tuple(sorted(labels)) != family.label_names:
                return False
            return family.children.pop(tuple(labels[label] for label in family.label_names), None) is not None

    def _child(self, kind: str, name: str, documentation: str, bounds: tuple[float, ...],
               labels: Mapping[str, str] | None, make: Callable[[], Any]) -> Any:
        labels = dict(labels or {})
        with self.lock:
            family = self._family(kind, name, documentation, bounds, tuple(sorted(labels)))
            values = tuple(labels[label] for label in family.label_names)
            child = family.children.get(values)
            if child is None:
                child = family.children[values] = make()
            return child

    def _family(self, kind: str, name: str, documentation: str, bounds: tuple[float, ...],
                label_names: tuple[str, ...]) -> _Family:
        """The family `name`, created if new (caller holds the lock); another kind, bounds or label names is a
        ValueError."""
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = _Family(kind, name, documentation, bounds, label_names)
        elif (family.kind, family.bounds, family.label_names) != (kind, bounds, label_names):
            raise ValueError(f"{kind} {name!r} exists with another kind, other buckets or label names")
        return family

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the lock for a consistent read, after applying what the owner deferred."""
        with self.lock:
            self._apply_deferred()
            yield

    def _apply_deferred(self) -> None:
        if self._flush is not None:
            self._flush()

    def describe(self) -> Iterator[Metric]:
        """The families' names, for the registry's duplicate check (no samples)."""
        for family in list(self._families.values()):
            yield self._exposed(family)

    def collect(self) -> Iterator[Metric]:
        with self.lock:  # not `reading()`: a registry holds a group per family, each collected every scrape
            self._apply_deferred()
            readings = [(family, [(values, _snapshot(child)) for values, child in family.children.items()])
                        for family in self._families.values()]
        const_values = list(self._const_labels.values())
        for family, children in readings:
            exposed = self._exposed(family)
            if family.kind == "histogram":
                edges = [floatToGoString(bound) for bound in (*family.bounds, math.inf)]
                for values, (counts, total, exemplars) in children:
                    exposed.add_metric([*const_values, *values], _buckets(edges, counts, exemplars), total)
            else:
                for values, value in children:
                    exposed.add_metric(self._label_values(family, values), float(value))
            yield exposed

    def _label_values(self, family: _Family, values: tuple[str, ...]) -> Sequence[str]:
        if not self._const_labels:
            return values  # in the order of the family's sorted label names already
        labels = {**self._const_labels, **dict(zip(family.label_names, values, strict=True))}
        return [labels[name] for name in sorted(labels)]

    def _exposed(self, family: _Family) -> Any:
        # Histograms put the constant labels first; counters and gauges sort all label names, as
        # prometheus_client does for a family created with sorted label names.
        names = [*self._const_labels, *family.label_names]
        return _FAMILY_TYPES[family.kind](f"{self._namespace}_{family.name}", family.documentation,
                                          labels=names if family.kind == "histogram" else sorted(names))


def _bounds(name: str, buckets: Sequence[float]) -> tuple[float, ...]:
    """The finite upper bounds of `buckets` (+Inf is implied), which must increase."""
    bounds = tuple(float(b) for b in buckets if not math.isinf(b))
    if list(bounds) != sorted(set(bounds)):
        raise ValueError(f"histogram {name!r}: buckets must be increasing, got {list(buckets)}")
    return bounds


def check_exemplar(labels: Mapping[str, str]) -> None:
    """Exemplar labels as OpenMetrics allows them: label names, valid UTF-8 values, at most
    MAX_EXEMPLAR_CHARACTERS in all."""
    for name in labels:
        if not isinstance(name, str) or not _LABEL_NAME.fullmatch(name):
            raise ValueError(f"invalid exemplar label name {name!r}")
    size = sum(len(name) + len(value) for name, value in labels.items())
    if size > MAX_EXEMPLAR_CHARACTERS:
        raise ValueError(f"exemplar labels hold {size} characters, more than {MAX_EXEMPLAR_CHARACTERS}")
    if not all(isinstance(value, str) and is_encodable(value) for value in labels.values()):
        raise ValueError("exemplar label values must be valid UTF-8 strings (no lone surrogate)")


def _snapshot(child: HistogramCells | CountCell) -> Any:
    """A copy of a child's state, taken under the group's lock."""
    if isinstance(child, CountCell):
        return child.value
    return list(child.counts), child.sum, list(child.exemplars)


def _buckets(edges: list[str], counts: list[int], exemplars: list[Exemplar | None]) -> list[Any]:
    """Cumulative (le, count[, exemplar]) buckets, as HistogramMetricFamily takes them."""
    return [(edge, float(n)) if exemplar is None else (edge, float(n), exemplar)
            for edge, n, exemplar in zip(edges, accumulate(counts), exemplars, strict=True)]
