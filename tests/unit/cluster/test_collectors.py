"""Scrape-time collectors: state sets, read-only collect(), failures contained."""
import logging

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from test_coordinator_monitor import cluster
from test_worker_monitor import FakeSampler, samples

from bytedb_exporter.cluster.collectors import worker_collector
from bytedb_exporter.metrics.registry import MetricsRegistry


def families(registry):
    text = generate_latest(registry.collector_registry).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_cluster_health_is_a_state_set_and_workers_by_state():
    coordinator, workers, clock = cluster([10, 10])
    clock.now += 31
    workers["w1"].heartbeat()
    registry = coordinator.registry
    assert samples(registry, "bytedb_cluster_health") == {
        (("status", "healthy"),): 0, (("status", "degraded"),): 1, (("status", "critical"),): 0}
    assert samples(registry, "bytedb_cluster_workers") == {
        (("state", "healthy"),): 1, (("state", "degraded"),): 0, (("state", "unhealthy"),): 0,
        (("state", "offline"),): 1}
    state = samples(registry, "bytedb_worker_state")
    assert state[(("state", "offline"), ("worker_id", "w2"))] == 1
    assert sum(v for k, v in state.items() if ("worker_id", "w2") in k) == 1
    assert samples(registry, "bytedb_worker_heartbeat_age_seconds")[(("worker_id", "w2"),)] == 31


def test_every_alert_pair_exposed_with_zero():
    coordinator, _, _ = cluster([10])
    alerts = samples(coordinator.registry, "bytedb_cluster_alerts_active")
    assert len(alerts) == 8 and set(alerts.values()) == {0}
    assert (("severity", "critical"), ("type", "high_failure_rate")) in alerts


def test_scrape_values_match_json_and_collect_is_read_only():
    coordinator, workers, _ = cluster([30, 270])
    samplers = [w._sampler for w in workers.values()]
    calls = [s.calls for s in samplers]
    first = generate_latest(coordinator.registry.collector_registry)
    second = generate_latest(coordinator.registry.collector_registry)
    assert first == second  # scraping twice changes nothing (fake clock stands still)
    assert [s.calls for s in samplers] == calls  # no psutil call at scrape time
    stats = coordinator.get_coordinator_stats()
    assert samples(coordinator.registry, "bytedb_cluster_load_balance_score")[()] == \
        stats.system_performance.load_balance_score
    loads = samples(coordinator.registry, "bytedb_worker_load")
    assert {k[0][1]: v for k, v in loads.items()} == stats.resource_distribution.worker_loads


def test_a_failing_worker_is_left_out_and_the_rest_still_scraped(caplog):
    coordinator, workers, _ = cluster([10, 10])

    def broken():
        raise RuntimeError("vitals exploded")

    workers["w2"].vitals = broken
    with caplog.at_level(logging.ERROR):
        found = families(coordinator.registry)
    assert "vitals exploded" in caplog.text
    assert {s.labels["worker_id"] for s in found["bytedb_worker_load"].samples} == {"w1"}
    # The cluster view shows the unreadable worker offline rather than dropping the cluster families.
    assert {s.labels["state"]: s.value for s in found["bytedb_cluster_workers"].samples}["offline"] == 1
    assert "bytedb_worker_cpu_usage_percent" in found  # plain metrics are untouched


def test_one_worker_collector_per_registry():
    registry = MetricsRegistry()
    assert worker_collector(registry) is worker_collector(registry)
    coordinator, workers, _ = cluster([10, 10], registry)
    workers["w1"].close()
    assert {k[0][1] for k in samples(registry, "bytedb_worker_load")} == {"w2"}
    assert isinstance(workers["w2"]._sampler, FakeSampler)
