"""A coordinator with three worker monitors fed by real threads; one stops and goes offline."""
import hashlib
import threading
import time

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.rules.health import Thresholds

OFFLINE_AFTER = 1.0


class WorkerThread(threading.Thread):
    """Hashes data as query fragments, with cache and network traffic, and heartbeats."""

    def __init__(self, monitor: WorkerMonitor):
        super().__init__(daemon=True, name=f"work-{monitor.worker_id}")
        self.monitor = monitor
        self.stop = threading.Event()
        self.working = threading.Event()
        self.working.set()
        self.fragments = 0

    def run(self):
        payload = bytes(range(256)) * 256  # 64 KiB
        while not self.stop.is_set():
            self.monitor.heartbeat()
            if self.working.is_set():
                fragment = f"{self.name}-{self.fragments}"
                self.monitor.record_query_start(fragment)
                digest = payload
                for _ in range(20):
                    digest = hashlib.sha256(digest + payload).digest()
                self.monitor.record_query_end(fragment, digest[0] != 256, rows_processed=256,
                                              bytes_processed=len(payload))
                (self.monitor.record_cache_hit if self.fragments % 3 else self.monitor.record_cache_miss)()
                self.monitor.record_network_activity(len(payload), 32, latency=0.001)
                self.fragments += 1
            time.sleep(0.01)


def scrape(registry):
    text = generate_latest(registry.collector_registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def running_cluster():
    registry = MetricsRegistry()
    thresholds = Thresholds(offline_after_seconds=OFFLINE_AFTER)
    coordinator = CoordinatorMonitor(registry, thresholds)
    threads = {}
    for index in (1, 2, 3):
        monitor = WorkerMonitor(f"worker-{index}", registry, thresholds)
        coordinator.register_worker(monitor.worker_id, monitor)
        monitor.start_sampling(0.05)
        threads[monitor.worker_id] = WorkerThread(monitor)
        threads[monitor.worker_id].start()
    yield coordinator, threads
    for thread in threads.values():
        thread.stop.set()
        thread.join(5)
        thread.monitor.close()


def test_stopped_worker_goes_offline_in_json_and_metrics(running_cluster):
    coordinator, threads = running_cluster
    for worker_id in threads:
        coordinator.record_query_start(f"q-{worker_id}", fragments=3, workers=3)
    assert wait_for(lambda: all(t.fragments >= 5 for t in threads.values()))
    for worker_id in threads:
        coordinator.record_query_end(f"q-{worker_id}", True)
    assert coordinator.get_cluster_health().status == "healthy"

    threads["worker-3"].stop.set()
    threads["worker-3"].join(5)
    assert wait_for(lambda: coordinator.get_cluster_health().worker_statuses["worker-3"] == "offline")

    for thread in threads.values():  # freeze the numbers; the live workers keep heartbeating
        thread.working.clear()
        thread.monitor.stop_sampling()
    time.sleep(0.1)

    health = coordinator.get_cluster_health()
    assert (health.status, health.healthy_workers, health.offline_workers) == ("degraded", 2, 1)
    stats = coordinator.get_coordinator_stats().to_dict()
    metrics = scrape(coordinator.registry)
    workers = {wid: thread.monitor.get_worker_stats().to_dict() for wid, thread in threads.items()}

    assert stats["cluster_health"]["status"] == "degraded"
    assert metrics[("bytedb_cluster_health", (("status", "degraded"),))] == 1
    assert metrics[("bytedb_cluster_health", (("status", "healthy"),))] == 0
    assert metrics[("bytedb_cluster_workers", (("state", "offline"),))] == stats["cluster_health"]["offline_workers"]
    assert {a["id"] for a in stats["active_alerts"]} >= {"cluster:cluster_degraded", "cluster:workers_offline"}
    assert metrics[("bytedb_cluster_alerts_active", (("severity", "warning"), ("type", "workers_offline")))] == 1

    for wid, data in workers.items():
        label = (("worker_id", wid),)
        assert metrics[("bytedb_worker_state", (("state", data["status"]["status"]), *label))] == 1
        q = data["query_stats"]
        assert q["total_queries"] >= 5
        assert metrics[("bytedb_worker_queries_total", (("status", "success"), *label))] == q["successful_queries"]
        assert metrics[("bytedb_worker_rows_processed_total", label)] == q["rows_processed"]
        assert metrics[("bytedb_worker_cache_hits_total", label)] == data["cache_stats"]["cache_hits"]
        assert (metrics[("bytedb_worker_network_received_bytes_total", label)]
                == data["network_stats"]["bytes_received"])
        assert metrics[("bytedb_worker_query_duration_seconds_count", label)] == q["total_queries"]
        assert (metrics[("bytedb_worker_load", label)]
                == pytest.approx(stats["resource_distribution"]["worker_loads"][wid]))
        assert (metrics[("bytedb_worker_cpu_usage_percent", label)]
                == data["resource_utilization"]["cpu_usage_percent"])
        assert metrics[("bytedb_worker_process_up", label)] == 1
        assert data["resource_utilization"]["memory_usage_mb"] > 0
        assert metrics[("bytedb_worker_heartbeat_age_seconds", label)] == pytest.approx(
            data["status"]["seconds_since_heartbeat"], abs=0.5)
    assert workers["worker-3"]["status"]["status"] == "offline"
    assert workers["worker-3"]["status"]["seconds_since_heartbeat"] > OFFLINE_AFTER
    assert metrics[("bytedb_cluster_load_balance_score", ())] == pytest.approx(
        stats["system_performance"]["load_balance_score"])
    assert metrics[("bytedb_cluster_utilization_percent", ())] == pytest.approx(
        stats["system_performance"]["cluster_utilization_percent"])
    assert stats["network_metrics"]["total_data_transferred_mb"] > 0
    assert stats["query_coordination"]["queries_coordinated"] == 3
