"""The baseline of bench_http.py: a minimal Flask app with prometheus_client's `make_wsgi_app()` at /metrics,
serving the series of the exposition file named by BENCH_SERIES_FILE as plain labeled gauges (one Gauge per
sample name, the same label sets and values), plus /healthz.

Run: gunicorn -k gthread --threads 8 --chdir bench 'minimal_exporter:create()'  (bench_http.py starts it).
"""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from prometheus_client import CollectorRegistry, Gauge, make_wsgi_app
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.middleware.dispatcher import DispatcherMiddleware


def registry_of(text: str) -> CollectorRegistry:
    """A registry of labeled gauges holding every sample of an exposition text."""
    registry = CollectorRegistry(auto_describe=False)
    gauges: dict[str, Gauge] = {}
    for family in text_string_to_metric_families(text):
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
