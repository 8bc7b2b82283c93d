"""The worker exporter: one worker's /metrics, its stats as JSON and /healthz."""
from __future__ import annotations

from flask import Flask, Response, jsonify, request
from flask.json.provider import DefaultJSONProvider

from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.config.models import AuthConfig
from bytedb_exporter.ingest.service import IngestService
from bytedb_exporter.prometheus.cache import DEFAULT_MAX_AGE_SECONDS, ExpositionCache
from bytedb_exporter.prometheus.exposition import exposition_registry
from bytedb_exporter.web.app import install_extras
from bytedb_exporter.web.errors import register_error_handlers
from bytedb_exporter.web.metrics_endpoint import metrics_response


def create_worker_app(monitor: WorkerMonitor, *, auth: AuthConfig | None = None,
                      ingest: IngestService | None = None,
                      scrape_cache_seconds: float = DEFAULT_MAX_AGE_SECONDS) -> Flask:
    """An exporter app for one worker monitor (its own registry plus this process's metrics),
    optionally behind `auth` and with POST /api/v1/events served by `ingest`; a /metrics exposition
    is reused for `scrape_cache_seconds`."""
    app = Flask(f"bytedb_exporter.worker.{monitor.worker_id}")
    if isinstance(app.json, DefaultJSONProvider):
        app.json.sort_keys = False  # keep the documents' key order
    exposition = ExpositionCache(exposition_registry(lambda: [monitor.registry.collector_registry]),
                                 scrape_cache_seconds)
    app.extensions["bytedb_worker"] = monitor
    register_error_handlers(app)
    install_extras(app, auth, ingest)

    @app.get("/metrics")
    def metrics() -> Response:
        return metrics_response(exposition, request.headers.get("Accept", ""),
                                request.headers.get("Accept-Encoding", ""))

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok", "worker_id": monitor.worker_id})

    @app.get("/api/worker")
    def worker() -> Response:
        return jsonify(monitor.get_worker_stats().to_dict())

    @app.get("/api/alerts")
    def alerts() -> Response:
        return jsonify([alert.to_dict() for alert in monitor.check_performance_alerts()])

    return app
