import json
import logging

from prometheus_client.parser import text_string_to_metric_families

from bytedb_exporter.debug import is_debug_mode, set_debug_mode
from bytedb_exporter.metrics.export import MetricsExporter
from bytedb_exporter.metrics.registry import MetricsRegistry

JSON_KEYS = {"name", "type", "value", "labels", "description", "timestamp", "unit"}


def test_prometheus_export_has_help_type_and_parses_back():
    registry = MetricsRegistry()
    registry.counter("queries_total", "Queries finished.", {"status": "success"}).add(1500)
    registry.gauge("worker_cpu_usage_percent", "CPU.", {"worker_id": "worker-1"}).set(78.5)
    histogram = registry.histogram("query_duration_seconds", [0.1, 0.5], "Query duration.")
    for value in (0.05, 0.2, 1.0):
        histogram.observe(value)
    text = MetricsExporter(registry).export_prometheus_metrics()
    assert "# HELP bytedb_queries_total Queries finished." in text
    assert "# TYPE bytedb_queries_total counter" in text
    assert 'bytedb_build_info{' in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["bytedb_queries"].samples[0].value == 1500
    assert families["bytedb_worker_cpu_usage_percent"].samples[0].labels == {"worker_id": "worker-1"}
    buckets = {s.labels.get("le"): s.value for s in families["bytedb_query_duration_seconds"].samples
               if s.name.endswith("_bucket")}
    assert buckets == {"0.1": 1, "0.5": 2, "+Inf": 3}


def test_json_export_keys_and_values():
    registry = MetricsRegistry()
    registry.counter("queries_total", "Queries.", {"component": "coordinator"}).add(3)
    registry.timer("planning_seconds").time(lambda: None)
    registry.gauge("memory_usage_bytes").set(2048)
    registry.timer("planning").time(lambda: None)
    text = MetricsExporter(registry).export_json_metrics()
    exported = json.loads(text)
    assert [item["name"] for item in exported] == [  # the exposition's names, build info included
        "bytedb_build_info", "bytedb_queries_total", "bytedb_planning_seconds", "bytedb_memory_usage_bytes",
        "bytedb_planning"]
    assert all(set(item) == JSON_KEYS for item in exported)
    info, counter, timer, gauge, unnamed_timer = exported
    assert info["type"] == "info" and info["value"] == 1 and set(info["labels"]) == {"version", "python"}
    assert counter["type"] == "counter" and counter["value"] == 3 and counter["labels"] == {"component": "coordinator"}
    assert timer["type"] == "timer" and timer["unit"] == "seconds" and timer["value"]["count"] == 1
    assert timer["value"]["buckets"]["+Inf"] == 1 and timer["value"]["buckets_cumulative"] is True
    assert unnamed_timer["type"] == "timer" and unnamed_timer["unit"] == "seconds"
    assert gauge["unit"] == "bytes" and gauge["value"] == 2048
    assert counter["timestamp"].endswith("Z")
    lines = text.splitlines()  # one series per line, so grep finds one series
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == len(exported) + 2
    assert [line for line in lines if "queries_total" in line] == [lines[2]]


def test_debug_mode_switches_package_logging(caplog):
    set_debug_mode(True)
    try:
        assert is_debug_mode()
        with caplog.at_level(logging.DEBUG, logger="bytedb_exporter"):
            logging.getLogger("bytedb_exporter.test").debug("visible")
        assert "visible" in caplog.text
    finally:
        set_debug_mode(False)
    assert not is_debug_mode()
