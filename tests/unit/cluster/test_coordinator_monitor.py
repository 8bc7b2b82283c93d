"""CoordinatorMonitor: registration, cluster health, stats sections, alerts and acknowledgement."""
import json
from datetime import timedelta

import pytest
from test_worker_monitor import FakeClock, FakeSampler, busy_sample, samples

from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.sampling import ResourceSample
from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.metrics.registry import MetricsRegistry

SAMPLE_SPAN = 10.0


def cluster(cpus, registry=None):
    """A coordinator with one worker per CPU figure, all sharing one fake clock: each worker's process
    is sampled twice, SAMPLE_SPAN seconds apart, using that much CPU in between (memory 0 %)."""
    registry = registry or MetricsRegistry()
    clock = FakeClock()
    coordinator = CoordinatorMonitor(registry, clock=clock)
    workers = {}
    for index, cpu in enumerate(cpus, 1):
        sampler = FakeSampler(busy_sample(cpu, 0.0, pid=index))
        worker = WorkerMonitor(f"w{index}", registry, sampler=sampler, clock=clock)
        worker.update_resource_metrics()
        coordinator.register_worker(worker.worker_id, worker)
        workers[worker.worker_id] = worker
    clock.now += SAMPLE_SPAN
    for index, (cpu, worker) in enumerate(zip(cpus, workers.values(), strict=True), 1):
        worker._sampler.next = busy_sample(cpu, cpu * SAMPLE_SPAN / 100, pid=index)
        worker.update_resource_metrics()
        worker.heartbeat()
    return coordinator, workers, clock


def test_no_workers_shows_the_query_health_not_critical():
    coordinator = CoordinatorMonitor()
    health = coordinator.get_cluster_health()
    assert (health.status, health.total_workers) == ("healthy", 0)
    assert health.issues == ["no workers registered; no queries finished yet"]
    assert coordinator.get_coordinator_stats().system_performance.load_balance_score == 100.0
    for index in range(12):  # a pure-ingest coordinator: queries, no workers
        coordinator.record_query_start(f"q{index}", 0, 0)
        coordinator.record_query_end(f"q{index}", True)
    assert coordinator.get_cluster_health().status == "healthy"
    assert not [a for a in coordinator.active_alerts() if a.type.startswith("cluster_")]
    coordinator.record_query_start("bad", 0, 0)
    coordinator.record_query_end("bad", False)  # 12 of 13 = 92.3 % < 95 %
    health = coordinator.get_cluster_health()
    assert health.status == "degraded" and "92.3% of 13 queries succeeded" in health.issues[0]
    assert [(a.type, a.severity) for a in coordinator.active_alerts()] == [("cluster_degraded", "warning")]


def test_registration_rules():
    coordinator, workers, _ = cluster([10])
    coordinator.register_worker("w1", workers["w1"])  # same monitor again: no-op
    assert list(coordinator.workers()) == ["w1"]
    with pytest.raises(ValueError):
        coordinator.register_worker("w1", WorkerMonitor("w1", sampler=FakeSampler()))
    with pytest.raises(ValueError):
        coordinator.register_worker("other", workers["w1"])
    assert coordinator.unregister_worker("w1") is workers["w1"]
    with pytest.raises(KeyError, match="not registered"):
        coordinator.unregister_worker("w1")


def test_four_of_five_healthy_is_healthy_two_of_five_critical():
    coordinator, workers, clock = cluster([10, 10, 10, 10, 10])
    clock.now += 31  # only w5 stays quiet
    for wid in ("w1", "w2", "w3", "w4"):
        workers[wid].heartbeat()
    health = coordinator.get_cluster_health()
    assert (health.status, health.healthy_workers, health.offline_workers) == ("healthy", 4, 1)
    assert health.worker_statuses["w5"] == "offline"
    clock.now += 31
    workers["w1"].heartbeat()
    workers["w2"].heartbeat()
    assert coordinator.get_cluster_health().status == "critical"
    workers["w3"].heartbeat()
    assert coordinator.get_cluster_health().status == "degraded"


def test_load_balance_score_from_worker_loads():
    # loads: (cpu + 0 memory % + 0) / 3 -> 10 and 90 when cpu is 30 and 270 (multi-core percent)
    coordinator, _, _ = cluster([30, 270])
    stats = coordinator.get_coordinator_stats()
    assert stats.resource_distribution.worker_loads == {"w1": pytest.approx(10), "w2": pytest.approx(90)}
    assert stats.system_performance.load_balance_score == pytest.approx(20.0)
    assert stats.resource_distribution.load_variance == pytest.approx(1600)
    assert stats.system_performance.cluster_utilization_percent == pytest.approx(150)
    # w2 at 270 % CPU is unhealthy: 1 of 2 healthy = 50 % -> degraded
    assert [a.type for a in stats.active_alerts] == ["high_cpu", "cluster_degraded", "poor_load_balance"]


def test_a_dead_worker_leaves_balance_utilization_and_loads_and_is_offline_with_its_pid():
    coordinator, workers, clock = cluster([30, 30, 60])
    before = coordinator.get_coordinator_stats()
    assert before.system_performance.cluster_utilization_percent == pytest.approx(40)
    assert before.system_performance.load_balance_score < 100
    workers["w3"]._sampler.next = ResourceSample(status="process_gone", pid=3)
    workers["w3"].update_resource_metrics()
    clock.now += 60  # long after: still offline for the exit, never "no heartbeat"
    for wid in ("w1", "w2"):
        workers[wid].heartbeat()
    stats = coordinator.get_coordinator_stats()
    perf, dist = stats.system_performance, stats.resource_distribution
    assert perf.cluster_utilization_percent == pytest.approx(30)  # the dead worker's missing CPU is not a 0
    assert perf.load_balance_score == 100.0  # the two live workers carry the same load
    assert dist.worker_loads == {"w1": pytest.approx(10), "w2": pytest.approx(10)}
    assert dist.total_cpu_usage_percent == pytest.approx(60) and dist.average_worker_load == pytest.approx(10)
    health = stats.cluster_health
    assert (health.worker_statuses["w3"], health.offline_workers) == ("offline", 1)
    w3 = coordinator.workers()["w3"].get_worker_stats()
    assert w3.status.issues == ["process exited (pid 3)"] and w3.resource_utilization.cpu_usage_percent is None
    assert {a.type for a in stats.active_alerts} >= {"workers_offline"}
    assert "high_cpu" not in {a.type for a in stats.active_alerts}
    registry = coordinator.registry
    assert set(samples(registry, "bytedb_worker_load")) == {(("worker_id", "w1"),), (("worker_id", "w2"),)}
    assert samples(registry, "bytedb_cluster_utilization_percent")[()] == pytest.approx(30)
    assert samples(registry, "bytedb_cluster_load_balance_score")[()] == 100.0
    assert (("worker_id", "w3"),) not in samples(registry, "bytedb_worker_cpu_usage_percent")
    assert samples(registry, "bytedb_worker_process_up")[(("worker_id", "w3"),)] == 0


def test_query_coordination_and_optimization_sections():
    coordinator, workers, clock = cluster([10, 10])
    coordinator.record_query_start("q1", fragments=4, workers=2)
    clock.now += 0.5
    coordinator.record_planning_time(timedelta(milliseconds=20))
    coordinator.record_aggregation_time(0.010)
    coordinator.record_query_end("q1", True, {"coordination_overhead": 0.030})
    coordinator.record_query_start("q2", fragments=2, workers=2)
    coordinator.record_query_end("q2", False)
    coordinator.record_optimization(True, 150.0, 90.0)
    coordinator.record_optimization(False, 100.0, 100.0)
    workers["w1"].record_query_end("f", True, bytes_processed=1000)
    workers["w1"].record_network_activity(0, 250, latency=0.004)
    workers["w2"].record_network_activity(0, 0, latency=0.008)
    workers["w1"].record_cache_hit()
    workers["w2"].record_cache_miss()
    stats = coordinator.get_coordinator_stats()
    q = stats.query_coordination
    assert (q.queries_coordinated, q.failed_queries, q.average_fragments_per_query) == (2, 1, 3.0)
    assert q.average_query_duration.total_seconds() == pytest.approx(0.25)  # 0.5 and 0.0 s
    assert q.coordination_overhead.total_seconds() == pytest.approx(0.030)  # (20 + 10 + 30) ms / 2 queries
    assert q.parallelism_efficiency_percent == 100.0  # 2 of 2 online workers per query
    o = stats.optimization_metrics
    assert (o.optimizer_applied_percent, o.average_cost_reduction_percent) == (50.0, pytest.approx(40.0))
    assert o.data_transfer_reduction_percent == pytest.approx(75.0)  # 250 bytes sent of 1000 processed
    assert o.cache_effectiveness_percent == 50.0
    n = stats.network_metrics
    assert n.average_network_latency.total_seconds() == pytest.approx(0.006)
    assert n.fragmentation_ratio == 1.5 and n.bandwidth_utilization_percent is None
    assert samples(coordinator.registry, "bytedb_coordinator_optimizations_total") == {
        (("result", "applied"),): 1, (("result", "skipped"),): 1}
    data = json.loads(json.dumps(stats.to_dict()))
    assert set(data) == {"cluster_health", "system_performance", "query_coordination", "resource_distribution",
                         "optimization_metrics", "network_metrics", "active_alerts"}
    assert {"fragment_qps", "fragment_response_time_ms", "total_throughput_mbps", "cluster_utilization_percent",
            "load_balance_score"} == set(data["system_performance"])
    assert {"coordination_overhead_ms", "planning_time_ms", "aggregation_time_ms",
            "parallelism_efficiency_percent"} <= set(data["query_coordination"])
    assert data["query_coordination"]["planning_time_ms"] == pytest.approx(20)


def test_end_without_start_does_not_raise():
    coordinator, _, _ = cluster([10])
    coordinator.record_query_end("ghost", True)
    assert coordinator.get_coordinator_stats().query_coordination.queries_coordinated == 1


def test_alerts_have_stable_ids_and_can_be_acknowledged():
    coordinator, workers, clock = cluster([10, 10, 10])
    clock.now += 31
    workers["w1"].heartbeat()
    workers["w2"].heartbeat()
    first = coordinator.get_coordinator_stats().active_alerts
    assert [(a.id, a.severity) for a in first] == [("cluster:cluster_degraded", "warning"),
                                                   ("cluster:workers_offline", "warning")]
    clock.now += 1
    workers["w1"].heartbeat()
    workers["w2"].heartbeat()
    second = coordinator.active_alerts()
    assert [a.id for a in second] == [a.id for a in first]
    assert second[0].timestamp == first[0].timestamp
    assert coordinator.acknowledge_alert("cluster:workers_offline") is True
    assert coordinator.acknowledge_alert("no-such-alert") is False
    view = coordinator.cluster_view()
    assert coordinator.alert_counts(view)[("workers_offline", "warning")] == 0
    assert coordinator.alert_counts(view)[("cluster_degraded", "warning")] == 1
    assert [a.acknowledged for a in coordinator.active_alerts()] == [False, True]
    assert set(first[0].to_dict()) == {"id", "type", "severity", "message", "component", "timestamp",
                                       "acknowledged"}
    workers["w3"].heartbeat()  # back online: the alerts clear, their acknowledgement with them
    assert coordinator.active_alerts() == []


def test_worker_alerts_carry_the_worker_as_component():
    coordinator, _, _ = cluster([88])
    alerts = coordinator.active_alerts()
    assert [(a.id, a.component) for a in alerts] == [("worker:w1:high_cpu", "w1")]


def test_recommendations_use_the_rules():
    coordinator, _, _ = cluster([10, 10])
    assert [r.type for r in coordinator.recommendations()] == ["performing_well"]
    coordinator.record_optimization(False, 1, 1)
    coordinator.record_query_start("q", 1, 1)
    coordinator.record_query_end("q", True)
    assert [r.type for r in coordinator.recommendations()] == ["low_optimization_rate"]


def test_bandwidth_utilization_with_configured_capacity():
    registry = MetricsRegistry()
    clock = FakeClock()
    coordinator = CoordinatorMonitor(registry, clock=clock, bandwidth_capacity_mbps=1.0)
    worker = WorkerMonitor("w1", registry, sampler=FakeSampler(), clock=clock, window_seconds=10)
    coordinator.register_worker("w1", worker)
    for _ in range(10):
        worker.record_network_activity(1024 * 1024 // 2, 0)
        clock.now += 1
    # at t=1010 the 10 s window holds the 9 exchanges of t=1001..1009: 4.5 MiB / 10 s of a 1 MiB/s link
    assert coordinator.get_coordinator_stats().network_metrics.bandwidth_utilization_percent == pytest.approx(
        45.0)
