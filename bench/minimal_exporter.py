"""The baseline of bench_http.py: a minimal Flask app with prometheus_client's `make_wsgi_app()` at /metrics,
serving the series of the exposition file named by BENCH_SERIES_FILE as plain labeled gauges (one Gauge per
sample name, the same label sets and values) and, for its process_* series, prometheus_client's own
ProcessCollector (read at each scrape, as in any default prometheus_client registry), plus /healthz.

Run: gunicorn -k gthread --threads 8 --chdir bench 'minimal_exporter:create()'  (bench_http.py starts it).
"""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from prometheus_client import CollectorRegistry, Gauge, ProcessCollector, make_wsgi_app
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.middleware.dispatcher import DispatcherMiddleware

PROCESS_PREFIX = "process_"


def registry_of(text: str) -> CollectorRegistry:
    """A bare prometheus_client exporter's registry with the series of an exposition text: labeled gauges holding
    its samples, and a ProcessCollector in place of its process_* families (the series a ProcessCollector gives)."""
    registry = CollectorRegistry(auto_describe=False)
    gauges: dict[str, Gauge] = {}
    families = list(text_string_to_metric_families(text))
    if any(family.name.startswith(PROCESS_PREFIX) for family in families):
        ProcessCollector(registry=registry)
    for family in families:
        if family.name.startswith(PROCESS_PREFIX):
            continue
        for sample in family.samples:
            gauge = gauges.get(sample.name)
            if gauge is None:
                gauge = gauges[sample.name] = Gauge(sample.name, family.documentation or sample.name,
                                                    sorted(sample.labels), registry=registry)
            (gauge.labels(**sample.labels) if sample.labels else gauge).set(sample.value)
    return registry


flask_app = Flask("minimal_exporter")


@flask_app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


def create() -> DispatcherMiddleware:
    """The app over the series of BENCH_SERIES_FILE."""
    registry = registry_of(Path(os.environ["BENCH_SERIES_FILE"]).read_text())
    return DispatcherMiddleware(flask_app.wsgi_app, {"/metrics": make_wsgi_app(registry)})
