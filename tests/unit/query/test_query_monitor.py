import json
import threading
import time
from datetime import timedelta

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bytedb_exporter.metrics.export import MetricsExporter
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.query import monitor as monitor_module
from bytedb_exporter.query.monitor import QueryMonitor
from bytedb_exporter.query.sqltext import classify_sql, normalize_sql
from bytedb_exporter.rules.health import Thresholds

QUERY_METRICS_KEYS = {
    "query_id", "sql", "query_type", "start_time", "end_time", "total_duration_ms", "planning_duration_ms",
    "execution_duration_ms", "aggregation_duration_ms", "workers_used", "fragments_executed", "rows_processed",
    "bytes_transferred", "cache_hit_rate", "optimization_applied", "original_cost", "optimized_cost",
    "cost_reduction", "error_occurred", "network_latency_ms", "coordination_overhead_ms",
}


@pytest.fixture
def monitor():
    return QueryMonitor()


def run_query(monitor, query_id, sql, *, planning=0.0, execution=0.0, error=None, optimize=(True, 150.0, 90.0)):
    execution_ = monitor.start_query_monitoring(query_id, sql)
    execution_.set_query_type("SELECT")
    with execution_.phase("planning"):
        time.sleep(planning)
    execution_.start_execution()
    time.sleep(execution)
    execution_.end_execution()
    execution_.start_aggregation()
    execution_.end_aggregation()
    execution_.start_coordination()
    execution_.end_coordination()
    execution_.set_worker_info(3, 5)
    execution_.set_data_info(1500, 127_500)
    execution_.set_optimization_info(*optimize)
    execution_.set_cache_info(78.5)
    execution_.set_network_latency(0.004)
    if error:
        execution_.set_error(error)
    return execution_.finish()


def test_full_lifecycle_fields_and_json_keys(monitor):
    metrics = run_query(monitor, "query-123", "SELECT * FROM t", planning=0.02, execution=0.03)
    assert metrics.planning_duration >= timedelta(milliseconds=20)
    assert metrics.execution_duration >= timedelta(milliseconds=30)
    assert metrics.total_duration >= metrics.planning_duration + metrics.execution_duration
    assert metrics.cost_reduction == pytest.approx(40.0)
    assert (metrics.workers_used, metrics.fragments_executed) == (3, 5)
    assert abs(metrics.end_time - metrics.start_time - metrics.total_duration) <= timedelta(microseconds=2)
    data = metrics.to_dict()
    assert set(data) == QUERY_METRICS_KEYS  # error_message omitted when empty
    assert data["network_latency_ms"] == pytest.approx(4.0)
    json.dumps(data)
    failed = run_query(monitor, "q2", "SELECT x", error="no such column: x")
    assert failed.to_dict()["error_message"] == "no such column: x"


def test_finish_twice_and_unknown_phase_raise(monitor):
    execution = monitor.start_query_monitoring("q", "SELECT 1")
    with pytest.raises(ValueError, match="unknown phase"):
        execution.start_phase("sleeping")
    with pytest.raises(RuntimeError, match="not started"):
        execution.end_planning()
    with pytest.raises(ValueError):
        execution.set_cache_info(150)
    execution.finish()
    with pytest.raises(RuntimeError, match="already finished"):
        execution.finish()


def test_monitor_query_context_records_exception(monitor):
    with pytest.raises(ZeroDivisionError):
        with monitor.monitor_query("q1", "SELECT 1/0") as execution:
            execution.set_query_type("SELECT")
            raise ZeroDivisionError("division by zero")
    with monitor.monitor_query("q2", "SELECT 1"):
        pass
    stats = monitor.get_query_stats()
    assert (stats.total_queries, stats.failed_queries, stats.active_queries) == (2, 1, 0)
    failed = monitor.get_failed_queries()
    assert [q.query_id for q in failed] == ["q1"] and failed[0].error_message == "division by zero"


def test_stats_rates_and_averages(monitor):
    for i in range(4):
        run_query(monitor, f"q{i}", "SELECT 1", optimize=(i % 2 == 0, 100.0, 25.0))
    stats = monitor.get_query_stats()
    assert stats.total_queries == 4 and stats.optimized_queries == 2
    assert stats.optimized_queries_percent == 50.0
    assert stats.average_cost_reduction_percent == pytest.approx(75.0)
    assert stats.throughput_qps == pytest.approx(4.0)  # 4 queries within the first second
    recent = monitor.get_recent_queries(10)
    expected = sum(q.total_duration.total_seconds() for q in recent) / 4
    assert stats.query_response_time.total_seconds() == pytest.approx(expected, abs=2e-6)
    assert set(stats.to_dict()) >= {
        "total_queries", "successful_queries", "failed_queries", "optimized_queries", "query_response_time_ms",
        "throughput_qps", "optimized_queries_percent", "average_cost_reduction_percent"}


def test_throughput_is_a_windowed_rate():
    now = [1000.0]
    monitor = QueryMonitor(window_seconds=60)
    monitor._window._clock = lambda: now[0]
    monitor._window._started = now[0]
    for _ in range(120):
        run_query(monitor, "q", "SELECT 1")
    now[0] += 59.5
    assert monitor.get_query_stats().throughput_qps == pytest.approx(120 / 59.5)  # all 120 within the window
    now[0] += 1
    assert monitor.get_query_stats().throughput_qps == 0.0
    assert monitor.get_query_stats().total_queries == 120


def test_concurrent_queries_keep_their_own_phase_timings(monitor):
    results = {}
    barrier = threading.Barrier(8)

    def worker(index):
        barrier.wait()
        for n in range(50):
            execution = monitor.start_query_monitoring(f"{index}-{n}", "SELECT 1")
            execution.start_planning()
            time.sleep(0.001 * (index % 3))
            execution.end_planning()
            results[(index, n)] = execution.finish()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert monitor.get_query_stats().total_queries == 400
    for (index, _), metrics in results.items():
        assert metrics.planning_duration >= timedelta(milliseconds=index % 3)
        assert metrics.planning_duration <= metrics.total_duration
    phases = monitor.phase_stats()
    assert phases["planning"]["count"] == 400
    assert phases["planning"]["sum"] == pytest.approx(
        sum(m.planning_duration.total_seconds() for m in results.values()), abs=1e-3)
    duration = monitor.duration_stats()
    assert duration["count"] == 400


def test_top_queries_group_normalized_sql(monitor):
    for i in range(3):
        run_query(monitor, f"a{i}", f"SELECT * FROM employees WHERE salary > {70000 + i}", execution=0.01)
    run_query(monitor, "b", "SELECT * FROM departments WHERE name = 'Sales'")
    top = monitor.get_top_queries(5)
    assert top[0].sql == "SELECT * FROM employees WHERE salary > ?"
    assert top[0].execution_count == 3
    assert top[0].average_duration == top[0].total_duration / 3
    assert top[0].average_rows_processed == 1500
    assert set(top[0].to_dict()) >= {"sql", "execution_count", "average_duration_ms", "total_duration_ms",
                                     "average_rows_processed", "last_execution"}
    assert len(monitor.get_top_queries(1)) == 1


def test_histories_are_bounded():
    monitor = QueryMonitor(history_size=10, failed_history_size=3, top_queries_size=5)
    for i in range(100):
        run_query(monitor, f"q{i}", f"SELECT * FROM t{i}", error="boom" if i % 2 else None)
    assert len(monitor._recent) == 10 and len(monitor._failed) == 3 and len(monitor._statements) == 5
    assert [q.query_id for q in monitor.get_recent_queries(3)] == ["q99", "q98", "q97"]
    assert monitor.get_query_stats().total_queries == 100
    with pytest.raises(ValueError):
        QueryMonitor(history_size=0)


def test_exposition_matches_recorded_queries(monitor):
    run_query(monitor, "q1", "SELECT 1")
    run_query(monitor, "q2", "SELECT 1", error="bad")
    execution = monitor.start_query_monitoring("q3", "SELECT 1")  # still running
    text = MetricsExporter(monitor.registry).export_prometheus_metrics()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    totals = {(s.labels["query_type"], s.labels["status"]): s.value for s in families["bytedb_queries"].samples}
    assert totals[("SELECT", "success")] == 1 and totals[("SELECT", "failed")] == 1
    assert families["bytedb_queries_active"].samples[0].value == 1
    phase_counts = {s.labels["phase"]: s.value for s in families["bytedb_query_phase_duration_seconds"].samples
                    if s.name.endswith("_count")}
    assert phase_counts == {"planning": 2, "execution": 2, "aggregation": 2, "coordination": 2}
    assert "query_id" not in text and "SELECT 1" not in text
    execution.finish()


def test_the_counters_are_exposed_where_the_registrys_own_were():
    """Before the per-query histograms, in creation order, between what the registry made before and after."""
    registry = MetricsRegistry()
    registry.counter("before_total", "Made before.")
    monitor = QueryMonitor(registry)
    registry.gauge("after", "Made after.")
    run_query(monitor, "q1", "SELECT 1")
    names = [family.name for family in registry.collector_registry.collect()]
    assert names[:6] == ["bytedb_build", "bytedb_before", "bytedb_queries_active", "bytedb_queries",
                         "bytedb_query_optimizations", "bytedb_query_skewed"]
    assert names[6] == "bytedb_query_duration_seconds" and names[-1] == "bytedb_after"


def test_starts_and_finishes_from_many_threads_are_all_counted(monkeypatch):
    """A small queue bound makes finishing threads wait for a busy lock's holder, here a reader that holds it."""
    monkeypatch.setattr(monitor_module, "MAX_PENDING", 4)
    monitor = QueryMonitor()
    barrier = threading.Barrier(9)

    def worker(index):
        barrier.wait()
        for n in range(200):
            execution = monitor.start_query_monitoring(f"{index}-{n}", f"SELECT {n} FROM t")
            execution.set_optimization_info(n % 2 == 0, 10.0, 5.0)
            if n % 5 == 0:
                execution.set_error("boom")
            execution.finish()

    def reader():
        barrier.wait()
        for _ in range(50):
            with monitor._histograms.reading():
                time.sleep(0.0005)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)] + [threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = monitor.get_query_stats()
    assert (stats.total_queries, stats.failed_queries, stats.optimized_queries, stats.active_queries) == \
        (1600, 320, 800, 0)
    assert monitor.duration_stats()["count"] == 1600 and len(monitor._pending) == 0
    assert monitor.get_top_queries(1)[0].execution_count == 1600


def test_queries_only_started_keep_the_queue_bounded(monkeypatch):
    monkeypatch.setattr(monitor_module, "MAX_PENDING", 3)
    monitor = QueryMonitor()
    running = [monitor.start_query_monitoring(f"q{n}", "SELECT 1") for n in range(10)]
    assert len(monitor._pending) <= 4
    assert monitor.get_query_stats().active_queries == 10
    running[0].finish()
    assert monitor.get_query_stats().active_queries == 9


def test_unknown_query_type_is_labelled_other(monitor):
    execution = monitor.start_query_monitoring("q", "MERGE INTO x")
    execution.set_query_type("exotic")
    assert execution.finish().query_type == "exotic"
    text = MetricsExporter(monitor.registry).export_prometheus_metrics()
    assert 'bytedb_queries_total{query_type="OTHER",status="success"} 1.0' in text


def test_report_sections_and_recommendations(monitor):
    assert monitor.query_performance_report().recommendations == []
    for i in range(10):
        run_query(monitor, f"q{i}", "SELECT 1", error="bad" if i < 2 else None, optimize=(False, 0, 0))
    report = monitor.query_performance_report()
    data = report.to_dict()
    assert set(data["timing_breakdown"]) == {"planning_time", "execution_time", "aggregation_time", "coordination_time"}
    assert set(data["distribution_stats"]) == {"duration_distribution", "rows_distribution", "bytes_distribution"}
    assert data["distribution_stats"]["rows_distribution"]["count"] == 10
    assert set(data["optimization_impact"]) == {"optimized_queries_percent", "cost_reduction_distribution",
                                                "average_cost_reduction"}
    types = {r["type"] for r in data["recommendations"]}
    assert {"high_failure_rate", "low_optimization_rate"} <= types
    assert "performing_well" not in types
    json.dumps(data)


def test_report_says_performing_well_when_nothing_fires(monitor):
    for i in range(5):
        run_query(monitor, f"q{i}", "SELECT 1", optimize=(True, 100.0, 20.0))
    types = [r.type for r in monitor.query_performance_report().recommendations]
    assert types == ["performing_well"]


def test_sql_normalization_and_classification():
    assert normalize_sql("SELECT  *\nFROM t WHERE a = 'it''s' AND b IN (1, 2, 3) AND c > 4.5;") == \
        "SELECT * FROM t WHERE a = ? AND b IN (?) AND c > ?"
    assert normalize_sql("SELECT col1 FROM t2") == "SELECT col1 FROM t2"
    assert classify_sql("select count(*) from t") == "SELECT_AGGREGATE"
    assert classify_sql("SELECT e.name FROM e JOIN d ON e.d = d.id") == "SELECT_JOIN"
    assert classify_sql("insert into t values (1)") == "INSERT"
    assert classify_sql("CREATE TABLE x (a int)") == "DDL"
    assert classify_sql("") == "OTHER"


def test_a_query_is_classified_by_its_statement_not_by_what_its_literals_say(monitor):
    """Words inside string literals ('join', 'count(') make no join or aggregate; the statement table groups the
    query under its folded text."""
    cases = {"q1": ("SELECT name FROM t WHERE note = 'left join here'", "SELECT"),
             "q2": ("SELECT name FROM t WHERE note = 'count(x) group by y'", "SELECT"),
             "q3": ("SELECT a.x FROM a JOIN b ON a.id = b.id WHERE b.y = 'z'", "SELECT_JOIN")}
    for query_id, (sql, _) in cases.items():
        execution = monitor.start_query_monitoring(query_id, sql)
        assert execution.finish().query_type == cases[query_id][1]
    statements = {row.sql for row in monitor.get_top_queries(10)}
    assert "SELECT name FROM t WHERE note = ?" in statements


def test_listeners_see_finished_queries(monitor):
    seen = []
    monitor.add_listener(seen.append)
    run_query(monitor, "q1", "SELECT 1")
    monitor.remove_listener(seen.append)
    run_query(monitor, "q2", "SELECT 1")
    assert [m.query_id for m in seen] == ["q1"]


def test_finish_with_a_duration_measured_elsewhere(monitor):
    execution = monitor.start_query_monitoring("pushed", "SELECT 1")
    metrics = execution.finish(total_seconds=2.5)
    assert metrics.total_duration == timedelta(seconds=2.5)
    assert abs((metrics.end_time - metrics.start_time).total_seconds() - 2.5) < 1e-3
    assert monitor.duration_stats()["sum"] == pytest.approx(2.5)
    with pytest.raises(ValueError):
        monitor.start_query_monitoring("bad", "SELECT 1").finish(total_seconds=-1)


def timed_query(monitor, sql, seconds):
    """A finished query of exactly `seconds` (a duration measured elsewhere)."""
    return monitor.start_query_monitoring("q", sql).finish(total_seconds=seconds)


def test_top_queries_keep_the_most_expensive_texts_under_churn():
    monitor = QueryMonitor(top_queries_size=5)
    timed_query(monitor, "SELECT * FROM huge JOIN other", 30.0)
    for i in range(2000):  # many cheap distinct texts, each seen once and later than the expensive one
        timed_query(monitor, f"SELECT c{i} FROM t", 0.001)
    top = monitor.get_top_queries(5)
    assert len(monitor._statements) == 5
    assert top[0].sql == "SELECT * FROM huge JOIN other" and top[0].total_duration.total_seconds() == 30.0


def test_top_queries_evict_the_smallest_total_and_keep_totals_exact():
    monitor = QueryMonitor(top_queries_size=3)
    for _ in range(500):  # many updates of kept texts: the order moves with them, totals stay exact
        timed_query(monitor, "SELECT a FROM t", 0.01)
        timed_query(monitor, "SELECT b FROM t", 0.02)
    timed_query(monitor, "SELECT c FROM t", 0.5)
    timed_query(monitor, "SELECT d FROM t", 1.0)  # full: evicts c (0.5 s), the smallest, not a (oldest seen)
    top = {info.sql: info for info in monitor.get_top_queries(10)}
    assert set(top) == {"SELECT a FROM t", "SELECT b FROM t", "SELECT d FROM t"}
    assert top["SELECT a FROM t"].execution_count == 500
    assert top["SELECT a FROM t"].total_duration.total_seconds() == pytest.approx(5.0)
    assert top["SELECT b FROM t"].total_duration.total_seconds() == pytest.approx(10.0)
    assert [info.sql for info in monitor.get_top_queries(10)] == ["SELECT b FROM t", "SELECT a FROM t",
                                                                  "SELECT d FROM t"]
    assert [info.sql for info in monitor.get_top_queries(1)] == ["SELECT b FROM t"]


def test_report_advice_uses_the_monitors_thresholds():
    monitor = QueryMonitor(thresholds=Thresholds(alert_success_percent=80.0, high_response_seconds=0.5,
                                                 low_optimization_percent=90.0))
    for i in range(10):  # 10 % failures, 80 % optimized, 0.6 s each
        execution = monitor.start_query_monitoring(f"q{i}", "SELECT 1")
        execution.set_optimization_info(i < 8, 100.0, 20.0)
        if i == 0:
            execution.set_error("boom")
        execution.finish(total_seconds=0.6)
    advice = {r.type: r for r in monitor.query_performance_report().recommendations}
    assert set(advice) == {"high_response_time", "low_optimization_rate"}  # 10 % failures are below 20 %
    assert "(above 0.5 s)" in advice["high_response_time"].description
    assert "(below 90%)" in advice["low_optimization_rate"].description


def test_facts_the_engine_did_not_report_are_null_and_not_observed():
    registry = MetricsRegistry()
    queries = QueryMonitor(registry)
    told = queries.start_query_monitoring("told", "SELECT 1")
    told.set_data_info(5, 50)
    told.finish()
    queries.start_query_monitoring("silent", "SELECT 2").finish()
    silent = queries.get_query("silent").to_dict()
    facts = ("workers_used", "fragments_executed", "rows_processed", "bytes_transferred")
    assert [silent[key] for key in facts] == [None] * 4
    assert queries.get_query("told").to_dict()["rows_processed"] == 5
    text = generate_latest(registry.collector_registry).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    counts = [s.value for s in families["bytedb_query_rows_processed"].samples if s.name.endswith("_count")]
    assert counts == [1.0]  # the silent query is not observed as 0 rows


def test_one_registry_holds_one_query_monitor():
    registry = MetricsRegistry()
    QueryMonitor(registry)
    with pytest.raises(ValueError, match="already holds a QueryMonitor's series"):
        QueryMonitor(registry)
