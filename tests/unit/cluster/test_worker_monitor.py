"""WorkerMonitor and ProcessSampler: counters, health with a fake clock, alerts, labels, psutil."""
import json
import logging
import subprocess
import sys
import time

import psutil
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bytedb_exporter.cluster.sampling import ProcessSampler, ResourceSample
from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.metrics.export import MetricsExporter
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.rules.health import GIB, Thresholds


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


OK_SAMPLE = ResourceSample(status="ok")


def busy_sample(cpu, cpu_seconds, pid=100, memory_percent=0.0, **figures):
    """An ok sample of process `pid` showing `cpu` percent, having used `cpu_seconds` of CPU so far."""
    return ResourceSample(status="ok", cpu_percent=cpu, memory_bytes=100 * 1024 * 1024,
                          memory_percent=memory_percent, pid=pid, cpu_seconds=cpu_seconds, **figures)


class FakeSampler:
    def __init__(self, sample=OK_SAMPLE):
        self.next = sample
        self.calls = 0

    def sample(self):
        self.calls += 1
        return self.next


def make(worker_id="w1", registry=None, **options):
    clock = FakeClock()
    sampler = FakeSampler()
    monitor = WorkerMonitor(worker_id, registry or MetricsRegistry(), sampler=sampler, clock=clock, **options)
    return monitor, clock, sampler


def samples(registry, name):
    text = generate_latest(registry.collector_registry).decode()
    return {tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples if s.name == name}


def test_query_duration_counts_and_json_keys():
    monitor, clock, _ = make()
    monitor.record_query_start("q1")
    monitor.record_query_start("q2")
    assert monitor.get_worker_stats().query_stats.active_queries == 2
    clock.now += 0.2
    monitor.record_query_end("q1", True, rows_processed=100, bytes_processed=2 * 1024 * 1024)
    clock.now += 0.2
    monitor.record_query_end("q2", False)
    stats = monitor.get_worker_stats()
    q = stats.query_stats
    assert (q.total_queries, q.successful_queries, q.failed_queries, q.active_queries) == (2, 1, 1, 0)
    assert q.success_rate_percent == 50.0 and q.rows_processed == 100
    assert stats.performance.average_response_time.total_seconds() == pytest.approx(0.3)
    # 0.2 s and 0.4 s fall in buckets (0.1, 0.25] and (0.25, 0.5]: p50 = upper edge of the first
    assert stats.performance.latency_p50.total_seconds() == pytest.approx(0.25)
    data = json.loads(json.dumps(stats.to_dict()))
    assert set(data) == {"worker_id", "status", "performance", "resource_utilization", "query_stats",
                         "cache_stats", "network_stats", "recent_errors", "load"}
    assert set(data["status"]) == {"status", "last_check", "message", "uptime_ms", "issues",
                                   "seconds_since_heartbeat"}
    assert set(data["performance"]) == {"queries_per_second", "average_response_time_ms", "throughput_mbps",
                                        "latency_p50_ms", "latency_p95_ms", "latency_p99_ms"}
    assert {"cpu_usage_percent", "memory_usage_mb", "memory_usage_percent", "disk_usage_mb", "disk_usage_percent",
            "active_connections", "open_file_descriptors", "threads", "process_status"} == set(
        data["resource_utilization"])
    assert {"bytes_received", "bytes_sent", "requests_received", "responses_sent",
            "network_latency_ms"} <= set(data["network_stats"])
    assert data["performance"]["average_response_time_ms"] == pytest.approx(300)


def test_percentiles_are_null_before_any_query():
    monitor, _, _ = make()
    performance = monitor.get_worker_stats().to_dict()["performance"]
    assert performance["latency_p99_ms"] is None and performance["queries_per_second"] == 0


def test_qps_and_throughput_over_sliding_window():
    monitor, clock, _ = make(window_seconds=10)
    for index in range(20):  # two queries per second from t=1000 to t=1009.5
        monitor.record_query_start(str(index))
        monitor.record_query_end(str(index), True, bytes_processed=1024 * 1024)
        clock.now += 0.5
    # now t=1010: the 10 s window holds seconds 1001..1010, i.e. 18 queries -> 1.8 per second
    stats = monitor.get_worker_stats().performance
    assert stats.queries_per_second == pytest.approx(1.8)
    assert stats.throughput_mbps == pytest.approx(1.8)
    clock.now += 60
    assert monitor.get_worker_stats().performance.queries_per_second == 0


def test_end_without_start_is_counted_and_logged(caplog):
    monitor, _, _ = make()
    with caplog.at_level(logging.WARNING):
        monitor.record_query_end("ghost", True, 5, 10)
    stats = monitor.get_worker_stats().query_stats
    assert stats.total_queries == 1 and stats.unmatched_ends == 1
    assert "ghost" in caplog.text
    assert samples(monitor.registry, "bytedb_worker_query_duration_seconds_count") == {(("worker_id", "w1"),): 0}


def test_negative_and_non_finite_amounts_rejected_before_state_changes():
    monitor, _, _ = make()
    with pytest.raises(ValueError):
        monitor.record_query_end("q", True, rows_processed=-1)
    with pytest.raises(ValueError):
        monitor.record_query_end("q", True, bytes_processed=float("nan"))
    for latency in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            monitor.record_network_activity(10, 10, latency=latency)
    stats = monitor.get_worker_stats()
    assert stats.query_stats.total_queries == 0 and stats.network_stats.bytes_received == 0


def test_cache_network_and_errors():
    monitor, _, _ = make(error_history=2)
    for _ in range(3):
        monitor.record_cache_hit()
    monitor.record_cache_miss()
    monitor.record_cache_eviction()
    monitor.set_cache_size(3 * 1024 * 1024)
    monitor.record_network_activity(1000, 0, latency=0.010)
    monitor.record_network_activity(500, 200, latency=0.030)
    monitor.record_network_activity(0, 300)
    for index in range(3):
        monitor.record_error(ValueError(f"boom {index}"), query="q", severity="warning")
    stats = monitor.get_worker_stats()
    assert (stats.cache_stats.cache_hits, stats.cache_stats.hit_rate_percent) == (3, 75.0)
    assert stats.cache_stats.cache_size_mb == 3.0 and stats.cache_stats.eviction_count == 1
    n = stats.network_stats
    assert (n.bytes_received, n.bytes_sent, n.requests_received, n.responses_sent) == (1500, 500, 2, 2)
    assert n.network_latency.total_seconds() == pytest.approx(0.020)
    assert [e.error for e in stats.recent_errors] == ["boom 2", "boom 1"]
    assert samples(monitor.registry, "bytedb_worker_errors_total")[(("severity", "warning"), ("worker_id", "w1"))] == 3
    with pytest.raises(ValueError):
        monitor.record_error("x", severity="fatal")


def test_offline_after_30_s_without_heartbeat_and_back(caplog):
    monitor, clock, _ = make()
    clock.now += 29
    assert monitor.get_worker_stats().status.status == "healthy"
    clock.now += 2
    with caplog.at_level(logging.WARNING):
        status = monitor.get_worker_stats().status
        monitor.get_worker_stats()
    assert status.status == "offline" and status.seconds_since_heartbeat == pytest.approx(31)
    assert caplog.text.count("healthy -> offline") == 1  # logged once, not on every check
    monitor.heartbeat()
    assert monitor.get_worker_stats().status.status == "healthy"


def test_offline_time_configurable():
    monitor, clock, _ = make(thresholds=Thresholds(offline_after_seconds=5))
    clock.now += 6
    assert monitor.vitals().status == "offline"


def test_health_from_last_sample_and_critical_errors():
    monitor, clock, sampler = make()
    sampler.next = ResourceSample(status="ok", cpu_percent=96, memory_bytes=1 * GIB)
    monitor.update_resource_metrics()
    assert monitor.get_worker_stats().status.status == "unhealthy"
    sampler.next = ResourceSample(status="ok", cpu_percent=10)
    monitor.update_resource_metrics()
    monitor.record_error("disk corrupt", severity="critical")
    assert monitor.vitals().status == "degraded"
    clock.now += 301
    monitor.heartbeat()
    assert monitor.vitals().status == "healthy"


def test_get_worker_stats_does_not_sample():
    monitor, _, sampler = make()
    monitor.get_worker_stats()
    monitor.check_performance_alerts()
    assert sampler.calls == 0


def test_resource_gauges_and_process_up():
    monitor, _, sampler = make()
    sampler.next = ResourceSample(status="ok", cpu_percent=42.0, memory_bytes=512 * 1024 * 1024,
                                  memory_percent=3.0, open_fds=7, connections=2, threads=4,
                                  disk_used_bytes=1024, disk_total_bytes=4096, disk_percent=25.0)
    monitor.update_resource_metrics()
    label = (("worker_id", "w1"),)
    assert samples(monitor.registry, "bytedb_worker_cpu_usage_percent")[label] == 42.0
    assert samples(monitor.registry, "bytedb_worker_open_fds")[label] == 7
    assert samples(monitor.registry, "bytedb_worker_process_up")[label] == 1
    r = monitor.get_worker_stats().resource_utilization
    assert (r.memory_usage_mb, r.open_file_descriptors, r.active_connections, r.disk_usage_percent) == (512, 7, 2, 25)
    sampler.next = ResourceSample(status="process_gone", pid=77)
    monitor.update_resource_metrics()
    assert samples(monitor.registry, "bytedb_worker_process_up")[label] == 0
    assert monitor.get_worker_stats().resource_utilization.process_status == "process_gone"


def test_no_resource_series_before_the_first_sample():
    monitor, _, _ = make()
    text = generate_latest(monitor.registry.collector_registry).decode()
    assert "bytedb_worker_cpu_usage_percent{" not in text and "bytedb_worker_process_up{" not in text
    r = monitor.get_worker_stats().to_dict()["resource_utilization"]
    assert r["cpu_usage_percent"] is None and r["process_status"] == "not_sampled"
    assert monitor.vitals().load is None


RESOURCE_SERIES = ("bytedb_worker_cpu_usage_percent", "bytedb_worker_memory_usage_bytes",
                   "bytedb_worker_memory_usage_percent", "bytedb_worker_open_fds", "bytedb_worker_connections",
                   "bytedb_worker_threads", "bytedb_worker_load")


def test_a_gone_process_is_absent_not_zero_offline_with_its_pid_until_it_is_back(caplog):
    monitor, clock, sampler = make()
    label = (("worker_id", "w1"),)
    for used in (0.0, 1.0):  # 10 % CPU over 10 s
        sampler.next = busy_sample(10.0, used, pid=4242, open_fds=9, connections=1, threads=3,
                                   disk_used_bytes=2048, disk_total_bytes=4096, disk_percent=50.0)
        monitor.update_resource_metrics()
        clock.now += 10
    monitor.heartbeat()
    assert all(samples(monitor.registry, name)[label] >= 0 for name in RESOURCE_SERIES)
    sampler.next = ResourceSample(status="process_gone", pid=4242, disk_used_bytes=2048, disk_total_bytes=4096,
                                  disk_percent=50.0)
    with caplog.at_level(logging.WARNING):
        monitor.update_resource_metrics()
    for name in RESOURCE_SERIES:  # left out, not 0
        assert label not in samples(monitor.registry, name), name
    assert samples(monitor.registry, "bytedb_worker_process_up")[label] == 0
    assert samples(monitor.registry, "bytedb_worker_disk_usage_percent")[label] == 50  # the data path was read
    assert samples(monitor.registry, "bytedb_worker_state")[(("state", "offline"), *label)] == 1
    assert "healthy -> offline ['process exited (pid 4242)']" in caplog.text
    data = json.loads(json.dumps(monitor.get_worker_stats().to_dict()))
    r = data["resource_utilization"]
    assert [r[key] for key in ("cpu_usage_percent", "memory_usage_mb", "memory_usage_percent", "active_connections",
                               "open_file_descriptors", "threads")] == [None] * 6
    assert (r["process_status"], r["disk_usage_percent"], data["load"]) == ("process_gone", 50.0, None)
    assert data["status"]["status"] == "offline" and data["status"]["issues"] == ["process exited (pid 4242)"]
    assert [item["name"] for item in MetricsExporter(monitor.registry).json_metrics()
            if item["name"] == "worker_cpu_usage_percent"] == []
    monitor.record_query_end("late", False)  # activity long after: the reason stays the exit
    clock.now += 3600
    assert monitor.vitals().issues == ["process exited (pid 4242)"]
    assert monitor.check_performance_alerts() == []
    # Back (a new process): figures return, the load once it has two samples of the new process.
    sampler.next = busy_sample(20.0, 5.0, pid=5151)
    monitor.update_resource_metrics()
    monitor.heartbeat()
    assert monitor.vitals().status == "healthy" and monitor.vitals().load is None
    assert samples(monitor.registry, "bytedb_worker_cpu_usage_percent")[label] == 20.0
    assert samples(monitor.registry, "bytedb_worker_process_up")[label] == 1
    clock.now += 10
    sampler.next = busy_sample(20.0, 7.0, pid=5151)
    monitor.update_resource_metrics()
    assert monitor.vitals().load == pytest.approx((20.0 + 0.0 + 0.0) / 3)


def test_the_load_averages_cpu_and_running_queries_over_the_window():
    monitor, clock, sampler = make(window_seconds=60)
    start = clock.now

    def sample():  # the process uses 45 % of a core all along; its last sample's figure says 99 %
        sampler.next = busy_sample(99.0, 0.45 * (clock.now - start), memory_percent=1.5)
        monitor.update_resource_metrics()
        return monitor.vitals().load

    assert sample() is None  # one sample: no CPU over an interval yet
    clock.now += 30
    assert sample() == pytest.approx((45 + 1.5 + 10 * 0) / 3)
    monitor.record_query_start("a")
    monitor.record_query_start("b")
    clock.now += 15
    monitor.record_query_end("a", True)
    monitor.record_query_end("b", True)
    clock.now += 15
    vitals = monitor.vitals()
    assert vitals.active_queries == 0  # the instantaneous count says nothing runs
    assert vitals.load == pytest.approx((45 + 1.5) / 3)  # the load is that of the last sample until the next
    assert sample() == pytest.approx((45 + 1.5 + 10 * 30 / 60) / 3)  # 2 queries x 15 s in the 60 s window
    clock.now += 37.5  # the window now starts 7.5 s after the queries began: 7.5 s of 2 running
    assert sample() == pytest.approx((45 + 1.5 + 10 * 15 / 60) / 3)
    clock.now += 60
    assert sample() == pytest.approx((45 + 1.5) / 3)


def test_flapping_running_count_gives_a_steady_load():
    """A query of 0.2 s every second: the count jumps 0 -> 1 -> 0; the load does not move."""
    monitor, clock, sampler = make(window_seconds=60)
    loads = []
    for second in range(180):
        sampler.next = busy_sample(10.0 + second % 7, second * 0.1)  # 10 % on average, the last second varies
        monitor.update_resource_metrics()
        monitor.record_query_start(f"q{second}")
        clock.now += 0.2
        if second >= 60:
            loads.append(monitor.vitals().load)
        monitor.record_query_end(f"q{second}", True)
        clock.now += 0.8
        if second >= 60:
            loads.append(monitor.vitals().load)
    assert max(loads) - min(loads) < 1e-9 * max(loads)
    assert loads[-1] == pytest.approx((10 + 0 + 10 * 0.2) / 3)


def test_performance_alerts():
    monitor, _, sampler = make()
    sampler.next = ResourceSample(status="ok", cpu_percent=88, memory_percent=85)
    monitor.update_resource_metrics()
    for _ in range(101):
        monitor.record_cache_miss()
    for index in range(11):
        monitor.record_query_end(str(index), index < 5)
    alerts = monitor.check_performance_alerts()
    assert [(a.type, a.severity) for a in alerts] == [
        ("high_cpu", "warning"), ("high_memory", "warning"), ("low_cache_hit_rate", "info"),
        ("high_failure_rate", "critical")]
    assert set(alerts[0].to_dict()) == {"worker_id", "type", "severity", "message", "timestamp"}


def test_two_workers_in_one_registry_keep_their_own_series():
    registry = MetricsRegistry()
    a, _, _ = make("a", registry)
    b, _, _ = make("b", registry)
    a.record_query_end("q", True, rows_processed=10)
    b.record_query_end("q", True, rows_processed=30)
    rows = samples(registry, "bytedb_worker_rows_processed_total")
    assert rows == {(("worker_id", "a"),): 10, (("worker_id", "b"),): 30}
    states = samples(registry, "bytedb_worker_state")
    assert states[(("state", "healthy"), ("worker_id", "a"))] == 1
    assert states[(("state", "healthy"), ("worker_id", "b"))] == 1


def test_sampling_thread_starts_and_stops():
    monitor, _, sampler = make()
    monitor.start_sampling(0.01)
    deadline = time.monotonic() + 2
    while sampler.calls < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    monitor.stop_sampling()
    calls = sampler.calls
    assert calls >= 3
    time.sleep(0.05)
    assert sampler.calls == calls
    monitor.close()


def test_process_sampler_reads_this_process_without_blocking(tmp_path):
    sampler = ProcessSampler(data_path=str(tmp_path))
    started = time.perf_counter()
    first = sampler.sample()
    second = sampler.sample()
    assert time.perf_counter() - started < 0.5
    assert first.status == "ok" and first.cpu_percent == 0.0
    assert second.memory_bytes > 0 and 0 < second.memory_percent < 100
    assert second.threads >= 1 and second.open_fds >= 1
    assert second.disk_total_bytes > 0 and 0 <= second.disk_percent <= 100


def test_process_sampler_reports_a_vanished_process():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    sampler = ProcessSampler(pid=child.pid, data_path=None)
    assert sampler.sample().status == "ok"
    child.kill()
    child.wait()
    gone = sampler.sample()
    assert (gone.status, gone.pid) == ("process_gone", child.pid)
    assert (gone.cpu_percent, gone.memory_bytes, gone.memory_percent, gone.threads, gone.open_fds,
            gone.connections, gone.cpu_seconds) == (None,) * 7


def test_process_sampler_missing_pid_and_missing_disk_path():
    assert ProcessSampler(pid=2 ** 22 + 12345).sample().status == "process_gone"
    sample = ProcessSampler(data_path="/no/such/path").sample()
    assert sample.status == "ok" and sample.disk_total_bytes is None and sample.disk_percent is None


def test_process_sampler_reresolves_through_pid_provider():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    current = {"pid": child.pid}
    sampler = ProcessSampler(pid_provider=lambda: current["pid"])
    assert sampler.sample().pid == child.pid
    child.kill()
    child.wait()
    assert sampler.sample().status == "process_gone"
    replacement = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        current["pid"] = replacement.pid
        sample = sampler.sample()
        assert (sample.status, sample.pid) == ("ok", replacement.pid)
        current["pid"] = None
        replacement.kill()
        replacement.wait()
        assert sampler.sample().status == "process_gone"
        assert sampler.sample().pid == replacement.pid  # not found any more: the pid that exited
    finally:
        replacement.kill()


def test_cpu_percent_is_measured_over_a_minimum_interval():
    sampler = ProcessSampler(data_path=None, min_cpu_interval=0.05)
    sampler.sample()
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:  # busy: this thread uses about one core
        pass
    busy = sampler.sample().cpu_percent
    assert 30 < busy < 100 * (psutil.cpu_count() or 1) + 1
    assert sampler.sample().cpu_percent == busy  # too soon to measure again: same figure


def test_starts_without_ends_stay_bounded(monkeypatch):
    from bytedb_exporter.cluster import coordinator as coordinator_monitor
    from bytedb_exporter.cluster import worker as worker_monitor
    from bytedb_exporter.cluster.coordinator import CoordinatorMonitor

    monkeypatch.setattr(worker_monitor, "MAX_ACTIVE_QUERIES", 50)
    monkeypatch.setattr(coordinator_monitor, "MAX_ACTIVE_QUERIES", 50)
    worker = WorkerMonitor("w-bounded", data_path=None)
    coordinator = CoordinatorMonitor()
    for i in range(1000):
        worker.record_query_start(f"q{i}")
        coordinator.record_query_start(f"q{i}", 1, 1)
    assert len(worker._active) == 50 and len(coordinator._running) == 50
    assert worker.get_worker_stats().query_stats.active_queries == 50
    worker.record_query_end("q999", True)  # the newest start is still known: timed
    assert worker.get_worker_stats().query_stats.unmatched_ends == 0
