"""The Flask app factory: monitors injected, one exposition registry, blueprints for pages and API."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from prometheus_client import CollectorRegistry

from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.config.models import AuthConfig, Limits
from bytedb_exporter.ingest.service import IngestService
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.prometheus.cache import DEFAULT_MAX_AGE_SECONDS, ExpositionCache
from bytedb_exporter.prometheus.exposition import exposition_registry
from bytedb_exporter.query.monitor import QueryMonitor
from bytedb_exporter.query.slowlog import SlowQueryLog
from bytedb_exporter.web.api import api
from bytedb_exporter.web.assets import asset_dir
from bytedb_exporter.web.auth import install_auth
from bytedb_exporter.web.discovery import register_discovery
from bytedb_exporter.web.errors import register_error_handlers
from bytedb_exporter.web.history import ClusterHistory
from bytedb_exporter.web.ingest import register_ingest
from bytedb_exporter.web.pages import pages
from bytedb_exporter.web.stream import SnapshotHub
from bytedb_exporter.web.views import MonitorViews


@dataclass
class AppState:
    """What the request handlers use, kept in `app.extensions["bytedb"]`."""

    coordinator: CoordinatorMonitor
    queries: QueryMonitor
    views: MonitorViews
    hub: SnapshotHub
    exposition: CollectorRegistry
    scrape_cache: ExpositionCache
    slow_log: SlowQueryLog
    auth_enabled: bool = False
    allow_unauthenticated_reset: bool = False

    def registries(self) -> list[MetricsRegistry]:
        """Every distinct MetricsRegistry behind the served monitors."""
        found: list[MetricsRegistry] = []
        monitors: Iterable = [self.queries, self.coordinator, *self.coordinator.workers().values()]
        for monitor in monitors:
            if all(monitor.registry is not known for known in found):
                found.append(monitor.registry)
        return found


def create_app(coordinator: CoordinatorMonitor | None = None, queries: QueryMonitor | None = None, *,
               stream_interval: float = 2.0, history_minutes: float = 15.0, keepalive: float = 15.0,
               start_stream: bool = True, auth: AuthConfig | None = None,
               ingest: IngestService | None = None, max_streams: int = Limits.max_streams,
               allow_unauthenticated_reset: bool = False, slow_log: SlowQueryLog | None = None,
               scrape_cache_seconds: float = DEFAULT_MAX_AGE_SECONDS) -> Flask:
    """A dashboard app over these monitors (new ones sharing one registry when not given; a second app over
    the same coordinator is given its `queries`, as one registry holds one QueryMonitor),
    optionally behind `auth`, with POST /api/v1/events served by `ingest` and at most `max_streams`
    open /api/stream clients; POST /api/statements/reset needs auth on or `allow_unauthenticated_reset`;
    `slow_log` (default: over 0.3 s, 200 kept) listens to `queries`; /metrics reuses an exposition for
    `scrape_cache_seconds`."""
    if coordinator is None:
        coordinator = CoordinatorMonitor(queries.registry if queries is not None else MetricsRegistry())
    if queries is None:
        queries = QueryMonitor(coordinator.registry, thresholds=coordinator.thresholds)
    slow_log = slow_log or SlowQueryLog()
    queries.add_listener(slow_log)
    app = Flask("bytedb_exporter", template_folder=str(asset_dir("templates")),
                static_folder=str(asset_dir("static")))
    if isinstance(app.json, DefaultJSONProvider):
        app.json.sort_keys = False  # keep the documents' key order
    history = ClusterHistory(span_seconds=history_minutes * 60, interval_seconds=stream_interval)
    views = MonitorViews(coordinator, queries, history)
    hub = SnapshotHub(views.live, coordinator.registry, stream_interval, keepalive, max_streams, views.record_point)
    exposition = exposition_registry(lambda: [r.collector_registry for r in state.registries()])
    state = AppState(coordinator, queries, views, hub, exposition, ExpositionCache(exposition, scrape_cache_seconds),
                     slow_log, auth_enabled=auth is not None and auth.enabled,
                     allow_unauthenticated_reset=allow_unauthenticated_reset)
    app.extensions["bytedb"] = state
    register_error_handlers(app)
    install_extras(app, auth, ingest)

    app.register_blueprint(api)
    app.register_blueprint(pages)
    register_discovery(app)
    if start_stream:
        state.hub.start()
    return app


def install_extras(app: Flask, auth: AuthConfig | None, ingest: IngestService | None) -> None:
    """Add the auth guard and the ingest endpoint when given."""
    if auth is not None:
        install_auth(app, auth)
    if ingest is not None:
        register_ingest(app, ingest)
