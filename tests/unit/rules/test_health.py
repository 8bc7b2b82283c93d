"""Pure health, load-balance and alert rules, with hand-computed expectations."""
import pytest

from bytedb_exporter.rules.health import (
    GIB,
    Thresholds,
    cluster_alerts,
    cluster_health_status,
    count_states,
    load_balance_score,
    load_variance,
    query_health_status,
    seconds_text,
    worker_alerts,
    worker_health,
    worker_load,
)


def test_load_balance_10_and_90_is_cv_08_score_20():
    # mean 50, population stddev 40 -> CV 0.8 -> 100 - 80
    assert load_balance_score([10, 90]) == pytest.approx(20.0)


def test_load_balance_equal_loads_single_worker_and_zero_loads_are_100():
    assert load_balance_score([30, 30, 30]) == 100.0
    assert load_balance_score([75]) == 100.0
    assert load_balance_score([0, 0, 0]) == 100.0
    assert load_balance_score([]) == 100.0


def test_load_balance_uses_square_root_and_clamps_at_zero():
    # loads 0, 0, 90: mean 30, variance 1800, stddev 42.43 -> CV 1.414 -> clamped to 0
    assert load_balance_score([0, 0, 90]) == 0.0
    # loads 20, 40: mean 30, stddev 10 -> CV 1/3 -> 66.67 (variance/mean would give 100 - 333)
    assert load_balance_score([20, 40]) == pytest.approx(100 - 100 / 3)


def test_load_variance():
    assert load_variance([10, 90]) == 1600.0
    assert load_variance([]) == 0.0


def test_worker_load_formula():
    assert worker_load(60, 30, 3) == pytest.approx((60 + 30 + 30) / 3)
    assert worker_load(0, 0, 0) == 0.0
    # the running term is a time average: 0.25 queries running on average adds 10 x 0.25 / 3
    assert worker_load(12, 0.5, 0.25) == pytest.approx((12 + 0.5 + 2.5) / 3)


def test_worker_load_is_none_without_a_cpu_or_memory_reading():
    assert worker_load(None, 30, 3) is None
    assert worker_load(60, None, 0) is None


@pytest.mark.parametrize("healthy,total,expected", [
    (5, 5, "healthy"), (4, 5, "healthy"), (3, 5, "degraded"), (2, 4, "degraded"),
    (2, 5, "critical"), (0, 3, "critical"),
])
def test_cluster_health_80_50_rule(healthy, total, expected):
    counts = {"healthy": healthy, "offline": total - healthy}
    assert cluster_health_status(counts)[0] == expected


def test_cluster_issues_name_share_and_offline_count():
    status, issues = cluster_health_status({"healthy": 3, "degraded": 1, "offline": 1})
    assert status == "degraded"
    assert issues == ["60% of workers healthy (3/5)", "1 worker(s) offline"]
    assert cluster_health_status({"healthy": 2}) == ("healthy", [])


def test_no_workers_is_the_coordinators_query_health_never_critical():
    assert cluster_health_status({}) == ("healthy", ["no workers registered; no queries finished yet"])
    # 20 finished, 1 failed: 95.0 % is not below alert_success_percent (95)
    assert cluster_health_status({}, finished_queries=20, failed_queries=1) == (
        "healthy", ["no workers registered; 95.0% of 20 queries succeeded"])
    # 20 finished, 2 failed: 90 % over more than alert_min_queries (10) -> degraded
    assert cluster_health_status({}, finished_queries=20, failed_queries=2) == (
        "degraded", ["no workers registered; 90.0% of 20 queries succeeded", "query success rate below 95%"])
    # 10 finished, all failed: not more than alert_min_queries yet
    assert query_health_status(10, 10)[0] == "healthy"
    assert query_health_status(11, 11)[0] == "degraded"
    assert query_health_status(30, 3, Thresholds(alert_success_percent=85, alert_min_queries=5))[0] == "healthy"
    assert cluster_health_status({"healthy": 0, "offline": 2}, finished_queries=100)[0] == "critical"  # workers rule


def test_durations_in_messages_keep_their_precision():
    assert [seconds_text(x) for x in (0.5, 0.25, 1.25, 30, 30.04, 99.5, 300, 1234.5)] == [
        "0.5", "0.25", "1.25", "30", "30", "99.5", "300", "1234"]
    status, issues = worker_health(0, 0, 0.75, thresholds=Thresholds(offline_after_seconds=0.5))
    assert status == "offline" and issues == ["no heartbeat or activity for 0.75 s (limit 0.5 s)"]


def test_count_states_lists_every_state():
    assert count_states(["healthy", "offline", "healthy"]) == {
        "healthy": 2, "degraded": 0, "unhealthy": 0, "offline": 1}


def test_worker_health_healthy():
    assert worker_health(50, 1 * GIB, 1) == ("healthy", [])


@pytest.mark.parametrize("cpu,memory,expected", [
    (90.0, 0, "healthy"), (90.5, 0, "degraded"), (95.0, 0, "degraded"), (95.5, 0, "unhealthy"),
    (0, 8 * GIB + 1, "degraded"), (0, 12 * GIB + 1, "unhealthy"), (92, 13 * GIB, "unhealthy"),
])
def test_worker_health_thresholds_reach_unhealthy(cpu, memory, expected):
    status, issues = worker_health(cpu, memory, 0)
    assert status == expected
    assert bool(issues) == (expected != "healthy")


def test_unhealthy_lists_degraded_reasons_too():
    status, issues = worker_health(96, 9 * GIB, 0)
    assert status == "unhealthy"
    assert len(issues) == 2 and "CPU" in issues[0] and "memory" in issues[1]


def test_offline_wins_after_the_configured_time():
    assert worker_health(99, 0, 30.0)[0] == "unhealthy"
    status, issues = worker_health(99, 0, 30.1)
    assert status == "offline" and "30" in issues[0]
    assert worker_health(0, 0, 11, thresholds=Thresholds(offline_after_seconds=10))[0] == "offline"


def test_critical_errors_and_process_status():
    assert worker_health(0, 0, 0, recent_critical_errors=1)[0] == "degraded"
    assert worker_health(0, 0, 0, process_status="access_denied")[0] == "degraded"
    assert worker_health(None, None, 0, process_status="not_sampled") == ("healthy", [])
    assert worker_health(None, None, 0, process_status="access_denied")[0] == "degraded"


def test_a_gone_process_is_offline_at_once_and_stays_so_whatever_the_heartbeat():
    gone = worker_health(None, None, 0, process_status="process_gone", process_pid=4242)
    assert gone == ("offline", ["process exited (pid 4242)"])
    # long after the last heartbeat the reason is still the exit, not "no heartbeat"
    assert worker_health(None, None, 3600, process_status="process_gone", process_pid=4242) == gone
    assert worker_health(None, None, 0, process_status="process_gone") == (
        "offline", ["no process found to monitor"])


def test_worker_alerts_skip_figures_that_were_not_read():
    assert worker_alerts(None, None, 0, 0, 0, 0) == []
    assert [f.type for f in worker_alerts(None, 90, 0, 0, 0, 0)] == ["high_memory"]


def test_thresholds_are_configurable_and_validated():
    t = Thresholds(degraded_cpu_percent=50, unhealthy_cpu_percent=60)
    assert worker_health(55, 0, 0, thresholds=t)[0] == "degraded"
    assert worker_health(61, 0, 0, thresholds=t)[0] == "unhealthy"
    with pytest.raises(ValueError):
        Thresholds(degraded_cpu_percent=96)
    with pytest.raises(ValueError):
        Thresholds(offline_after_seconds=0)


def _types(findings):
    return [(f.type, f.severity) for f in findings]


def test_worker_alerts_fire_on_original_thresholds():
    assert worker_alerts(85, 80, 0, 0, 0, 0) == []
    assert _types(worker_alerts(85.1, 80.1, 0, 0, 0, 0)) == [("high_cpu", "warning"), ("high_memory", "warning")]


def test_cache_alert_needs_more_than_100_lookups():
    assert worker_alerts(0, 0, 40, 60, 0, 0) == []  # exactly 100 lookups
    assert _types(worker_alerts(0, 0, 40, 61, 0, 0)) == [("low_cache_hit_rate", "info")]
    assert worker_alerts(0, 0, 51, 50, 0, 0) == []  # 50.5 % hits


def test_failure_alert_needs_more_than_10_queries():
    assert worker_alerts(0, 0, 0, 0, 10, 5) == []
    assert _types(worker_alerts(0, 0, 0, 0, 20, 18)) == [("high_failure_rate", "critical")]  # 90 %
    assert worker_alerts(0, 0, 0, 0, 20, 19) == []  # 95 % is not below 95 %


def test_worker_alert_thresholds_configurable():
    t = Thresholds(alert_cpu_percent=50)
    assert _types(worker_alerts(60, 0, 0, 0, 0, 0, t)) == [("high_cpu", "warning")]


def test_cluster_alerts():
    assert cluster_alerts("healthy", [], 100, 3) == []
    found = cluster_alerts("degraded", ["w3", "w1"], 60, 2)
    assert _types(found) == [("cluster_degraded", "warning"), ("workers_offline", "warning"),
                             ("poor_load_balance", "warning")]
    assert "w1, w3" in found[1].message
    assert _types(cluster_alerts("critical", [], 10, 1)) == [("cluster_critical", "critical")]
