"""Serve mode on loopback: a coordinator exporter polling three worker exporters, each watching a real
ByteDB stand-in process; events posted from another process; failures and recovery seen in JSON and /metrics."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from support import free_port

from bytedb_exporter.cluster.remote import RemoteWorkerMonitor, WorkerPoller
from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.web.server import BackgroundServer
from bytedb_exporter.web.worker_app import create_worker_app

POLL_INTERVAL = 0.5
POLL_TIMEOUT = 0.4
SAMPLE_INTERVAL = 0.25
# Works about a third of the time (hashing, then sleeping) and keeps its pid in a pid file, as a node would.
NODE = """
import hashlib, os, sys, time
path = sys.argv[1]
with open(path + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.replace(path + ".tmp", path)
data = b"x" * 65536
while True:
    end = time.monotonic() + 0.01
    while time.monotonic() < end:
        data = hashlib.sha256(data).digest() * 2048
    time.sleep(0.02)
"""
POSTER = """
import json, sys, urllib.request
def post(url, body, content_type):
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.load(response)
coordinator, worker = sys.argv[1], sys.argv[2]
queries = []
for i in range(5):
    queries.append({"type": "query_start", "query_id": f"q{i}", "sql": f"SELECT * FROM t WHERE id = {i}",
                    "workers": 3, "fragments": 3})
    queries.append({"type": "query_end", "query_id": f"q{i}", "duration_ms": 10 + i, "rows": 100,
                    "phases": {"planning_ms": 1, "execution_ms": 8}})
worker_events = [{"type": "worker_query_start", "query_id": "f1"},
                 {"type": "worker_query_end", "query_id": "f1", "rows": 42, "bytes": 4096},
                 {"type": "cache_hit", "count": 7}]
print(json.dumps([post(coordinator + "/api/v1/events", json.dumps(queries), "application/json"),
                  post(worker + "/api/v1/events", "\\n".join(map(json.dumps, worker_events)), "application/x-ndjson")]))
"""


def get(url, path):
    with urllib.request.urlopen(url + path, timeout=5) as response:
        body = response.read().decode()
    return body if path == "/metrics" else json.loads(body)


def wait_for(condition, timeout):
    """The first truthy value of condition() within timeout seconds, and the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            value = condition()
        except OSError:
            value = None
        if value:
            return value, time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


def sample_value(metrics_text, name, **labels):
    for line in metrics_text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


class Cluster:
    """Child processes of one test, always stopped at the end."""

    def __init__(self, root: Path):
        self.root = root
        self.processes = []
        self.nodes, self.exporters, self.urls = {}, {}, {}

    def spawn(self, *args):
        process = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   cwd=self.root)
        self.processes.append(process)
        return process

    def start_node(self, wid):
        self.nodes[wid] = self.spawn("-c", NODE, str(self.root / f"{wid}.pid"))

    def start_exporter(self, name, config):
        path = self.root / f"{name}.yml"
        path.write_text(yaml.safe_dump(config))
        self.exporters[name] = self.spawn("-m", "bytedb_exporter.cli", "serve", "--config", str(path))
        self.urls[name] = f"http://127.0.0.1:{config['listen']['port']}"

    def worker_config(self, wid, port):
        return {"role": "worker", "node_id": wid, "listen": {"port": port},
                "process": {"pid_file": str(self.root / f"{wid}.pid"), "sample_interval_seconds": SAMPLE_INTERVAL},
                "data_path": str(self.root), "thresholds": {"offline_after_seconds": 3}}

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            process.wait(timeout=10)
            if process.stderr:
                process.stderr.close()


@pytest.fixture
def cluster(tmp_path):
    cluster = Cluster(tmp_path)
    try:
        workers = []
        for index in (1, 2, 3):
            wid = f"worker-{index}"
            cluster.start_node(wid)
            cluster.start_exporter(wid, cluster.worker_config(wid, free_port()))
            workers.append({"id": wid, "url": cluster.urls[wid]})
        cluster.start_exporter("coordinator", {
            "role": "coordinator", "node_id": "coordinator", "listen": {"port": free_port()}, "workers": workers,
            "poll": {"interval_seconds": POLL_INTERVAL, "timeout_seconds": POLL_TIMEOUT},
            "stream_interval_seconds": 0.5})
        yield cluster
    finally:
        cluster.stop()


def cluster_is(cluster, status, **workers):
    health = get(cluster.urls["coordinator"], "/api/cluster")
    return health["status"] == status and all(health["worker_statuses"].get(w.replace("_", "-")) == s
                                              for w, s in workers.items()) and health


def metrics_show(cluster, status, worker, state):
    text = get(cluster.urls["coordinator"], "/metrics")
    return (sample_value(text, "bytedb_cluster_health", status=status) == 1.0
            and sample_value(text, "bytedb_worker_state", worker_id=worker, state=state) == 1.0 and text)


def test_coordinator_follows_workers_through_failure_and_recovery(cluster):
    coordinator = cluster.urls["coordinator"]
    healthy = {f"worker_{i}": "healthy" for i in (1, 2, 3)}
    wait_for(lambda: cluster_is(cluster, "healthy", **healthy), 30)
    text, _ = wait_for(lambda: metrics_show(cluster, "healthy", "worker-2", "healthy"), 5)
    assert sample_value(text, "bytedb_cluster_workers", state="healthy") == 3.0

    # The watched processes work, and their exporters show it.
    worker_1 = get(cluster.urls["worker-1"], "/api/worker")
    assert worker_1["resource_utilization"]["process_status"] == "ok"
    assert worker_1["resource_utilization"]["memory_usage_mb"] > 1
    wait_for(lambda: get(cluster.urls["worker-1"], "/api/worker")["resource_utilization"]["cpu_usage_percent"] > 5, 10)
    worker_metrics = get(cluster.urls["worker-1"], "/metrics")
    assert sample_value(worker_metrics, "bytedb_worker_process_up", worker_id="worker-1") == 1.0
    assert sample_value(worker_metrics, "bytedb_worker_io_read_bytes_total", worker_id="worker-1") is not None

    # Events from a separate process: queries to the coordinator, worker events to worker-1's exporter.
    posted = subprocess.run([sys.executable, "-c", POSTER, coordinator, cluster.urls["worker-1"]],
                            capture_output=True, text=True, timeout=60, check=True)
    assert [status for status, _ in json.loads(posted.stdout)] == [200, 200]
    assert get(coordinator, "/api/queries")["stats"]["total_queries"] == 5
    seen, _ = wait_for(lambda: get(coordinator, "/api/workers")["worker-1"]["cache_stats"]["cache_hits"] == 7
                       and get(coordinator, "/api/workers")["worker-1"], 5)
    assert seen["query_stats"]["rows_processed"] == 42
    # /metrics may serve an exposition built up to scrape_cache_seconds (1 s) ago
    wait_for(lambda: sample_value(get(coordinator, "/metrics"), "bytedb_queries_total", query_type="SELECT",
                                  status="success") == 5.0, 5)
    assert sample_value(get(coordinator, "/metrics"), "bytedb_queries_total", query_type="SELECT",
                        status="success") == 5.0

    # The watched process dies: its worker is offline at once (the process exited), the cluster degraded.
    cluster.nodes["worker-2"].kill()
    health, took = wait_for(lambda: cluster_is(cluster, "degraded", worker_2="offline"), 2 * POLL_INTERVAL + 2)
    assert health["healthy_workers"] == 2
    wait_for(lambda: metrics_show(cluster, "degraded", "worker-2", "offline"), 2)
    assert get(cluster.urls["worker-2"], "/api/worker")["resource_utilization"]["process_status"] == "process_gone"
    assert sample_value(get(cluster.urls["worker-2"], "/metrics"), "bytedb_worker_process_up",
                        worker_id="worker-2") == 0

    # Then its exporter dies: its polls fail within two poll intervals (plus scheduling slack).
    cluster.exporters["worker-2"].kill()
    killed = time.monotonic()

    def poll_failed():
        text = metrics_show(cluster, "degraded", "worker-2", "offline")
        return text if text and sample_value(text, "bytedb_remote_worker_up", worker_id="worker-2") == 0.0 else None

    text, _ = wait_for(poll_failed, 2 * POLL_INTERVAL + 1)
    assert time.monotonic() - killed <= 2 * POLL_INTERVAL + 0.5
    assert sample_value(text, "bytedb_cluster_workers", state="offline") == 1.0
    alerts = get(coordinator, "/api/alerts")
    assert {"workers_offline", "cluster_degraded"} <= {alert["type"] for alert in alerts}

    # Both come back: healthy again, in JSON and in /metrics.
    cluster.start_node("worker-2")
    cluster.start_exporter("worker-2",
                           cluster.worker_config("worker-2", int(cluster.urls["worker-2"].rsplit(":", 1)[1])))
    wait_for(lambda: cluster_is(cluster, "healthy", **healthy), 30)
    text, _ = wait_for(lambda: metrics_show(cluster, "healthy", "worker-2", "healthy"), 5)
    assert sample_value(text, "bytedb_remote_worker_up", worker_id="worker-2") == 1.0

    # Pages, chart samples (no stream client, so no snapshots) and polls ran all along without a traceback;
    # SIGTERM stops cleanly.
    assert len(get(coordinator, "/api/history")["points"]) > 3
    process = cluster.exporters["coordinator"]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert b"Traceback" not in process.stderr.read()


def test_watched_process_restart_is_picked_up_and_sigterm_stops_cleanly(tmp_path):
    cluster = Cluster(tmp_path)
    try:
        cluster.start_node("w")
        cluster.start_exporter("w", cluster.worker_config("w", free_port()))
        url = cluster.urls["w"]
        wait_for(lambda: get(url, "/api/worker")["status"]["status"] == "healthy", 20)
        first = int((tmp_path / "w.pid").read_text())
        cluster.nodes["w"].kill()
        wait_for(lambda: get(url, "/api/worker")["status"]["status"] == "offline", 5)
        cluster.start_node("w")
        wait_for(lambda: get(url, "/api/worker")["status"]["status"] == "healthy", 5)
        assert int((tmp_path / "w.pid").read_text()) != first
        exporter = cluster.exporters["w"]
        exporter.send_signal(signal.SIGTERM)
        assert exporter.wait(timeout=10) == 0
        assert b"Traceback" not in exporter.stderr.read()
    finally:
        cluster.stop()


def test_a_hanging_worker_does_not_delay_the_others():
    """One worker exporter accepts connections and never answers; the other stays polled and healthy."""
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(16)
    monitor = WorkerMonitor("good", MetricsRegistry())
    monitor.heartbeat()
    server = BackgroundServer(create_worker_app(monitor), "127.0.0.1", 0)
    registry = MetricsRegistry()
    good = RemoteWorkerMonitor("good", server.url, registry, stale_after_seconds=2 * POLL_INTERVAL)
    stuck = RemoteWorkerMonitor("stuck", f"http://127.0.0.1:{hanging.getsockname()[1]}", registry,
                                stale_after_seconds=2 * POLL_INTERVAL)
    poller = WorkerPoller([stuck, good], interval=POLL_INTERVAL, timeout=POLL_TIMEOUT)
    polls = []
    original = good.record_poll
    good.record_poll = lambda document: (polls.append(time.monotonic()), original(document))
    try:
        started = time.monotonic()
        poller.start()
        time.sleep(8 * POLL_INTERVAL)
        assert stuck.vitals().status == "offline" and "not answering" in stuck.vitals().issues[0]
        assert good.vitals().status == "healthy"
        assert polls[0] - started < 0.3, "the first round waits for nobody"
        gaps = [b - a for a, b in zip(polls, polls[1:], strict=False)]
        assert len(polls) >= 7 and max(gaps) < POLL_INTERVAL + 0.2, gaps
        assert threading.active_count() < 40
    finally:
        poller.stop()
        server.stop()
        hanging.close()
        monitor.close()


def test_gunicorn_serves_the_config_and_stops_on_sigterm(tmp_path):
    """The shipped gunicorn config in serve mode: binds to the file's listen address, SIGTERM stops it."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists():
        pytest.skip("gunicorn is not installed next to this Python")
    cluster = Cluster(tmp_path)
    try:
        cluster.start_node("w")
        port = free_port()
        config = tmp_path / "w.yml"
        config.write_text(yaml.safe_dump(cluster.worker_config("w", port)))
        server = subprocess.Popen([str(gunicorn), "-c", "python:bytedb_exporter.gunicorn_conf",
                                   "bytedb_exporter.wsgi:app"],
                                  env={**os.environ, "BYTEDB_EXPORTER_CONFIG": str(config)}, cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cluster.processes.append(server)
        wait_for(lambda: get(f"http://127.0.0.1:{port}", "/api/worker")["status"]["status"] == "healthy", 30)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0
    finally:
        cluster.stop()

