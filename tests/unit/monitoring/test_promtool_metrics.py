"""`promtool check metrics` has nothing to say about a fully wired exposition."""
import subprocess

from prometheus_client import generate_latest
from support import require_binary
from test_coordinator_monitor import cluster


def test_promtool_check_metrics_is_silent():
    promtool = require_binary("promtool", "prometheus")
    coordinator, workers, clock = cluster([10, 95, 30])
    workers["w1"].record_query_start("q")
    workers["w1"].record_query_end("q", True, 10, 1000)
    workers["w1"].record_error("boom", severity="critical")
    workers["w2"].record_network_activity(10, 20, latency=0.01)
    coordinator.record_query_start("q", 2, 2)
    coordinator.record_planning_time(0.002)
    coordinator.record_query_end("q", False)
    coordinator.record_optimization(True, 10, 5)
    clock.now += 40
    workers["w1"].heartbeat()
    exposition = generate_latest(coordinator.registry.collector_registry)
    assert b"bytedb_cluster_health{" in exposition and b"bytedb_worker_state{" in exposition
    result = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert (result.stdout + result.stderr).decode().strip() == ""
