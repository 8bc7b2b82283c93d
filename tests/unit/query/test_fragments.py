import pytest
from prometheus_client import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics

from bytedb_exporter.query.execution import MAX_FRAGMENTS
from bytedb_exporter.query.fragments import fragment_skew
from bytedb_exporter.query.models import Fragment
from bytedb_exporter.query.monitor import QueryMonitor
from bytedb_exporter.rules.health import Thresholds


def test_skew_is_max_over_median_and_absent_when_not_measurable():
    assert fragment_skew([Fragment("w1", 1.0), Fragment("w2", 2.0), Fragment("w3", 6.0)]) == 3.0
    assert fragment_skew([Fragment("w1", 1.0)]) is None
    assert fragment_skew([Fragment("w1", 0.0), Fragment("w2", 0.0), Fragment("w3", 1.0)]) is None


def test_a_finished_query_keeps_its_fragments_plan_and_is_found_by_id():
    monitor = QueryMonitor(thresholds=Thresholds(fragment_skew_ratio=2.5))
    execution = monitor.start_query_monitoring("q-1", "SELECT * FROM t")
    execution.set_plan("Scan t\n  Gather")
    for worker, seconds in (("worker-1", 0.1), ("worker-2", 0.1), ("worker-3", 0.4)):
        execution.record_fragment(worker, seconds, rows=10, bytes=100, queued_seconds=0.01)
    result = execution.finish()
    assert monitor.get_query("q-1") is result and monitor.get_query("nope") is None
    assert [f.worker_id for f in result.fragments] == ["worker-1", "worker-2", "worker-3"]
    assert result.plan == "Scan t\n  Gather" and result.fragments[2].to_dict()["queued_seconds"] == 0.01
    text = generate_latest(monitor.registry.collector_registry).decode()
    assert "bytedb_query_skewed_total 1.0" in text
    assert 'bytedb_query_fragment_skew_ratio_bucket{le="5.0"} 1.0' in text
    assert 'bytedb_query_fragment_skew_ratio_bucket{le="3.0"} 0.0' in text


def test_negative_fragment_figures_are_refused():
    execution = QueryMonitor().start_query_monitoring("q", "SELECT 1")
    with pytest.raises(ValueError):
        execution.record_fragment("w1", -1.0)


def test_the_id_index_is_bounded_by_the_recent_ring():
    monitor = QueryMonitor(history_size=5)
    for i in range(50):
        monitor.start_query_monitoring(f"q{i % 7}", "SELECT 1").finish()
    assert len(monitor._by_id) <= 5
    assert {q.query_id for q in monitor.get_recent_queries(5)} == set(monitor._by_id)
    assert all(monitor.get_query(q.query_id) is q for q in monitor.get_recent_queries(5))


def test_duration_buckets_carry_query_id_exemplars_in_openmetrics():
    monitor = QueryMonitor()
    monitor.start_query_monitoring("q-exemplar", "SELECT 1").finish(total_seconds=0.02)
    monitor.start_query_monitoring("x" * 200, "SELECT 2").finish(total_seconds=0.02)  # too long: no exemplar
    text = openmetrics(monitor.registry.collector_registry).decode()
    lines = [line for line in text.splitlines() if "query_id=" in line]
    assert len(lines) == 1 and lines[0].startswith('bytedb_query_duration_seconds_bucket{le="0.025",query_type=')
    assert '# {query_id="q-exemplar"} 0.02' in lines[0]


def test_a_query_keeps_at_most_max_fragments():
    execution = QueryMonitor().start_query_monitoring("many", "SELECT 1")
    for _ in range(MAX_FRAGMENTS):
        execution.record_fragment("w1", 0.001)
    with pytest.raises(ValueError, match="fragments, the most kept per query"):
        execution.record_fragment("w1", 0.001)
    assert len(execution.finish().fragments) == MAX_FRAGMENTS
