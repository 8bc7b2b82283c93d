"""The JSON API, /metrics, /healthz and the event stream."""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from bytedb_exporter.metrics.export import families_json, json_lines, timer_families
from bytedb_exporter.query.slowlog import FORMATS, render
from bytedb_exporter.query.statements import OTHER, SORT_KEYS, iso_timestamp
from bytedb_exporter.web.errors import BadRequest, json_error
from bytedb_exporter.web.metrics_endpoint import metrics_response
from bytedb_exporter.web.stream import RETRY_AFTER_SECONDS

api = Blueprint("api", __name__)
PROMETHEUS_TYPES = ("application/openmetrics-text", "text/plain")


def state() -> Any:
    """The app's monitors and helpers (set by create_app)."""
    return current_app.extensions["bytedb"]


INTEGER = re.compile(r"^-?[0-9]{1,12}\Z")  # ASCII digits only: int() would also take " 5", "1_0" and "٣"


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high], else a 400 naming it."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not INTEGER.match(raw):
        raise BadRequest("invalid_parameter", f"{name} must be an integer, got {raw!r}")
    value = int(raw)
    if not low <= value <= high:
        raise BadRequest("invalid_parameter", f"{name} must be between {low} and {high}, got {value}")
    return value


def choice_arg(name: str, default: str, choices: Iterable[str]) -> str:
    """A query parameter that must be one of `choices`, else a 400 naming them."""
    value = request.args.get(name, default)
    if value not in choices:
        raise BadRequest("invalid_parameter", f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def found_or_404(found: Any, code: str, detail: str) -> Any:
    """`found` as JSON, or a 404 with `code` and `detail` when it is None."""
    return json_error(404, code, detail) if found is None else jsonify(found)


def preferred_metrics_format(accept: str) -> str:
    """application/json or a Prometheus type, by the Accept header with media-type parameters
    other than q ignored (Prometheus asks for `application/openmetrics-text;version=1.0.0`)."""
    cleaned = []
    for part in accept.split(","):
        media, *params = [item.strip() for item in part.split(";")]
        quality = [p for p in params if p.startswith("q=")]
        cleaned.append(";".join([media, *quality]))
    offers = ("application/json",) + PROMETHEUS_TYPES
    return parse_accept_header(",".join(cleaned), MIMEAccept).best_match(offers) or "application/json"


def prometheus_response() -> Response:
    """The merged registries in the format the Accept header asks for (OpenMetrics or text 0.0.4)."""
    return metrics_response(state().scrape_cache, request.headers.get("Accept", ""),
                            request.headers.get("Accept-Encoding", ""))


@api.get("/metrics")
def metrics() -> Response:
    return prometheus_response()


@api.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok", "stream_clients": state().hub.clients, "snapshots": state().hub.ticks})


@api.get("/api/overview")
def overview() -> Response:
    return jsonify(state().views.overview())


@api.get("/api/cluster")
def cluster() -> Response:
    return jsonify(state().views.cluster())


@api.get("/api/workers")
def workers() -> Response:
    return jsonify(state().views.workers())


@api.get("/api/workers/<worker_id>")
def worker(worker_id: str) -> Any:
    return found_or_404(state().views.worker(worker_id), "unknown_worker", f"no worker with id {worker_id!r}")


@api.get("/api/queries")
def queries() -> Response:
    return jsonify(state().views.queries_view(int_arg("limit", 20, 1, 1000)))


FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")


@api.get("/api/slow-queries")
def slow_queries() -> Response:
    """The slow-query log, newest first, as json, ndjson or CSV (`format`)."""
    fmt = choice_arg("format", "json", FORMATS)
    entries = state().slow_log.entries(int_arg("limit", 1000, 1, 100000))
    response = Response(render(entries, fmt), mimetype=FORMATS[fmt])
    if fmt == "csv":
        response.headers["Content-Disposition"] = 'attachment; filename="slow-queries.csv"'
    return response


@api.get("/api/statements")
def statements() -> Response:
    """The largest statements by `sort` (total, mean, calls, errors or rows), and the `other` row."""
    sort = choice_arg("sort", "total", SORT_KEYS)
    queries = state().queries
    rows = queries.get_statement_stats(int_arg("limit", 100, 1, 10000), sort)
    return jsonify({"sort": sort, "stats_since": iso_timestamp(queries.statements_since()),
                    "statements": [row.to_dict() for row in rows], "other": queries.statement_other().to_dict()})


@api.post("/api/statements/reset")
def reset_statements() -> Any:
    """Forget every statement's statistics, or one `fingerprint`'s (auth on, or allowed by the config)."""
    app_state = state()
    if not app_state.auth_enabled and not app_state.allow_unauthenticated_reset:
        return json_error(403, "reset_not_allowed", "resetting statement statistics needs auth on, or "
                                                    "api.allow_unauthenticated_reset: true in the config")
    fingerprint = request.args.get("fingerprint")
    if fingerprint is not None and fingerprint != OTHER and not FINGERPRINT.match(fingerprint):
        raise BadRequest("invalid_parameter", f"fingerprint must be 16 lowercase hex digits or 'other', "
                                              f"got {fingerprint!r}")
    removed = app_state.queries.reset_statement_stats(fingerprint)
    if fingerprint is not None and fingerprint != OTHER and not removed:
        return json_error(404, "unknown_statement", f"no statement with fingerprint {fingerprint!r}")
    return jsonify({"reset": removed, "fingerprint": fingerprint})


@api.get("/api/queries/<path:query_id>")
def query(query_id: str) -> Any:
    return found_or_404(state().views.query(query_id), "unknown_query",
                        f"no finished query with id {query_id!r} in the recent history")


@api.get("/api/insights")
def insights() -> Response:
    return jsonify(state().views.insights())


@api.get("/api/alerts")
def alerts() -> Response:
    return jsonify(state().views.alerts())


@api.post("/api/alerts/<alert_id>/acknowledge")
def acknowledge(alert_id: str) -> Any:
    if not state().coordinator.acknowledge_alert(alert_id):
        return json_error(404, "unknown_alert", f"no active alert with id {alert_id!r}")
    return jsonify({"acknowledged": alert_id})


@api.get("/api/performance")
def performance() -> Response:
    return jsonify(state().views.performance())


@api.get("/api/history")
def history() -> Response:
    return jsonify({"interval_seconds": state().hub.interval, "points": state().views.history.points()})


@api.get("/api/metrics")
def metrics_json() -> Response:
    """Every series of /metrics as JSON, one per line (from one collect() of the same exposition registry);
    the Prometheus formats when the Accept header prefers them (as Prometheus does)."""
    if preferred_metrics_format(request.headers.get("Accept", "")) in PROMETHEUS_TYPES:
        return prometheus_response()
    families = list(state().exposition.collect())
    body = json_lines(families_json(families, timer_families(state().registries())))
    return Response(body, mimetype="application/json")


@api.get("/api/stream")
def stream() -> Any:
    """The live snapshots as SSE; 503 with Retry-After at once when max_streams clients are open."""
    hub = state().hub
    events = hub.open()  # needs no request context: it only reads the hub
    if events is None:
        refused, code = json_error(503, "too_many_streams", f"{hub.max_clients} live streams are open, the most "
                                   f"this exporter serves (limits.max_streams); retry in {RETRY_AFTER_SECONDS} s")
        refused.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return refused, code
    response = Response(events, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response

