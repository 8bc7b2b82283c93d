"""OpenTelemetry for finished queries (extra `bytedb-exporter[otel]`): the semantic-convention
`db.client.operation.duration` histogram and a span per query with a child span per phase and per fragment.

Hooks into a QueryMonitor through its listener API; export goes wherever the given (or global)
MeterProvider and TracerProvider send it, e.g. OTLP with the opentelemetry-exporter-otlp package.
"""
from __future__ import annotations

from opentelemetry import metrics, trace
from opentelemetry.trace import Status, StatusCode

from bytedb_exporter.query.execution import PHASES
from bytedb_exporter.query.models import QueryMetrics
from bytedb_exporter.query.monitor import QueryMonitor
from bytedb_exporter.query.sqltext import label_for_query_type, normalize_sql

DURATION_METRIC = "db.client.operation.duration"
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
"""The semantic conventions' advised boundaries for db.client.operation.duration, in seconds."""
SYSTEM = "bytedb"
OTHER_ERROR = "_OTHER"
"""error.type of a failed query: QueryMetrics keeps the error's message, not a low-cardinality class."""


def query_attributes(query: QueryMetrics) -> dict[str, str]:
    """The metric attributes of one query: system, operation (its query type) and, when it failed, error.type."""
    attributes = {"db.system.name": SYSTEM, "db.operation.name": label_for_query_type(query.query_type)}
    if query.error_message:
        attributes["error.type"] = OTHER_ERROR
    return attributes


class OTelQueryRecorder:
    """Records every query the monitor finishes as OTel telemetry; `close()` stops it."""

    def __init__(self, monitor: QueryMonitor, meter_provider: metrics.MeterProvider | None = None,
                 tracer_provider: trace.TracerProvider | None = None) -> None:
        self.monitor = monitor
        meter = metrics.get_meter(__name__, meter_provider=meter_provider)
        self._duration = meter.create_histogram(
            DURATION_METRIC, unit="s", description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS))
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        monitor.add_listener(self.record)

    def close(self) -> None:
        self.monitor.remove_listener(self.record)

    def record(self, query: QueryMetrics) -> None:
        """One histogram sample and one span tree for a finished query.

        The query span has the measured start and duration. Phase spans carry the measured phase
        durations laid end to end in phase order from the query's start (QueryMetrics keeps each
        phase's duration, not its start). Each recorded fragment is a span under the execution phase
        (under the query when no execution phase was timed) with its measured duration, starting its
        queued seconds after that phase's start.
        """
        attributes = query_attributes(query)
        self._duration.record(query.total_seconds, attributes)
        start = int(query.start_timestamp * 1e9)
        span = self._tracer.start_span(
            attributes["db.operation.name"], kind=trace.SpanKind.CLIENT, start_time=start,
            attributes={**attributes, "db.query.text": normalize_sql(query.sql), "bytedb.query.id": query.query_id,
                        **{f"bytedb.{name}": value for name, value in (
                            ("workers_used", query.workers_used), ("fragments_executed", query.fragments_executed),
                            ("rows_processed", query.rows_processed)) if value is not None}})
        if query.error_message:
            span.set_status(Status(StatusCode.ERROR, query.error_message))
        parent = trace.set_span_in_context(span)
        fragments_parent, fragments_start = parent, start
        offset = start
        for phase in PHASES:
            seconds = query.phase_seconds.get(phase)
            if seconds is None:
                continue
            end = offset + int(seconds * 1e9)
            child = self._tracer.start_span(phase, context=parent, start_time=offset,
                                            attributes={"bytedb.phase": phase})
            child.end(end_time=end)
            if phase == "execution":
                fragments_parent, fragments_start = trace.set_span_in_context(child), offset
            offset = end
        for fragment in query.fragments or ():
            began = fragments_start + int(fragment.queued_seconds * 1e9)
            child = self._tracer.start_span(
                "fragment", context=fragments_parent, start_time=began,
                attributes={"bytedb.worker_id": fragment.worker_id, "bytedb.rows": fragment.rows,
                            "bytedb.bytes": fragment.bytes, "bytedb.queued_seconds": fragment.queued_seconds})
            child.end(end_time=began + int(fragment.seconds * 1e9))
        span.end(end_time=start + int(query.total_seconds * 1e9))
