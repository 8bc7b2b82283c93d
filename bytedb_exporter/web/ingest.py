"""POST /api/v1/events: JSON array or NDJSON of events; a batch is applied whole or not at all."""
from __future__ import annotations

import json
import threading
from typing import Any, Callable, Dict, List, Tuple

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from ..event_apply import EventApplier
from ..events import EventError, IngestContext, refused, validate_batch
from ..metrics import MetricsRegistry
from .errors import json_error

ingest = Blueprint("ingest", __name__)
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
RESULTS = ("accepted", "invalid", "refused", "too_large")


class IngestService:
    """Validates a batch against a snapshot of the state and applies it, both under one lock."""

    def __init__(self, registry: MetricsRegistry, applier: EventApplier, context: Callable[[], IngestContext], *,
                 max_body_bytes: int = 1024 * 1024, max_events: int = 10000):
        self.applier = applier
        self.context = context
        self.max_body_bytes = max_body_bytes
        self.max_events = max_events
        self._lock = threading.Lock()
        self._requests = {result: registry.counter("ingest_requests_total", "Event batches posted to "
                                                   "/api/v1/events, by result (accepted, invalid, refused, "
                                                   "too_large).", {"result": result}) for result in RESULTS}
        self._events = {kind: registry.counter("ingest_events_total", "Events applied from /api/v1/events, by kind "
                                               "(query or worker).", {"kind": kind}) for kind in ("query", "worker")}

    def count(self, result: str) -> None:
        """Count one request by its result."""
        self._requests[result].inc()

    def submit(self, raw_events: List[Any]) -> Tuple[Dict[str, int], List[EventError]]:
        """(applied counts, []) when every event is valid, else ({}, every error) and nothing applied."""
        with self._lock:
            self.applier.expire_stale()
            events, errors = validate_batch(raw_events, self.context())
            if errors:
                self.count("refused" if refused(errors) else "invalid")
                return {}, errors
            counts = self.applier.apply(events)
        self.count("accepted")
        for kind, number in counts.items():
            self._events[kind].inc(number)
        return counts, []


def register_ingest(app: Flask, service: IngestService) -> None:
    """Serve POST /api/v1/events on this app with this service."""
    app.extensions["bytedb_ingest"] = service
    app.register_blueprint(ingest)


def _parse(body: bytes, mimetype: str) -> Tuple[List[Any], List[EventError]]:
    """The events of a JSON array or NDJSON body, or the errors that make it unreadable."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return [], [EventError(0, "invalid", f"body is not UTF-8: {error}")]
    if mimetype in NDJSON_TYPES:
        events, errors = [], []
        for number, line in enumerate(line for line in text.splitlines() if line.strip()):
            try:
                events.append(json.loads(line))
            except (ValueError, RecursionError) as error:  # RecursionError: nested too deeply
                errors.append(EventError(number, "invalid", f"line is not JSON: {error}"))
        return events, errors
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:
        return [], [EventError(0, "invalid", f"body is not JSON: {error}")]
    if not isinstance(document, list):
        return [], [EventError(0, "invalid", f"expected a JSON array of events (or NDJSON with Content-Type "
                                             f"{NDJSON_TYPES[0]}), got {type(document).__name__}")]
    return document, []


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
    events, errors = _parse(body, request.mimetype)
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


def _rejected(code: int, error: str, errors: List[EventError], total: int) -> Tuple[Response, int]:
    detail = f"{len(errors)} of {total} event(s) rejected; nothing was applied" if total else "nothing was applied"
    return jsonify({"error": error, "detail": detail, "errors": [e.to_dict() for e in errors]}), code
