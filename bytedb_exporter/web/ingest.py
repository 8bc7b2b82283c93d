"""POST /api/v1/events: JSON array or NDJSON of events, handed to the IngestService."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from bytedb_exporter.ingest.events import EventError, refused
from bytedb_exporter.ingest.service import IngestService, parse_body
from bytedb_exporter.web.errors import json_error

ingest = Blueprint("ingest", __name__)


def register_ingest(app: Flask, service: IngestService) -> None:
    """Serve POST /api/v1/events on this app with this service."""
    app.extensions["bytedb_ingest"] = service
    app.register_blueprint(ingest)


@ingest.post("/api/v1/events")
def post_events() -> Any:
    service: IngestService = current_app.extensions["bytedb_ingest"]
    limit = service.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        service.count("too_large")
        return json_error(413, "body_too_large", f"the body has {request.content_length} bytes, the limit is {limit}")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        service.count("too_large")
        return json_error(413, "body_too_large", f"the body exceeds the limit of {limit} bytes")
    events, errors = parse_body(body, request.mimetype)
    if errors:
        service.count("invalid")
        return _rejected(400, "invalid_body", errors, len(events))
    if len(events) > service.max_events:
        service.count("too_large")
        return json_error(413, "too_many_events", f"{len(events)} events in one batch, the limit is "
                                                  f"{service.max_events}")
    counts, errors = service.submit(events)
    if errors:
        if refused(errors):
            return _rejected(422, "refused_events", errors, len(events))
        return _rejected(400, "invalid_events", errors, len(events))
    return jsonify({"accepted": sum(counts.values()), "query_events": counts["query"],
                    "worker_events": counts["worker"]})


def _rejected(code: int, error: str, errors: list[EventError], total: int) -> tuple[Response, int]:
    detail = f"{len(errors)} of {total} event(s) rejected; nothing was applied" if total else "nothing was applied"
    return jsonify({"error": error, "detail": detail, "errors": [e.to_dict() for e in errors]}), code
