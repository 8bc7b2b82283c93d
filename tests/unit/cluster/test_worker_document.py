"""A polled /api/worker document is checked field by field before WorkerStats.from_dict sees it."""
import copy
import json

import pytest

from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.cluster.worker_document import MAX_CPU_PERCENT, MAX_MB, DocumentError, check_worker_document
from bytedb_exporter.cluster.worker_models import WorkerStats
from bytedb_exporter.metrics.registry import MetricsRegistry

# A worker exporter's /api/worker answer, as WorkerStats.to_dict() writes it.
DOCUMENT = {
    "worker_id": "w1",
    "status": {"status": "healthy", "last_check": "2026-12-03T12:32:42.027Z", "message": "Worker is healthy",
               "uptime_ms": 1.43, "issues": [], "seconds_since_heartbeat": 0.0006},
    "performance": {"queries_per_second": 0.5, "average_response_time_ms": 2.0, "throughput_mbps": 0.1,
                    "latency_p50_ms": 1.0, "latency_p95_ms": 2.0, "latency_p99_ms": None},
    "resource_utilization": {"cpu_usage_percent": 12.5, "memory_usage_mb": 35.09, "memory_usage_percent": 0.15,
                             "disk_usage_mb": 23599.9, "disk_usage_percent": 22.7, "active_connections": 0,
                             "open_file_descriptors": 6, "threads": 1, "process_status": "ok"},
    "query_stats": {"total_queries": 1, "active_queries": 0, "successful_queries": 1, "failed_queries": 0,
                    "success_rate_percent": 100.0, "rows_processed": 10, "bytes_processed": 100, "unmatched_ends": 0},
    "cache_stats": {"cache_hits": 0, "cache_misses": 0, "hit_rate_percent": 0.0, "cache_size_mb": 0.0,
                    "eviction_count": 0},
    "network_stats": {"bytes_received": 0, "bytes_sent": 0, "requests_received": 0, "responses_sent": 0,
                      "network_latency_ms": 0.0, "latency_samples": 0, "bytes_per_second": 0.0},
    "recent_errors": [{"timestamp": "2026-12-03T12:32:42.026Z", "error": "disk slow", "query": "SELECT 1",
                       "severity": "warning"}],
    "load": 4.2,
}


@pytest.fixture
def document():
    return copy.deepcopy(DOCUMENT)


def changed(document, path, value):
    """A copy of the document with the value at a dotted path replaced (or removed when value is ...)."""
    doc = copy.deepcopy(document)
    *parents, last = path.split(".")
    target = doc
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    key = int(last) if isinstance(target, list) else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return doc


def refusal(doc, worker_id="w1"):
    with pytest.raises(DocumentError) as raised:
        check_worker_document(doc, worker_id)
    return raised.value


def test_a_valid_document_passes_and_converts(document):
    assert check_worker_document(document, "w1") is document
    assert WorkerStats.from_dict(document).worker_id == "w1"


def test_what_a_real_worker_monitor_serves_passes():
    monitor = WorkerMonitor("w1", MetricsRegistry())
    monitor.heartbeat()
    monitor.record_query_start("f1")
    monitor.record_query_end("f1", True, 10, 100)
    monitor.record_error("disk slow", "SELECT 1", "warning")
    monitor.update_resource_metrics()
    served = json.loads(json.dumps(monitor.get_worker_stats().to_dict()))
    assert check_worker_document(served, "w1") is served


NUMBERS = ["status.uptime_ms", "status.seconds_since_heartbeat", "performance.queries_per_second",
           "performance.average_response_time_ms", "performance.throughput_mbps", "performance.latency_p99_ms",
           "resource_utilization.cpu_usage_percent", "resource_utilization.memory_usage_mb",
           "resource_utilization.memory_usage_percent", "resource_utilization.disk_usage_percent",
           "resource_utilization.threads", "query_stats.total_queries", "query_stats.active_queries",
           "query_stats.success_rate_percent", "query_stats.bytes_processed", "cache_stats.cache_hits",
           "cache_stats.hit_rate_percent", "cache_stats.cache_size_mb", "network_stats.bytes_sent",
           "network_stats.network_latency_ms", "network_stats.bytes_per_second", "load"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 1e308, 10 ** 400, -1, -0.001, True,
                                   "5", [1], {"v": 1}])
@pytest.mark.parametrize("path", NUMBERS)
def test_every_number_must_be_finite_and_in_range(document, path, value):
    error = refusal(changed(document, path, value))
    assert error.field == path and error.reason == "invalid_document"
    assert str(error).startswith(f"{path}: expected")


@pytest.mark.parametrize("path, high", [("resource_utilization.memory_usage_percent", 100),
                                        ("query_stats.success_rate_percent", 100),
                                        ("cache_stats.hit_rate_percent", 100),
                                        ("resource_utilization.cpu_usage_percent", MAX_CPU_PERCENT),
                                        ("resource_utilization.memory_usage_mb", MAX_MB)])
def test_ranges_end_at_their_documented_maximum(document, path, high):
    check_worker_document(changed(document, path, high), "w1")
    assert refusal(changed(document, path, high * 1.0001)).field == path


def test_cpu_may_exceed_one_core(document):
    check_worker_document(changed(document, "resource_utilization.cpu_usage_percent", 350.0), "w1")


@pytest.mark.parametrize("path", ["query_stats.total_queries", "resource_utilization.threads",
                                  "network_stats.latency_samples"])
def test_counts_are_integers(document, path):
    assert refusal(changed(document, path, 1.5)).field == path


@pytest.mark.parametrize("path", ["cpu_usage_percent", "memory_usage_mb", "memory_usage_percent", "disk_usage_mb",
                                  "disk_usage_percent", "active_connections", "open_file_descriptors", "threads"])
def test_unreadable_resource_readings_may_be_null(document, path):
    doc = changed(document, f"resource_utilization.{path}", None)
    assert check_worker_document(doc, "w1")["resource_utilization"][path] is None


@pytest.mark.parametrize("path", ["query_stats.total_queries", "status.uptime_ms", "cache_stats.cache_hits",
                                  "worker_id", "status.status"])
def test_other_fields_may_not_be_null(document, path):
    assert refusal(changed(document, path, None)).field == path


@pytest.mark.parametrize("status", ["banana", "", "HEALTHY", None, 1, ["healthy"]])
def test_status_must_be_a_known_worker_state(document, status):
    error = refusal(changed(document, "status.status", status))
    assert error.field == "status.status" and "expected one of healthy, degraded, unhealthy, offline" in str(error)


@pytest.mark.parametrize("path", ["worker_id", "status.message", "status.issues.0",
                                  "resource_utilization.process_status", "recent_errors.0.error",
                                  "recent_errors.0.query"])
def test_strings_with_lone_surrogates_are_refused(document, path):
    doc = changed(document, "status.issues", ["x"])
    error = refusal(changed(doc, path, "bad \udc80"))
    assert error.field == path.replace(".0", "[0]") and "not valid UTF-8" in str(error)


@pytest.mark.parametrize("path, limit", [("status.message", 4096), ("worker_id", 64), ("recent_errors.0.error", 4096),
                                         ("resource_utilization.process_status", 64)])
def test_strings_are_bounded(document, path, limit):
    check_worker_document(changed(document, path, "w1" if path == "worker_id" else "a" * limit), "w1")
    error = refusal(changed(document, path, "a" * (limit + 1)))
    assert f"at most {limit} characters" in str(error)


def test_lists_are_bounded(document):
    assert "at most 100 items" in str(refusal(changed(document, "status.issues", ["x"] * 101)))
    errors = document["recent_errors"] * 1001
    assert "at most 1000 items" in str(refusal(changed(document, "recent_errors", errors)))


@pytest.mark.parametrize("path, value", [("status.last_check", "yesterday"), ("recent_errors.0.timestamp", ""),
                                         ("recent_errors.0.severity", "fatal"), ("status.issues", "one issue")])
def test_times_enums_and_lists_are_checked(document, path, value):
    assert refusal(changed(document, path, value)).field == path.replace(".0", "[0]")


@pytest.mark.parametrize("path", ["worker_id", "status", "status.uptime_ms", "query_stats", "network_stats.bytes_sent",
                                  "recent_errors"])
def test_missing_fields_are_named(document, path):
    error = refusal(changed(document, path, ...))
    assert str(error) == f"{path}: missing"


def test_load_may_be_left_out(document):
    check_worker_document(changed(document, "load", ...), "w1")


@pytest.mark.parametrize("value", [None, [], "worker", 3])
def test_a_document_must_be_an_object(value):
    assert refusal(value).field == "document"


@pytest.mark.parametrize("section", ["status", "performance", "resource_utilization", "recent_errors"])
def test_sections_must_have_their_type(document, section):
    assert refusal(changed(document, section, "x")).field == section


def test_another_workers_document_is_wrong_worker(document):
    error = refusal(document, "w2")
    assert (error.field, error.reason) == ("worker_id", "wrong_worker")
    assert "answered as worker 'w1', expected 'w2'" in str(error)
