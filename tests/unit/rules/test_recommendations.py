"""Every recommendation rule fires at its configured threshold and not below it; the advice quotes that limit."""
import dataclasses

import pytest

from bytedb_exporter.rules.health import DEFAULT_THRESHOLDS, Thresholds
from bytedb_exporter.rules.recommendations import (
    DECISIONS_APPLIED,
    PERFORMING_WELL,
    cluster_recommendations,
    or_performing_well,
    query_recommendations,
    worker_recommendations,
)

QUIET_QUERIES = dict(total_queries=100, failure_rate_percent=0, optimization_rate_percent=100,
                     average_response_seconds=0.1, optimized_queries=100, average_cost_reduction_percent=90,
                     average_coordination_seconds=0.01, average_cache_hit_percent=95)
QUIET_CLUSTER = dict(load_balance_score=100, online_workers=3, cluster_utilization_percent=10,
                     workers_not_healthy=0, total_workers=3, average_network_latency_seconds=0.001)
# Every limit moved away from the original's, so a literal left in a rule shows up.
CUSTOM = Thresholds(alert_cpu_percent=70, alert_memory_percent=60, alert_cache_hit_percent=75,
                    alert_cache_min_lookups=20, alert_success_percent=90, poor_load_balance_score=80,
                    high_response_seconds=2, low_optimization_percent=65, low_cost_reduction_percent=30,
                    high_coordination_seconds=0.25, high_cluster_utilization_percent=60,
                    high_network_latency_seconds=0.02)


def types(found):
    return [r.type for r in found]


def test_quiet_inputs_fire_nothing_and_mean_performing_well():
    for thresholds in (DEFAULT_THRESHOLDS, CUSTOM):
        assert query_recommendations(**QUIET_QUERIES, thresholds=thresholds) == []
        assert cluster_recommendations(**QUIET_CLUSTER, thresholds=thresholds) == []
    assert worker_recommendations("w1", 85, 80, 51, 51) == []  # 50 % over 102 lookups: at the limit
    assert worker_recommendations("w1", 70, 60, 15, 5, CUSTOM) == []  # 75 % over 20 lookups: at the limits
    assert or_performing_well([]) == [PERFORMING_WELL]


def test_nothing_ran_yet_gives_no_query_advice():
    assert query_recommendations(**{**QUIET_QUERIES, "total_queries": 0, "failure_rate_percent": 100}) == []


@pytest.mark.parametrize("thresholds,key,quiet,firing,expected,quoted", [
    (DEFAULT_THRESHOLDS, "failure_rate_percent", 5, 5.1, "high_failure_rate", "above 5%"),
    (CUSTOM, "failure_rate_percent", 10, 10.1, "high_failure_rate", "above 10%"),
    (DEFAULT_THRESHOLDS, "optimization_rate_percent", 50, 49.9, "low_optimization_rate", "below 50%"),
    (CUSTOM, "optimization_rate_percent", 65, 64.9, "low_optimization_rate", "below 65%"),
    (DEFAULT_THRESHOLDS, "average_response_seconds", 5, 5.01, "high_response_time", "above 5 s"),
    (CUSTOM, "average_response_seconds", 2, 2.01, "high_response_time", "above 2 s"),
    (DEFAULT_THRESHOLDS, "average_cost_reduction_percent", 50, 49.9, "low_cost_reduction", "below 50%"),
    (CUSTOM, "average_cost_reduction_percent", 30, 29.9, "low_cost_reduction", "below 30%"),
    (DEFAULT_THRESHOLDS, "average_coordination_seconds", 0.1, 0.101, "high_coordination_overhead", "above 100 ms"),
    (CUSTOM, "average_coordination_seconds", 0.25, 0.251, "high_coordination_overhead", "above 250 ms"),
    (DEFAULT_THRESHOLDS, "average_cache_hit_percent", 50, 49.9, "low_cache_hit_rate", "below 50%"),
    (CUSTOM, "average_cache_hit_percent", 75, 74.9, "low_cache_hit_rate", "below 75%"),
])
def test_query_rules(thresholds, key, quiet, firing, expected, quoted):
    assert query_recommendations(**{**QUIET_QUERIES, key: quiet}, thresholds=thresholds) == []
    [advice] = query_recommendations(**{**QUIET_QUERIES, key: firing}, thresholds=thresholds)
    assert advice.type == expected and f"({quoted})" in advice.description


def test_one_optimization_rule_with_one_limit_for_either_figure():
    args = {**QUIET_QUERIES, "optimization_rate_percent": 60}
    assert query_recommendations(**args) == []  # 60 % is not below the one default limit, 50 %
    [queries] = query_recommendations(**args, thresholds=CUSTOM)
    [decisions] = query_recommendations(**args, thresholds=CUSTOM, optimization_figure=DECISIONS_APPLIED)
    assert queries.description == "Only 60.0% of finished queries had their plan optimized (below 65%)."
    assert decisions.description == "Only 60.0% of the optimizer's decisions were applied (below 65%)."
    assert query_recommendations(**{**args, "optimization_rate_percent": None}, thresholds=CUSTOM) == []


def test_cost_reduction_rule_needs_optimized_queries():
    assert query_recommendations(**{**QUIET_QUERIES, "optimized_queries": 0, "average_cost_reduction_percent": 0,
                                    "optimization_rate_percent": 100}) == []


@pytest.mark.parametrize("thresholds,key,quiet,firing,expected,quoted", [
    (DEFAULT_THRESHOLDS, "load_balance_score", 70, 69.9, "poor_load_balance", "below 70"),
    (CUSTOM, "load_balance_score", 80, 79.9, "poor_load_balance", "below 80"),
    (DEFAULT_THRESHOLDS, "cluster_utilization_percent", 85, 85.1, "high_cluster_utilization", "above 85%"),
    (CUSTOM, "cluster_utilization_percent", 60, 60.1, "high_cluster_utilization", "above 60%"),
    (DEFAULT_THRESHOLDS, "average_network_latency_seconds", 0.05, 0.0501, "high_network_latency", "above 50 ms"),
    (CUSTOM, "average_network_latency_seconds", 0.02, 0.0201, "high_network_latency", "above 20 ms"),
])
def test_cluster_rules(thresholds, key, quiet, firing, expected, quoted):
    assert cluster_recommendations(**{**QUIET_CLUSTER, key: quiet}, thresholds=thresholds) == []
    [advice] = cluster_recommendations(**{**QUIET_CLUSTER, key: firing}, thresholds=thresholds)
    assert advice.type == expected and f"({quoted})" in advice.description


def test_unhealthy_workers_names_the_count_and_load_balance_needs_two_workers():
    [advice] = cluster_recommendations(**{**QUIET_CLUSTER, "workers_not_healthy": 2})
    assert advice.description == "2 of 3 workers are not healthy." and advice.priority == "high"
    assert cluster_recommendations(**{**QUIET_CLUSTER, "load_balance_score": 0, "online_workers": 1}) == []


def test_worker_rules_share_the_alert_limits():
    assert types(worker_recommendations("w1", 85.1, 80.1, 50, 51)) == [
        "high_cpu_usage", "high_memory_usage", "low_cache_hit_rate"]
    cpu, memory, cache = worker_recommendations("w1", 70.1, 60.1, 15, 6, CUSTOM)  # 71.4 % of 21 lookups
    assert "(above 70%)" in cpu.description and "(above 60%)" in memory.description
    assert "(below 75%)" in cache.description and "21 lookups" in cache.description
    assert worker_recommendations("w1", 0, 0, 10, 10, CUSTOM) == []  # 20 lookups: not more than the minimum
    assert worker_recommendations("w1", None, None, 0, 0, CUSTOM) == []  # readings that were not taken
    assert "w1" in worker_recommendations("w1", 90, 0, 0, 0)[0].description


def test_every_rule_reads_a_threshold_field():
    """A configured limit moves its rule: doubling every recommendation limit silences the defaults' findings."""
    firing = {**QUIET_QUERIES, "failure_rate_percent": 6, "optimization_rate_percent": 40,
              "average_response_seconds": 6, "average_cost_reduction_percent": 40,
              "average_coordination_seconds": 0.15, "average_cache_hit_percent": 40}
    assert len(query_recommendations(**firing)) == 6
    relaxed = dataclasses.replace(DEFAULT_THRESHOLDS, alert_success_percent=90, low_optimization_percent=30,
                                  high_response_seconds=10, low_cost_reduction_percent=30,
                                  high_coordination_seconds=0.2, alert_cache_hit_percent=30)
    assert query_recommendations(**firing, thresholds=relaxed) == []


def test_to_dict_shape():
    [advice] = worker_recommendations("w1", 90, 0, 0, 0)
    assert set(advice.to_dict()) == {"type", "priority", "description", "impact", "action"}
