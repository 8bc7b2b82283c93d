"""The description's Dashboard: monitors plus a web server on a port (8091 by default)."""
from __future__ import annotations

import logging

from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.source import WorkerSource
from bytedb_exporter.query.monitor import QueryMonitor
from bytedb_exporter.web.app import create_app
from bytedb_exporter.web.server import BackgroundServer

log = logging.getLogger(__name__)
DEFAULT_PORT = 8091


class Dashboard:
    """Serves the page, JSON API, stream and /metrics for a coordinator and a query monitor.

    `.app` is the Flask app (for gunicorn and tests); `start()` runs a threaded server in the background.
    """

    def __init__(self, coordinator_monitor: CoordinatorMonitor | None = None,
                 query_monitor: QueryMonitor | None = None, *, stream_interval: float = 2.0):
        self.app = create_app(coordinator_monitor, query_monitor, stream_interval=stream_interval, start_stream=False)
        state = self.app.extensions["bytedb"]
        self.coordinator_monitor: CoordinatorMonitor = state.coordinator
        self.query_monitor: QueryMonitor = state.queries
        self._hub = state.hub
        self._server: BackgroundServer | None = None

    def add_worker_monitor(self, worker_id: str, monitor: WorkerSource) -> None:
        """Show this worker (registers it with the coordinator)."""
        self.coordinator_monitor.register_worker(worker_id, monitor)

    def remove_worker_monitor(self, worker_id: str) -> None:
        """Stop showing this worker."""
        self.coordinator_monitor.unregister_worker(worker_id)

    def start(self, port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> str:
        """Serve in a background thread; returns the base URL. Raises OSError when the port is taken."""
        if self._server is not None:
            raise RuntimeError("dashboard already started")
        self._server = BackgroundServer(self.app, host, port)
        self.start_stream()
        log.info("dashboard listening on %s", self._server.url)
        return self._server.url

    def start_stream(self) -> None:
        """Start building the live snapshots (start() does it; call it alone when another server,
        such as gunicorn, serves `.app`)."""
        self._hub.start()

    def stop(self) -> None:
        """Stop the stream and the server (if this object started one)."""
        self._hub.stop()
        if self._server is not None:
            self._server.stop()
            self._server = None
