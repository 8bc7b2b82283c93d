"""Export a MetricsRegistry as Prometheus text (prometheus_client's own) or as JSON built from the same families."""
from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable
from datetime import datetime, timezone
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric as Family

from bytedb_exporter.metrics.jsonutil import iso, to_jsonable
from bytedb_exporter.metrics.registry import NAMESPACE, MetricsRegistry, default_registry
from bytedb_exporter.metrics.scrape import consistent_scrape
from bytedb_exporter.metrics.types import summarize_buckets

UNIT_SUFFIXES = ("seconds", "bytes", "percent", "ratio")
HISTOGRAM_TYPES = ("histogram", "gaugehistogram")


def unit_of(name: str, declared: str = "") -> str:
    """The family's declared unit, else the one its name ends with (seconds, bytes, percent, ratio), else ''."""
    if declared:
        return declared
    stem = name[: -len("_total")] if name.endswith("_total") else name
    return next((unit for unit in UNIT_SUFFIXES if stem.endswith("_" + unit)), "")


def timer_families(registries: Iterable[MetricsRegistry]) -> set[str]:
    """Exposition names of the families these registries created as timers (histograms of durations)."""
    return {f"{NAMESPACE}_{metric.name}" for registry in registries for metric in registry.get_all_metrics()
            if metric.kind == "timer"}


def _histogram_entries(family: Family) -> list[tuple[dict[str, str], Any, Any]]:
    """(labels, HistogramStats, timestamp) per labelled child of a histogram family."""
    children: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for sample in family.samples:
        labels = {k: v for k, v in sample.labels.items() if k != "le"}
        child = children.setdefault(tuple(sorted(labels.items())),
                                    {"labels": labels, "buckets": [], "sum": 0.0, "timestamp": None})
        suffix = sample.name[len(family.name):]
        if suffix == "_bucket":
            child["buckets"].append((float(sample.labels["le"]), sample.value))
        elif suffix in ("_sum", "_gsum"):
            child["sum"] = sample.value
        child["timestamp"] = child["timestamp"] or sample.timestamp
    return [(c["labels"], summarize_buckets(sorted(c["buckets"]) or [(math.inf, 0.0)], c["sum"]), c["timestamp"])
            for c in children.values()]


def families_json(families: Iterable[Family], timers: Collection[str] = ()) -> list[dict[str, Any]]:
    """One dict per series of these families (a histogram child is one series): name, type, value, labels,
    description, timestamp, unit. Names are the exposition's; `timers` names histograms to type "timer"."""
    now = iso(datetime.now(timezone.utc))
    items: list[dict[str, Any]] = []
    for family in families:
        timer = family.name in timers
        kind = "timer" if timer and family.type == "histogram" else family.type
        unit = "seconds" if timer else unit_of(family.name, family.unit)
        series: list[tuple[str, dict[str, str], Any, Any]]
        if family.type in HISTOGRAM_TYPES:
            series = [(family.name, labels, stats, stamp) for labels, stats, stamp in _histogram_entries(family)]
        else:
            series = [(s.name, dict(s.labels), s.value, s.timestamp) for s in family.samples]
        for name, labels, value, stamp in series:
            items.append({
                "name": name, "type": kind, "value": to_jsonable(value), "labels": labels,
                "description": family.documentation,
                "timestamp": iso(datetime.fromtimestamp(float(stamp), timezone.utc)) if stamp is not None else now,
                "unit": unit,
            })
    return items


def json_lines(items: Iterable[Any]) -> str:
    """A JSON array with one item per line, so that `grep` finds one series per line; raises on NaN or infinity."""
    return "[\n" + ",\n".join(json.dumps(item, allow_nan=False) for item in items) + "\n]\n"


class MetricsExporter:
    """Prometheus and JSON views of one registry."""

    def __init__(self, registry: MetricsRegistry | None = None):
        self.registry = registry or default_registry()

    def export_prometheus_metrics(self) -> str:
        """The registry in the Prometheus text exposition format (HELP and TYPE included)."""
        with consistent_scrape():
            return generate_latest(self.registry.collector_registry).decode("utf-8")

    def json_metrics(self) -> list[dict[str, Any]]:
        """Every series the registry's exposition has (same names, one scrape): see `families_json`."""
        with consistent_scrape():
            families = list(self.registry.collector_registry.collect())
        return families_json(families, timer_families([self.registry]))

    def export_json_metrics(self) -> str:
        """`json_metrics()` as a JSON array, one series per line; raises on values JSON cannot hold."""
        return json_lines(self.json_metrics())
