"""Every recommendation rule fires at its threshold and not below it."""
import pytest

from bytedb_exporter.rules.recommendations import (
    PERFORMING_WELL,
    cluster_recommendations,
    or_performing_well,
    query_recommendations,
    worker_recommendations,
)

QUIET_QUERIES = dict(total_queries=100, failure_rate_percent=0, optimization_rate_percent=100,
                     average_response_seconds=0.1, optimized_queries=100, average_cost_reduction_percent=60,
                     average_coordination_seconds=0.01, average_cache_hit_percent=90)
QUIET_CLUSTER = dict(load_balance_score=100, online_workers=3, cluster_utilization_percent=50,
                     workers_not_healthy=0, total_workers=3, average_network_latency_ms=5)


def types(found):
    return [r.type for r in found]


def test_quiet_inputs_fire_nothing_and_mean_performing_well():
    assert query_recommendations(**QUIET_QUERIES) == []
    assert cluster_recommendations(**QUIET_CLUSTER) == []
    assert worker_recommendations("w1", 85, 80, 50, 50) == []
    assert or_performing_well([]) == [PERFORMING_WELL]


def test_nothing_ran_yet_gives_no_query_advice():
    assert query_recommendations(**{**QUIET_QUERIES, "total_queries": 0, "failure_rate_percent": 100}) == []


@pytest.mark.parametrize("key,quiet,firing,expected", [
    ("failure_rate_percent", 5, 5.1, "high_failure_rate"),
    ("optimization_rate_percent", 50, 49.9, "low_optimization_rate"),
    ("average_response_seconds", 5, 5.01, "high_response_time"),
    ("average_cost_reduction_percent", 50, 49.9, "low_cost_reduction"),
    ("average_coordination_seconds", 0.1, 0.101, "high_coordination_overhead"),
    ("average_cache_hit_percent", 50, 49.9, "low_cache_hit_rate"),
])
def test_query_rules(key, quiet, firing, expected):
    assert query_recommendations(**{**QUIET_QUERIES, key: quiet}) == []
    assert types(query_recommendations(**{**QUIET_QUERIES, key: firing})) == [expected]


def test_system_optimization_threshold_is_60_and_can_be_disabled():
    args = {**QUIET_QUERIES, "optimization_rate_percent": 55}
    assert query_recommendations(**args) == []
    assert types(query_recommendations(**args, optimization_threshold_percent=60)) == ["low_optimization_rate"]
    assert query_recommendations(**{**args, "optimization_rate_percent": 0}, optimization_threshold_percent=None) == []


def test_cost_reduction_rule_needs_optimized_queries():
    assert query_recommendations(**{**QUIET_QUERIES, "optimized_queries": 0, "average_cost_reduction_percent": 0,
                                    "optimization_rate_percent": 100}) == []


@pytest.mark.parametrize("key,quiet,firing,expected", [
    ("load_balance_score", 70, 69.9, "poor_load_balance"),
    ("cluster_utilization_percent", 85, 85.1, "high_cluster_utilization"),
    ("workers_not_healthy", 0, 2, "unhealthy_workers"),
    ("average_network_latency_ms", 50, 50.1, "high_network_latency"),
])
def test_cluster_rules(key, quiet, firing, expected):
    assert cluster_recommendations(**{**QUIET_CLUSTER, key: quiet}) == []
    assert types(cluster_recommendations(**{**QUIET_CLUSTER, key: firing})) == [expected]


def test_unhealthy_workers_names_the_count_and_load_balance_needs_two_workers():
    [advice] = cluster_recommendations(**{**QUIET_CLUSTER, "workers_not_healthy": 2})
    assert advice.description == "2 of 3 workers are not healthy." and advice.priority == "high"
    assert cluster_recommendations(**{**QUIET_CLUSTER, "load_balance_score": 0, "online_workers": 1}) == []


def test_worker_rules():
    assert types(worker_recommendations("w1", 85.1, 80.1, 49, 51)) == [
        "high_cpu_usage", "high_memory_usage", "low_cache_hit_rate"]
    assert "w1" in worker_recommendations("w1", 90, 0, 0, 0)[0].description
    assert worker_recommendations("w1", 0, 0, 0, 0) == []  # no lookups, no cache advice


def test_to_dict_shape():
    [advice] = worker_recommendations("w1", 90, 0, 0, 0)
    assert set(advice.to_dict()) == {"type", "priority", "description", "impact", "action"}
