"""The Flask app factory: monitors injected, one exposition registry, blueprints for pages and API."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, List, Optional

from flask import Flask
from prometheus_client import CollectorRegistry

from ..assets import asset_dir
from ..coordinator_monitor import CoordinatorMonitor
from ..history import ClusterHistory
from ..metrics import MetricsRegistry
from ..query_monitor import QueryMonitor
from .errors import register_error_handlers
from .exposition import exposition_registry
from .stream import SnapshotHub
from .views import MonitorViews

if TYPE_CHECKING:
    from ..config import AuthConfig
    from .ingest import IngestService


@dataclass
class AppState:
    """What the request handlers use, kept in `app.extensions["bytedb"]`."""

    coordinator: CoordinatorMonitor
    queries: QueryMonitor
    views: MonitorViews
    hub: SnapshotHub
    exposition: CollectorRegistry

    def registries(self) -> List[MetricsRegistry]:
        """Every distinct MetricsRegistry behind the served monitors."""
        found: List[MetricsRegistry] = []
        monitors: Iterable = [self.queries, self.coordinator, *self.coordinator.workers().values()]
        for monitor in monitors:
            if all(monitor.registry is not known for known in found):
                found.append(monitor.registry)
        return found


def create_app(coordinator: Optional[CoordinatorMonitor] = None, queries: Optional[QueryMonitor] = None, *,
               stream_interval: float = 2.0, history_minutes: float = 15.0, keepalive: float = 15.0,
               start_stream: bool = True, auth: Optional["AuthConfig"] = None,
               ingest: Optional["IngestService"] = None) -> Flask:
    """A dashboard app over these monitors (new ones sharing one registry when not given),
    optionally behind `auth` and with POST /api/v1/events served by `ingest`."""
    if coordinator is None and queries is None:
        registry = MetricsRegistry()
        coordinator, queries = CoordinatorMonitor(registry), QueryMonitor(registry)
    coordinator = coordinator or CoordinatorMonitor(queries.registry)
    queries = queries or QueryMonitor(coordinator.registry)
    app = Flask("bytedb_exporter", template_folder=str(asset_dir("templates")),
                static_folder=str(asset_dir("static")))
    app.json.sort_keys = False
    history = ClusterHistory(span_seconds=history_minutes * 60, interval_seconds=stream_interval)
    views = MonitorViews(coordinator, queries, history)
    hub = SnapshotHub(views.live, stream_interval, keepalive)
    state = AppState(coordinator, queries, views, hub,
                     exposition_registry(lambda: [r.collector_registry for r in state.registries()]))
    app.extensions["bytedb"] = state
    register_error_handlers(app)
    install_extras(app, auth, ingest)

    from .api import api
    from .pages import pages

    app.register_blueprint(api)
    app.register_blueprint(pages)
    if start_stream:
        state.hub.start()
    return app


def install_extras(app: Flask, auth: Optional["AuthConfig"], ingest: Optional["IngestService"]) -> None:
    """Add the auth guard and the ingest endpoint when given."""
    if auth is not None:
        from .auth import install_auth

        install_auth(app, auth)
    if ingest is not None:
        from .ingest import register_ingest

        register_ingest(app, ingest)
