"""What the engine hands the library is checked at the call: a lone surrogate in a text is replaced (every
endpoint still encodes), a non-finite or negative figure is a ValueError that changes nothing."""
import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bytedb_exporter import MetricsRegistry, QueryMonitor, WorkerMonitor, create_app

BAD_FIGURES = [
    ("record_fragment", ("w1", math.nan), "fragment seconds"),
    ("record_fragment", ("w1", 1.0, 0, 0, math.inf), "fragment queued_seconds"),
    ("record_fragment", ("w1", 1.0, -1), "fragment rows"),
    ("set_network_latency", (math.nan,), "network latency"),
    ("set_coordination_overhead", (-1.0,), "coordination overhead"),
    ("set_optimization_info", (True, math.inf, 1.0), "original_cost"),
    ("set_data_info", (-5, 0), "rows_processed"),
    ("set_worker_info", (1, -2), "fragments_executed"),
    ("finish", (math.nan,), "total_seconds"),
]


@pytest.mark.parametrize("method,args,name", BAD_FIGURES)
def test_a_bad_figure_is_refused_and_changes_nothing(method, args, name):
    execution = QueryMonitor(MetricsRegistry()).start_query_monitoring("q1", "SELECT 1")
    before = {slot: getattr(execution, slot) for slot in ("fragments", "network_latency", "phase_seconds",
                                                          "optimization_applied", "rows_processed", "result")}
    with pytest.raises(ValueError, match=name):
        getattr(execution, method)(*args)
    assert {slot: getattr(execution, slot) for slot in before} == before


def test_lone_surrogates_in_texts_never_break_an_endpoint():
    registry = MetricsRegistry()
    queries = QueryMonitor(registry)
    client = create_app(queries=queries, start_stream=False, scrape_cache_seconds=0).test_client()
    execution = queries.start_query_monitoring("q\udc80", "SELECT \udc80 FROM t")
    execution.record_fragment("w\udc80", 0.5)
    execution.set_plan("Scan \udc80")
    execution.set_error("broke on \udc80")
    execution.finish()
    detail = client.get("/api/queries/q\ufffd").get_json()
    assert detail["sql"] == "SELECT \ufffd FROM t" and detail["plan"] == "Scan \ufffd"
    assert detail["fragments"][0]["worker_id"] == "w\ufffd"
    for path in ("/metrics", "/api/queries", "/api/statements", "/api/slow-queries?format=csv", "/api/overview"):
        assert client.get(path).status_code == 200, path
    families = {f.name for f in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))}
    assert "bytedb_query_duration_seconds" in families


def test_a_label_value_that_cannot_be_encoded_is_refused():
    registry = MetricsRegistry()
    with pytest.raises(ValueError, match="lone surrogate"):
        registry.counter("requests", "Requests.", {"path": "/\udc80"})
    with pytest.raises(ValueError, match="lone surrogate"):
        WorkerMonitor("w\udc80", registry)
    with pytest.raises(ValueError, match="lone surrogate"):
        MetricsRegistry().set_labels(node="n\udc80")
