"""GET /api/sd: the coordinator and every worker exporter it knows, in Prometheus HTTP SD format."""
from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, jsonify, request

discovery = Blueprint("discovery", __name__)
EXTENSION = "bytedb_discovery"


class ExporterDirectory:
    """Worker id -> base URL of that worker's exporter; /api/sd lists those the coordinator still watches.

    `node_id` is the coordinator's own `node` label.
    """

    def __init__(self, node_id: str = "coordinator") -> None:
        self.node_id = node_id
        self._lock = threading.Lock()
        self._urls: dict[str, str] = {}

    def add(self, worker_id: str, url: str) -> None:
        """Announce the exporter of `worker_id` at `url` (http:// or https://, path prefix allowed)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"worker exporter URL of {worker_id!r} must be http(s)://host:port, got {url!r}")
        with self._lock:
            self._urls[worker_id] = url.rstrip("/")

    def urls(self) -> dict[str, str]:
        """A copy of worker id -> exporter URL."""
        with self._lock:
            return dict(self._urls)


def target_group(url: str, role: str, node: str) -> dict[str, Any]:
    """One HTTP SD target group: host:port of `url`, role, node, __metrics_path__ (and __scheme__ for https)."""
    parts = urlsplit(url)
    labels = {"role": role, "node": node, "__metrics_path__": f"{parts.path.rstrip('/')}/metrics"}
    if parts.scheme == "https":
        labels["__scheme__"] = "https"
    return {"targets": [parts.netloc], "labels": labels}


def sd_document(own_url: str, directory: ExporterDirectory, watched: set[str]) -> list[dict[str, Any]]:
    """The coordinator first, then each announced worker exporter whose worker is watched, by worker id."""
    groups = [target_group(own_url, "coordinator", directory.node_id)]
    groups += [target_group(url, "worker", wid) for wid, url in sorted(directory.urls().items()) if wid in watched]
    return groups


def register_discovery(app: Flask) -> ExporterDirectory:
    """Serve /api/sd from `app` (behind its auth guard like the rest of the API); returns the directory to fill."""
    directory = ExporterDirectory()
    app.extensions[EXTENSION] = directory
    app.register_blueprint(discovery)
    return directory


def exporter_directory(app: Flask) -> ExporterDirectory:
    """The directory of an app built by create_app."""
    directory: ExporterDirectory = app.extensions[EXTENSION]
    return directory


@discovery.get("/api/sd")
def http_sd() -> Any:
    """Prometheus HTTP SD: the coordinator at the address it was reached on, and its watched worker exporters."""
    watched = set(current_app.extensions["bytedb"].coordinator.workers())
    return jsonify(sd_document(request.url_root, current_app.extensions[EXTENSION], watched))
