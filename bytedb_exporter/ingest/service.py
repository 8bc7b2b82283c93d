"""The ingest service: a batch validated against a snapshot of the state and applied whole, or not at all."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from bytedb_exporter.ingest.apply import EventApplier
from bytedb_exporter.ingest.events import EventError, IngestContext, refused, validate_batch
from bytedb_exporter.metrics.registry import MetricsRegistry

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

    def submit(self, raw_events: list[Any]) -> tuple[dict[str, int], list[EventError]]:
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


def parse_body(body: bytes, mimetype: str) -> tuple[list[Any], list[EventError]]:
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
