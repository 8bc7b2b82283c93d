"""MetricsRegistry: creates and finds ByteDB metrics in a private prometheus_client registry."""
from __future__ import annotations

import platform
import re
import threading
from collections.abc import Sequence
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry

from bytedb_exporter._version import __version__
from bytedb_exporter.metrics.groups import MetricGroup
from bytedb_exporter.metrics.text import is_encodable
from bytedb_exporter.metrics.types import Counter, Gauge, Histogram, Labels, Metric, Timer

# The `_created` series double the exposition and no dashboard of ours reads them.
prometheus_client.disable_created_metrics()

NAMESPACE = "bytedb"
NAME_PATTERN = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# The original's timer buckets (1..10000 ms), in seconds.
TIMER_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


HISTOGRAM_KINDS = ("histogram", "timer")


class MetricsRegistry:
    """Creates and finds ByteDB metrics; each family lives in this registry's own
    prometheus_client CollectorRegistry under the `bytedb_` namespace.

    Every family is a `MetricGroup` of its own: plain numbers (a counter's or gauge's value, a histogram's
    bucket counts and sum) changed under the family's one lock, and exposed at scrape time as
    prometheus_client's Counter, Gauge and Histogram would be, for less than theirs cost
    (bench/bench_collectors.py): a scrape of many workers is mostly these families.

    Lookups of an existing metric take no lock; creation is serialized.
    """

    def __init__(self, const_labels: Labels | None = None):
        self.collector_registry = CollectorRegistry(auto_describe=True)
        self._const_labels: dict[str, str] = {}
        self._metrics: dict[tuple[str, tuple[tuple[str, str], ...]], Metric] = {}
        self._families: dict[str, tuple[str, tuple[str, ...], Any, tuple[float, ...]]] = {}
        # Label-less metrics by kind and by the name as asked for: the by-name lookup is one dict read.
        self._unlabeled_counters: dict[str, Counter] = {}
        self._unlabeled_gauges: dict[str, Gauge] = {}
        self._unlabeled_histograms: dict[str, Histogram] = {}
        self._unlabeled_timers: dict[str, Timer] = {}
        self._lock = threading.Lock()
        self._build_info()
        if const_labels:
            self.set_labels(**const_labels)

    def _build_info(self) -> None:
        info = prometheus_client.Info(
            f"{NAMESPACE}_build", "Build information of the bytedb-exporter package.",
            registry=self.collector_registry,
        )
        info.info({"version": __version__, "python": platform.python_version()})

    def set_labels(self, **labels: str) -> None:
        """Set labels added to every metric of this registry (before any metric exists)."""
        for key, value in labels.items():
            _check_name(key, "label")
            _check_label_value(key, value)
        with self._lock:
            if self._metrics:
                raise ValueError("set_labels must be called before the first metric is created")
            self._const_labels = {key: str(value) for key, value in labels.items()}

    @property
    def const_labels(self) -> dict[str, str]:
        """The labels added to every metric of this registry."""
        return dict(self._const_labels)

    def counter(self, name: str, description: str = "", labels: Labels | None = None) -> Counter:
        """The counter `name` (a trailing `_total` is implied) with these label values."""
        metric = self._unlabeled_counters.get(name)
        if metric is not None and not labels:
            return metric
        return self._get_or_create("counter", name, description, labels, ())

    def gauge(self, name: str, description: str = "", labels: Labels | None = None) -> Gauge:
        """The gauge `name` with these label values."""
        metric = self._unlabeled_gauges.get(name)
        if metric is not None and not labels:
            return metric
        return self._get_or_create("gauge", name, description, labels, ())

    def histogram(self, name: str, buckets: Sequence[float] | None = None, description: str = "",
                  labels: Labels | None = None) -> Histogram:
        """The histogram `name` with these bucket upper bounds and label values."""
        metric = self._unlabeled_histograms.get(name)
        if metric is not None and not labels:
            return metric
        return self._get_or_create("histogram", name, description, labels, tuple(buckets or DEFAULT_BUCKETS))

    def timer(self, name: str, description: str = "", labels: Labels | None = None,
              buckets: Sequence[float] | None = None) -> Timer:
        """The timer `name` (a histogram in seconds) with these label values."""
        metric = self._unlabeled_timers.get(name)
        if metric is not None and not labels:
            return metric
        return self._get_or_create("timer", name, description, labels, tuple(buckets or TIMER_BUCKETS))

    def _get_or_create(self, kind: str, name: str, description: str, labels: Labels | None,
                       buckets: tuple[float, ...]) -> Any:
        key = (_strip_total(name), tuple(sorted(labels.items())) if labels else ())
        metric = self._metrics.get(key)
        if metric is not None and metric.kind == kind:
            return metric
        with self._lock:
            metric = self._metrics.get(key)
            if metric is None:
                metric = self._create(kind, name, description, dict(labels or {}), buckets)
                self._metrics[key] = metric
        if metric.kind != kind:
            raise ValueError(f"metric {name!r} already exists as a {metric.kind}, not a {kind}")
        if not labels:
            getattr(self, f"_unlabeled_{kind}s")[name] = metric
        return metric

    def _create(self, kind: str, name: str, description: str, labels: dict[str, str],
                buckets: tuple[float, ...]) -> Metric:
        _check_name(name, "metric")
        for label, value in labels.items():
            _check_name(label, "label")
            _check_label_value(label, value)
        all_labels = {**self._const_labels, **{k: str(v) for k, v in labels.items()}}
        label_names = tuple(sorted(all_labels))
        family_name = _strip_total(name) if kind == "counter" else name
        family_entry = self._families.get(family_name)
        if family_entry is None:
            family = self._new_family(kind, family_name, description, label_names, buckets)
            self._families[family_name] = (kind, label_names, family, buckets)
        else:
            existing_kind, existing_labels, family, existing_buckets = family_entry
            if existing_kind != kind:
                raise ValueError(f"metric {name!r} already exists as a {existing_kind}, not a {kind}")
            if existing_labels != label_names:
                raise ValueError(f"metric {name!r} has labels {list(existing_labels)}, not {list(label_names)}")
            buckets = existing_buckets
        description = description or family.documentation(family_name)
        if kind in HISTOGRAM_KINDS:
            cells = family.histogram(family_name, buckets, description, all_labels)
            return (Timer if kind == "timer" else Histogram)(name, description, labels, cells, buckets)
        cell = (family.counter if kind == "counter" else family.gauge)(family_name, description, all_labels)
        return (Counter if kind == "counter" else Gauge)(name, description, labels, cell)

    def _new_family(self, kind: str, name: str, description: str, label_names: tuple[str, ...],
                    buckets: tuple[float, ...]) -> Any:
        documentation = description or name.replace("_", " ").capitalize() + "."
        group = MetricGroup(NAMESPACE)
        try:
            group.declare("histogram" if kind in HISTOGRAM_KINDS else kind, name, documentation, label_names,
                          buckets)
            self.collector_registry.register(group)
            return group
        except ValueError as error:
            raise ValueError(f"cannot create {kind} {name!r}: {error}") from None

    def get_metric(self, name: str, labels: Labels | None = None) -> Metric | None:
        """The metric with this name and label values, or None."""
        return self._metrics.get((_strip_total(name), tuple(sorted(labels.items())) if labels else ()))

    def remove(self, name: str, labels: Labels) -> bool:
        """Drop one labelled series from the exposition and the registry (asking for it again makes it anew);
        False when it does not exist."""
        if not labels:
            raise ValueError("only a labelled series can be removed")
        key = (_strip_total(name), tuple(sorted(labels.items())))
        with self._lock:
            metric = self._metrics.pop(key, None)
            if metric is None:
                return False
            family_name = _strip_total(name) if metric.kind == "counter" else name
            family = self._families[family_name][2]
            family.remove(family_name, {**self._const_labels, **{k: str(v) for k, v in labels.items()}})
        return True

    def remove_series(self, label: str, value: str) -> int:
        """Drop every labelled series whose `label` is `value` (e.g. all of one worker's); how many went."""
        doomed = [metric for metric in list(self._metrics.values()) if metric.labels.get(label) == value]
        return sum(self.remove(metric.name, metric.labels) for metric in doomed)

    def get_all_metrics(self) -> list[Metric]:
        """Every metric created in this registry, in creation order."""
        return list(self._metrics.values())

    def register_collector(self, collector: Any) -> None:
        """Add a custom prometheus_client collector (computed at scrape time)."""
        self.collector_registry.register(collector)

    def reset(self) -> None:
        """Forget every metric created here; wrappers still held elsewhere stop being exported. Collectors added
        with register_collector (a QueryMonitor's histograms, the IO collector) stay registered."""
        with self._lock:
            for _, _, family, _ in self._families.values():
                self.collector_registry.unregister(family)
            self._metrics = {}
            self._families = {}
            self._unlabeled_counters, self._unlabeled_gauges = {}, {}
            self._unlabeled_histograms, self._unlabeled_timers = {}, {}


def _strip_total(name: str) -> str:
    return name[: -len("_total")] if name.endswith("_total") else name


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or name.startswith("__"):
        raise ValueError(f"invalid {what} name {name!r}: "
                         "use letters, digits and underscores, not starting with a digit")


def _check_label_value(label: str, value: object) -> None:
    if not is_encodable(str(value)):
        raise ValueError(f"label {label}: value {value!r} is not valid UTF-8 (a lone surrogate)")


_default_registry: MetricsRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> MetricsRegistry:
    """The process-wide registry used by the module-level functions."""
    global _default_registry
    if _default_registry is None:
        with _default_lock:
            if _default_registry is None:
                _default_registry = MetricsRegistry()
    return _default_registry


def counter(name: str, description: str = "", labels: Labels | None = None) -> Counter:
    """A counter in the default registry."""
    return default_registry().counter(name, description, labels)


def gauge(name: str, description: str = "", labels: Labels | None = None) -> Gauge:
    """A gauge in the default registry."""
    return default_registry().gauge(name, description, labels)


def histogram(name: str, buckets: Sequence[float] | None = None, description: str = "",
              labels: Labels | None = None) -> Histogram:
    """A histogram in the default registry."""
    return default_registry().histogram(name, buckets, description, labels)


def timer(name: str, description: str = "", labels: Labels | None = None) -> Timer:
    """A timer in the default registry."""
    return default_registry().timer(name, description, labels)


def get_metric(name: str, labels: Labels | None = None) -> Metric | None:
    """A metric of the default registry, or None."""
    return default_registry().get_metric(name, labels)


def get_all_metrics() -> list[Metric]:
    """Every metric of the default registry."""
    return default_registry().get_all_metrics()
