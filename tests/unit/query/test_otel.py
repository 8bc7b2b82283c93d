"""OTelQueryRecorder with the opentelemetry-sdk's in-memory metric reader and span exporter."""
from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from bytedb_exporter.query.monitor import QueryMonitor
from bytedb_exporter.query.otel import DURATION_BUCKETS, OTelQueryRecorder

OTel = tuple[QueryMonitor, OTelQueryRecorder, InMemoryMetricReader, InMemorySpanExporter]


@pytest.fixture()
def otel() -> OTel:
    reader, spans = InMemoryMetricReader(), InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    monitor = QueryMonitor()
    recorder = OTelQueryRecorder(monitor, MeterProvider(metric_readers=[reader]), tracer_provider)
    return monitor, recorder, reader, spans


def duration_points(reader: InMemoryMetricReader) -> list[HistogramDataPoint]:
    data = reader.get_metrics_data()
    assert data is not None
    found = [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
             if m.name == "db.client.operation.duration"]
    (metric,) = found
    assert metric.unit == "s"
    return [p for p in metric.data.data_points if isinstance(p, HistogramDataPoint)]


def test_each_query_is_a_duration_sample_with_the_semantic_convention_attributes(otel: OTel) -> None:
    monitor, _, reader, _ = otel
    for _ in range(2):
        with monitor.monitor_query("q-ok", "SELECT a FROM t WHERE id = 7"):
            pass
    with pytest.raises(ValueError), monitor.monitor_query("q-bad", "SELECT a, count(*) FROM t GROUP BY a"):
        raise ValueError("no such column a")
    points = {tuple(sorted(p.attributes.items())): p for p in duration_points(reader)}
    ok = points[(("db.operation.name", "SELECT"), ("db.system.name", "bytedb"))]
    failed = points[(("db.operation.name", "SELECT_AGGREGATE"), ("db.system.name", "bytedb"), ("error.type", "_OTHER"))]
    assert (ok.count, failed.count) == (2, 1) and len(points) == 2
    assert tuple(ok.explicit_bounds) == DURATION_BUCKETS
    recent = {q.query_id: q.total_seconds for q in monitor.get_recent_queries(10)}
    assert failed.sum == pytest.approx(recent["q-bad"])


def test_each_query_is_a_client_span_with_a_child_per_phase(otel: OTel) -> None:
    monitor, _, _, spans = otel
    with monitor.monitor_query("q-1", "SELECT a FROM t WHERE b = 'x'") as execution:
        with execution.phase("planning"):
            pass
        with execution.phase("execution"):
            pass
    (query,) = [s for s in spans.get_finished_spans() if s.parent is None]
    children = [s for s in spans.get_finished_spans() if s.parent is not None]
    assert query.name == "SELECT" and query.kind is SpanKind.CLIENT
    assert query.attributes is not None
    assert query.attributes["db.query.text"] == "SELECT a FROM t WHERE b = ?"
    assert query.attributes["bytedb.query.id"] == "q-1" and query.status.status_code is StatusCode.UNSET
    assert [c.name for c in children][:2] == ["planning", "execution"]
    assert all(c.parent is not None and c.parent.span_id == query.context.span_id for c in children)
    assert all(c.context.trace_id == query.context.trace_id for c in children)
    assert query.start_time is not None and query.end_time is not None
    assert children[0].start_time == query.start_time
    assert all(a.end_time == b.start_time for a, b in zip(children, children[1:], strict=False))
    assert all(c.end_time is not None and c.end_time <= query.end_time for c in children)


def test_a_failed_query_span_has_the_error_status_and_close_stops_recording(otel: OTel) -> None:
    monitor, recorder, _, spans = otel
    with pytest.raises(RuntimeError), monitor.monitor_query("q-2", "DELETE FROM t"):
        raise RuntimeError("worker-2 unreachable")
    (span,) = [s for s in spans.get_finished_spans() if s.parent is None]
    assert span.status.status_code is StatusCode.ERROR and span.status.description == "worker-2 unreachable"
    assert span.attributes is not None and span.attributes["error.type"] == "_OTHER"
    recorder.close()
    with monitor.monitor_query("q-3", "DELETE FROM t"):
        pass
    assert len([s for s in spans.get_finished_spans() if s.parent is None]) == 1


def test_each_fragment_is_a_span_under_the_execution_phase(otel: OTel) -> None:
    monitor, _, _, spans = otel
    with monitor.monitor_query("q-2", "SELECT count(*) FROM t") as execution:
        with execution.phase("execution"):
            execution.record_fragment("worker-1", 0.25, rows=10, bytes=400, queued_seconds=0.5)
            execution.record_fragment("worker-2", 1.0)
    finished = {span.name: span for span in spans.get_finished_spans() if span.name != "fragment"}
    fragments = sorted((s for s in spans.get_finished_spans() if s.name == "fragment"),
                       key=lambda s: s.attributes["bytedb.worker_id"])
    assert [s.attributes["bytedb.worker_id"] for s in fragments] == ["worker-1", "worker-2"]
    phase = finished["execution"]
    assert all(s.parent is not None and s.parent.span_id == phase.context.span_id for s in fragments)
    assert [(s.end_time - s.start_time) / 1e9 for s in fragments] == pytest.approx([0.25, 1.0])
    assert (fragments[0].start_time - phase.start_time) / 1e9 == pytest.approx(0.5)
    assert fragments[0].attributes["bytedb.rows"] == 10 and fragments[0].attributes["bytedb.bytes"] == 400
