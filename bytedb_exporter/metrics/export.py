"""Export a MetricsRegistry as Prometheus text (prometheus_client's own) or as JSON."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from prometheus_client import generate_latest

from bytedb_exporter.metrics.jsonutil import iso, to_jsonable
from bytedb_exporter.metrics.registry import MetricsRegistry, default_registry
from bytedb_exporter.metrics.scrape import consistent_scrape


class MetricsExporter:
    """Prometheus and JSON views of one registry."""

    def __init__(self, registry: MetricsRegistry | None = None):
        self.registry = registry or default_registry()

    def export_prometheus_metrics(self) -> str:
        """The registry in the Prometheus text exposition format (HELP and TYPE included)."""
        with consistent_scrape():
            return generate_latest(self.registry.collector_registry).decode("utf-8")

    def json_metrics(self) -> list[dict[str, Any]]:
        """One dict per metric: name, type, value, labels, description, timestamp, unit."""
        now = iso(datetime.now(timezone.utc))
        return [
            {
                "name": metric.name,
                "type": metric.kind,
                "value": to_jsonable(metric.value()),
                "labels": dict(metric.labels),
                "description": metric.description,
                "timestamp": now,
                "unit": metric.unit,
            }
            for metric in self.registry.get_all_metrics()
        ]

    def export_json_metrics(self) -> str:
        """`json_metrics()` as a JSON array; raises on values JSON cannot hold."""
        return json.dumps(self.json_metrics(), allow_nan=False)
