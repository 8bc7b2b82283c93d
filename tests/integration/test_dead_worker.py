"""A worker process killed with SIGKILL reads as absent, not idle: the real demo and a serve-mode worker.

The demo (3 SQLite worker processes, coordinator and worker exporters on free ports): one worker
process is killed; its resource series leave /metrics (process_up stays, at 0), JSON shows null,
the worker is offline with "process exited (pid N)" and leaves the load balance and the
utilization, which are then those of the two live workers. A serve-mode worker exporter: the
reason stays the exit after the offline timeout, instead of turning into "no heartbeat".
"""
from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import free_port
from test_serve_cluster import Cluster

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3
RESOURCES = ("bytedb_worker_cpu_usage_percent", "bytedb_worker_memory_usage_bytes",
             "bytedb_worker_memory_usage_percent", "bytedb_worker_open_fds", "bytedb_worker_connections",
             "bytedb_worker_threads", "bytedb_worker_load")
RESOURCE_KEYS = ("cpu_usage_percent", "memory_usage_mb", "memory_usage_percent", "active_connections",
                 "open_file_descriptors", "threads")


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(fetch(f"{url}/metrics")) for s in family.samples}


def per_worker(metrics: dict, name: str) -> dict[str, float]:
    return {dict(labels)["worker_id"]: value for (sample, labels), value in metrics.items() if sample == name}


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.25)


def free_block(count: int) -> int:
    """First of `count` consecutive free ports."""
    for _ in range(50):
        base = free_port()
        if base + count <= 65535 and all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no block of free ports")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def demo(tmp_path):
    port, worker_base = free_port(), free_block(WORKERS)
    with open(tmp_path / "demo.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bytedb_exporter.cli", "demo", "--port", str(port), "--worker-base-port",
             str(worker_base), "--workers", str(WORKERS), "--qps", "10", "--duration", "150",
             "--data-dir", str(tmp_path / "data")], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
            start_new_session=True)
    try:
        yield process, f"http://127.0.0.1:{port}", {f"worker-{i + 1}": f"http://127.0.0.1:{worker_base + i}"
                                                    for i in range(WORKERS)}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        print((tmp_path / "demo.log").read_text(errors="replace")[-3000:])


def test_a_killed_demo_worker_is_absent_offline_and_out_of_balance_and_utilization(demo):
    process, base, worker_urls = demo

    def all_loaded():
        assert process.poll() is None, "demo exited"
        return len(per_worker(scrape(base), "bytedb_worker_load")) == WORKERS

    wait_for(all_loaded, 120, "a load for every worker")
    workers = [child for child in psutil.Process(process.pid).children()
               if "spawn_main" in " ".join(child.cmdline())]
    assert len(workers) == WORKERS, [child.cmdline() for child in workers]
    victim = workers[0].pid
    os.kill(victim, signal.SIGKILL)

    def dead_worker():
        docs = json.loads(fetch(f"{base}/api/workers"))
        dead = [wid for wid, doc in docs.items() if doc["status"]["status"] == "offline"]
        return (dead[0], docs) if len(dead) == 1 else None

    wid, docs = wait_for(dead_worker, 10, "the killed worker offline")
    doc = docs[wid]
    assert doc["status"]["issues"] == [f"process exited (pid {victim})"]
    assert [doc["resource_utilization"][key] for key in RESOURCE_KEYS] == [None] * len(RESOURCE_KEYS)
    assert doc["resource_utilization"]["process_status"] == "process_gone" and doc["load"] is None
    live = sorted(set(worker_urls) - {wid})

    def consistent_scrape():
        # utilization and the per-worker CPU gauges come from one sample each, set a moment apart
        metrics = scrape(base)
        cpus = per_worker(metrics, "bytedb_worker_cpu_usage_percent")
        utilization = metrics[("bytedb_cluster_utilization_percent", ())]
        return metrics if sorted(cpus) == live and abs(utilization - statistics.mean(cpus.values())) < 1e-9 else None

    metrics = wait_for(consistent_scrape, 10, "utilization = mean CPU of the two live workers")
    for name in RESOURCES:
        assert sorted(per_worker(metrics, name)) == live, name  # absent for the dead worker, not 0
    assert per_worker(metrics, "bytedb_worker_process_up") == {**{w: 1.0 for w in live}, wid: 0.0}
    assert metrics[("bytedb_worker_state", (("state", "offline"), ("worker_id", wid)))] == 1
    loads = list(per_worker(metrics, "bytedb_worker_load").values())
    expected = max(0.0, min(100.0, 100 * (1 - statistics.pstdev(loads) / statistics.mean(loads))))
    assert metrics[("bytedb_cluster_load_balance_score", ())] == pytest.approx(expected, abs=1e-9)
    cluster = json.loads(fetch(f"{base}/api/cluster"))
    assert cluster["offline_workers"] == 1 and cluster["worker_statuses"][wid] == "offline"
    # The dead worker's own exporter says the same.
    own = json.loads(fetch(f"{worker_urls[wid]}/api/worker"))
    assert own["status"]["status"] == "offline" and own["resource_utilization"]["cpu_usage_percent"] is None
    own_metrics = scrape(worker_urls[wid])
    assert per_worker(own_metrics, "bytedb_worker_cpu_usage_percent") == {}
    assert per_worker(own_metrics, "bytedb_worker_load") == {}
    assert per_worker(own_metrics, "bytedb_worker_process_up") == {wid: 0.0}


def test_a_serve_mode_worker_keeps_the_exit_as_its_reason_past_the_offline_timeout(tmp_path):
    cluster = Cluster(tmp_path)
    try:
        cluster.start_node("w")
        cluster.start_exporter("w", cluster.worker_config("w", free_port()))  # offline_after_seconds: 3
        url = cluster.urls["w"]
        wait_for(lambda: json.loads(fetch(f"{url}/api/worker"))["load"] is not None, 20, "a load")
        pid = int((tmp_path / "w.pid").read_text())
        cluster.nodes["w"].kill()
        cluster.nodes["w"].wait(5)
        gone = wait_for(lambda: (doc := json.loads(fetch(f"{url}/api/worker")))["status"]["status"] == "offline"
                        and doc, 5, "offline")
        assert gone["status"]["issues"] == [f"process exited (pid {pid})"]
        assert gone["resource_utilization"]["cpu_usage_percent"] is None and gone["load"] is None
        time.sleep(4)  # past offline_after_seconds without a heartbeat
        later = json.loads(fetch(f"{url}/api/worker"))
        assert later["status"]["seconds_since_heartbeat"] > 3
        assert (later["status"]["status"], later["status"]["issues"]) == ("offline", [f"process exited (pid {pid})"])
        metrics = scrape(url)
        assert per_worker(metrics, "bytedb_worker_process_up") == {"w": 0.0}
        assert per_worker(metrics, "bytedb_worker_cpu_usage_percent") == {}
    finally:
        cluster.stop()
