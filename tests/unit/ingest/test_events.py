"""Event batches: validated whole against a state snapshot, then applied to real monitors."""
from pathlib import Path

import pytest
import yaml

from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.ingest.apply import EventApplier
from bytedb_exporter.ingest.events import EVENT_FIELDS, IngestContext, validate_batch
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.query.monitor import QueryMonitor

COORDINATOR = IngestContext(accepts_queries=True, max_open_queries=3, new_worker_slots=2)
WORKER = IngestContext(accepts_queries=False, known_workers=frozenset(["w1"]), default_worker="w1",
                       new_worker_refusal="this exporter serves worker 'w1' only", max_open_queries=2)
LIFECYCLE = [
    {"type": "query_start", "query_id": "q1", "sql": "SELECT count(*) FROM t GROUP BY a", "workers": 2,
     "fragments": 4},
    {"type": "query_update", "query_id": "q1", "phases": {"planning_ms": 5, "execution_ms": 40}, "rows": 100},
    {"type": "query_end", "query_id": "q1", "duration_ms": 50, "bytes": 2048, "cache_hit_rate": 75,
     "optimization_applied": True, "original_cost": 100, "optimized_cost": 40, "network_latency_ms": 2,
     "phases": {"aggregation_ms": 3, "coordination_ms": 1}},
    {"type": "query_start", "query_id": "q2", "sql": "DELETE FROM t", "query_type": "delete"},
    {"type": "query_end", "query_id": "q2", "error": "disk full"},
]
WORKER_EVENTS = [
    {"type": "worker_query_start", "query_id": "f1"},
    {"type": "worker_query_end", "query_id": "f1", "success": True, "rows": 10, "bytes": 4096},
    {"type": "cache_hit", "count": 3}, {"type": "cache_miss"}, {"type": "cache_eviction", "worker_id": "w1"},
    {"type": "cache_size", "size_bytes": 1048576},
    {"type": "worker_error", "error": "timeout", "query": "SELECT 1", "severity": "critical"},
    {"type": "network", "bytes_received": 100, "bytes_sent": 50, "latency_ms": 4}, {"type": "heartbeat"},
]


def codes(batch, ctx=COORDINATOR):
    events, errors = validate_batch(batch, ctx)
    assert not events or errors, "a bad batch must report errors"
    return [(e.index, e.code) for e in errors], [e.reason for e in errors]


def test_valid_query_lifecycle_is_typed():
    events, errors = validate_batch(LIFECYCLE, COORDINATOR)
    assert errors == []
    assert [e.type for e in events] == ["query_start", "query_update", "query_end", "query_start", "query_end"]
    assert events[1].values["phases"] == {"planning": 0.005, "execution": 0.04}
    assert events[2].values["duration"] == 0.05 and events[2].values["cost"] == (True, 100.0, 40.0)
    assert events[3].values["query_type"] == "DELETE"


def test_valid_worker_events_default_to_this_worker():
    events, errors = validate_batch(WORKER_EVENTS, WORKER)
    assert errors == [] and {e.worker_id for e in events} == {"w1"}
    assert events[2].values["count"] == 3 and events[3].values["count"] == 1


@pytest.mark.parametrize("event, reason", [
    ("not an object", "expected an object, got str"),
    ({"query_id": "q"}, "type: expected one of"),
    ({"type": "query_begin", "query_id": "q"}, "type: expected one of"),
    ({"type": ["query_start"], "query_id": "q"}, "type: expected one of"),
    ({"type": "query_start", "query_id": "q", "sql": "x", "user": "bob"}, "unknown field(s) 'user' for query_start"),
    ({"type": "query_start", "sql": "x"}, "query_id: expected a non-empty string"),
    ({"type": "query_start", "query_id": "q" * 129, "sql": "x"},
     "query_id: expected a non-empty string of at most 128"),
    ({"type": "query_start", "query_id": "q"}, "sql: expected a non-empty string"),
    ({"type": "query_start", "query_id": "q", "sql": "x", "rows": -1}, "rows: expected an integer from 0"),
    ({"type": "query_start", "query_id": "q", "sql": "x", "rows": 1.5}, "rows: expected an integer from 0"),
    ({"type": "query_start", "query_id": "q", "sql": "x", "workers": True}, "workers: expected an integer"),
    ({"type": "query_start", "query_id": "q", "sql": "x", "cache_hit_rate": 101},
     "cache_hit_rate: expected a finite number from 0 to 100"),
    ({"type": "query_start", "query_id": "q", "sql": "x", "phases": {"parsing_ms": 1}},
     "phases: expected an object with keys among"),
    ({"type": "query_start", "query_id": "q", "sql": "x", "phases": {"planning_ms": -1}},
     "phases.planning_ms: expected a finite number"),
    ({"type": "query_start", "query_id": "q", "sql": "x", "original_cost": 5}, "expected both costs"),
    ({"type": "query_start", "query_id": "q", "sql": "x", "error": ""}, "error: expected a non-empty string"),
    ({"type": "query_update", "query_id": "nope"}, "query_id: no open query 'nope' (send query_start first)"),
    ({"type": "query_end", "query_id": "nope"}, "no open query 'nope'"),
    ({"type": "query_end", "query_id": "ok", "duration_ms": "5"}, "duration_ms: expected a finite number"),
    ({"type": "cache_hit", "worker_id": "w1", "count": 10001}, "count: expected an integer from 0 to 10000"),
])
def test_each_bad_event_is_named_by_index_and_reason(event, reason):
    found, reasons = codes([{"type": "query_start", "query_id": "ok", "sql": "SELECT 1"}, event])
    assert found == [(1, "invalid")], reasons
    assert reason in reasons[0]


def test_every_bad_event_of_a_batch_is_reported():
    found, _ = codes([{"type": "x"}, LIFECYCLE[0], {"type": "query_end", "query_id": "zz"}, "bad"])
    assert found == [(0, "invalid"), (2, "invalid"), (3, "invalid")]


def test_open_queries_are_simulated_across_the_batch():
    assert codes([LIFECYCLE[0], LIFECYCLE[0]])[0] == [(1, "invalid")]
    ctx = IngestContext(accepts_queries=True, open_queries=frozenset(["q9"]))
    assert validate_batch([{"type": "query_end", "query_id": "q9"}], ctx)[1] == []


def test_refusals_instead_of_new_label_values():
    found, reasons = codes([{"type": "query_start", "query_id": "q", "sql": "x", "query_type": "MERGE"}])
    assert found == [(0, "unknown_query_type")] and "refused rather than becoming new label values" in reasons[0]
    heartbeats = [{"type": "heartbeat", "worker_id": f"w{i}"} for i in range(3)]
    assert codes(heartbeats)[0] == [(2, "cardinality_limit")]
    known = IngestContext(accepts_queries=True, known_workers=frozenset(["w0", "w1", "w2"]))
    assert validate_batch(heartbeats, known)[1] == []
    starts = [{"type": "query_start", "query_id": f"q{i}", "sql": "SELECT 1"} for i in range(4)]
    assert codes(starts)[0] == [(3, "too_many_open_queries")]


def test_fragments_kept_per_query_are_counted_across_events_and_batches():
    timings = [{"worker_id": "w1", "duration_ms": 1}] * 600
    start = {"type": "query_start", "query_id": "q", "sql": "SELECT 1"}
    update = {"type": "query_update", "query_id": "q", "fragment_timings": timings}
    assert codes([start, update, update])[0] == [(2, "too_many_fragments")]
    held = IngestContext(accepts_queries=True, open_queries=frozenset(["q"]), fragments_kept={"q": 401})
    found, reasons = codes([update], held)
    assert found == [(0, "too_many_fragments")] and "holds 401 fragments, 600 more" in reasons[0]
    assert validate_batch([update], IngestContext(accepts_queries=True, open_queries=frozenset(["q"]),
                                                  fragments_kept={"q": 400}))[1] == []


def test_worker_exporter_refuses_other_workers_and_query_events():
    found, reasons = codes([{"type": "heartbeat", "worker_id": "w2"}, LIFECYCLE[0]], WORKER)
    assert found == [(0, "cardinality_limit"), (1, "wrong_exporter")]
    assert "this exporter serves worker 'w1' only" in reasons[0]
    starts = [{"type": "worker_query_start", "query_id": f"f{i}"} for i in range(3)]
    assert codes(starts, WORKER)[0] == [(2, "too_many_open_queries")]
    foreign = IngestContext(accepts_queries=True, foreign_workers={"w5": "post to its own exporter"},
                            new_worker_slots=9)
    assert (codes([{"type": "heartbeat", "worker_id": "w5"}], foreign)
            == ([(0, "wrong_exporter")], ["post to its own exporter"]))


def test_worker_event_fields_are_checked():
    bad = [{"type": "worker_query_end", "query_id": "f", "success": "yes"},
           {"type": "worker_error", "error": "x", "severity": "fatal"},
           {"type": "network", "bytes_sent": -1}, {"type": "cache_size"}, {"type": "heartbeat", "query_id": "f"}]
    found, reasons = codes(bad, WORKER)
    assert [i for i, _ in found] == [0, 1, 2, 3, 4]
    assert "severity: expected one of info, warning, error, critical" in reasons[1]


def test_applier_records_queries_on_query_and_coordinator_monitors():
    registry = MetricsRegistry()
    queries, coordinator = QueryMonitor(registry), CoordinatorMonitor(registry)
    applier = EventApplier(lambda wid: pytest.fail("no worker events here"), queries, coordinator)
    events, errors = validate_batch(LIFECYCLE[:1], COORDINATOR)
    applier.apply(events)
    assert applier.open_queries() == {"q1"} and queries.get_query_stats().active_queries == 1
    events, errors = validate_batch(LIFECYCLE[1:], IngestContext(accepts_queries=True, open_queries=frozenset(["q1"])))
    assert errors == [] and applier.apply(events) == {"query": 4, "worker": 0}
    stats = queries.get_query_stats()
    assert (stats.total_queries, stats.failed_queries, stats.optimized_queries, stats.active_queries) == (2, 1, 1, 0)
    first = queries.get_recent_queries(2)[1]
    assert first.query_type == "SELECT_AGGREGATE" and first.total_seconds == pytest.approx(0.05, abs=0.005)
    assert first.phase_seconds == pytest.approx({"planning": 0.005, "execution": 0.04, "aggregation": 0.003,
                                                 "coordination": 0.001})
    assert (first.rows_processed, first.bytes_transferred, first.cache_hit_rate) == (100, 2048, 75.0)
    assert queries.get_failed_queries(1)[0].error_message == "disk full"
    coordination = coordinator.get_coordinator_stats().query_coordination
    assert coordination.queries_coordinated == 2 and coordination.failed_queries == 1
    assert coordination.average_fragments_per_query == 2.0
    assert applier.open_queries() == frozenset()


def test_applier_records_worker_events():
    monitor = WorkerMonitor("w1", MetricsRegistry())
    applier = EventApplier(lambda wid: monitor)
    events, errors = validate_batch(WORKER_EVENTS, WORKER)
    assert errors == [] and applier.apply(events) == {"query": 0, "worker": 9}
    stats = monitor.get_worker_stats()
    assert (stats.query_stats.total_queries, stats.query_stats.rows_processed) == (1, 10)
    assert (stats.cache_stats.cache_hits, stats.cache_stats.cache_misses, stats.cache_stats.eviction_count) == (3, 1, 1)
    assert stats.cache_stats.cache_size_mb == 1.0
    assert stats.recent_errors[0].severity == "critical" and stats.status.status == "degraded"
    assert (stats.network_stats.bytes_received, stats.network_stats.bytes_sent) == (100, 50)


def test_open_queries_without_an_end_expire_as_failed():
    now = [100.0]
    registry = MetricsRegistry()
    queries, coordinator = QueryMonitor(registry), CoordinatorMonitor(registry)
    applier = EventApplier(lambda wid: None, queries, coordinator, open_query_timeout=60, clock=lambda: now[0])
    events, errors = validate_batch([{"type": "query_start", "query_id": "lost", "sql": "SELECT 1"}],
                                    IngestContext(accepts_queries=True))
    assert errors == []
    applier.apply(events)
    now[0] += 59
    assert applier.expire_stale() == [] and applier.open_queries() == {"lost"}
    now[0] += 2
    assert applier.expire_stale() == ["lost"]
    assert applier.open_queries() == frozenset()
    failed = queries.get_failed_queries()
    assert failed[0].query_id == "lost" and "no query_end event within 60 s" in failed[0].error_message
    assert queries.get_query_stats().active_queries == 0


SURROGATE = "pw-\udc80"


@pytest.mark.parametrize("event, field", [
    ({"type": "heartbeat", "worker_id": SURROGATE}, "worker_id"),
    ({"type": "query_start", "query_id": SURROGATE, "sql": "SELECT 1"}, "query_id"),
    ({"type": "query_start", "query_id": "q", "sql": "SELECT '\ud800'"}, "sql"),
    ({"type": "query_start", "query_id": "q", "sql": "x", "error": "\udfff"}, "error"),
    ({"type": "worker_error", "worker_id": "w", "error": "bad \udc80"}, "error"),
    ({"type": "worker_error", "worker_id": "w", "error": "x", "query": "\udc80"}, "query"),
    ({"type": "worker_query_start", "worker_id": "w", "query_id": "f\udc80"}, "query_id"),
])
def test_lone_surrogates_are_refused_by_field(event, field):
    found, reasons = codes([event])
    assert found == [(0, "invalid")]
    assert reasons[0].startswith(f"{field}: not valid UTF-8")
    reasons[0].encode("utf-8")  # the answer itself stays encodable


@pytest.mark.parametrize("field, value", [("worker_id", "w\n1"), ("worker_id", "w\x00"), ("worker_id", "w\x85"),
                                          ("query_id", "q\t1")])
def test_ids_with_control_characters_are_refused(field, value):
    event = {"type": "worker_query_start", "worker_id": "w", "query_id": "f", field: value}
    found, reasons = codes([event])
    assert found == [(0, "invalid")] and reasons[0].startswith(f"{field}: control character")


NOT_FINITE = [float("nan"), float("inf"), float("-inf"), 1e999]


@pytest.mark.parametrize("value", NOT_FINITE + [-1, -0.5, True, "1", None, [1], {"a": 1}])
@pytest.mark.parametrize("field, event", [
    ("latency_ms", {"type": "network", "worker_id": "w"}),
    ("duration_ms", {"type": "query_end", "query_id": "ok"}),
    ("cache_hit_rate", {"type": "query_update", "query_id": "ok"}),
    ("network_latency_ms", {"type": "query_update", "query_id": "ok"}),
    ("original_cost", {"type": "query_update", "query_id": "ok", "optimized_cost": 1}),
    ("optimized_cost", {"type": "query_update", "query_id": "ok", "original_cost": 1}),
    ("rows", {"type": "query_update", "query_id": "ok"}),
    ("bytes", {"type": "worker_query_end", "worker_id": "w", "query_id": "f"}),
    ("count", {"type": "cache_hit", "worker_id": "w"}),
    ("size_bytes", {"type": "cache_size", "worker_id": "w"}),
    ("bytes_received", {"type": "network", "worker_id": "w"}),
])
def test_numbers_must_be_finite_and_in_range(field, event, value):
    found, reasons = codes([{"type": "query_start", "query_id": "ok", "sql": "SELECT 1"}, {**event, field: value}])
    assert found == [(1, "invalid")], reasons
    assert reasons[0].startswith(f"{field}: expected"), reasons[0]


@pytest.mark.parametrize("value", NOT_FINITE + [-1])
def test_phase_durations_must_be_finite(value):
    found, reasons = codes([{"type": "query_start", "query_id": "q", "sql": "x", "phases": {"planning_ms": value}}])
    assert found == [(0, "invalid")] and reasons[0].startswith("phases.planning_ms: expected a finite number")


@pytest.mark.parametrize("field, value", [("rows", 2 ** 53 + 1), ("count", 10 ** 30), ("latency_ms", 1e308),
                                          ("cache_hit_rate", 100.0001)])
def test_numbers_above_their_documented_maximum_are_refused(field, value):
    kind = {"rows": "query_update", "count": "cache_miss", "latency_ms": "network", "cache_hit_rate": "query_update"}
    event = {"type": kind[field], "query_id": "ok", field: value} if kind[field] == "query_update" else \
        {"type": kind[field], "worker_id": "w", field: value}
    found, reasons = codes([{"type": "query_start", "query_id": "ok", "sql": "SELECT 1"}, event])
    assert found == [(1, "invalid")] and reasons[0].startswith(f"{field}: expected")


@pytest.mark.parametrize("kind", [None, 1, True, ["heartbeat"], {"t": 1}, "", "HEARTBEAT", "heartbeat\udc80"])
def test_type_must_be_a_known_string(kind):
    found, reasons = codes([{"type": kind, "worker_id": "w"}])
    assert found == [(0, "invalid")] and reasons[0].startswith("type: expected one of query_start")


@pytest.mark.parametrize("field, limit", [("worker_id", 64), ("query_id", 128), ("error", 4096), ("sql", 100_000)])
def test_strings_have_documented_maximum_lengths(field, limit):
    event = {"type": "heartbeat", "worker_id": "w"} if field == "worker_id" else \
        {"type": "query_start", "query_id": "q", "sql": "x", "error": "e"}
    assert validate_batch([{**event, field: "a" * limit}], COORDINATOR)[1] == []
    found, reasons = codes([{**event, field: "a" * (limit + 1)}])
    assert found == [(0, "invalid")] and f"{field}: expected a non-empty string of at most {limit}" in reasons[0]


def test_a_value_too_deep_to_print_is_still_refused_by_name():
    nested: list = []
    for _ in range(5000):
        nested = [nested]
    found, reasons = codes([{"type": "heartbeat", "worker_id": nested}])
    assert found == [(0, "invalid")] and reasons[0].startswith("worker_id: expected a non-empty string")


def test_severity_must_be_a_known_string():
    for severity in (None, ["error"], "fatal", "error\udc80"):
        found, reasons = codes([{"type": "worker_error", "worker_id": "w", "error": "x", "severity": severity}])
        assert found == [(0, "invalid")] and reasons[0].startswith("severity: expected one of"), severity


def test_negative_zero_becomes_zero():
    events, errors = validate_batch([{"type": "network", "worker_id": "w", "latency_ms": -0.0}], COORDINATOR)
    assert errors == [] and str(events[0].values["latency"]) == "0.0"


def test_openapi_lists_exactly_the_known_event_types():
    spec = yaml.safe_load((Path(__file__).resolve().parents[3] / "docs" / "openapi.yaml").read_text())
    body = spec["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["items"]["properties"]["type"] == {"type": "string", "enum": list(EVENT_FIELDS)}


def test_an_integer_too_large_for_a_float_is_refused_not_raised():
    found, reasons = codes([{"type": "network", "worker_id": "w", "latency_ms": 10 ** 400, "bytes_sent": 10 ** 400}])
    assert found == [(0, "invalid")] and reasons[0].startswith("bytes_sent: expected an integer")
    found, reasons = codes([{"type": "network", "worker_id": "w", "latency_ms": 10 ** 400}])
    assert reasons[0].startswith("latency_ms: expected a finite number")
