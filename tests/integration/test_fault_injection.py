"""A serve-mode coordinator polling one healthy worker exporter and one sick worker (a real HTTP server thread
that answers in turn with every fault): the coordinator stays healthy and fast, the sick worker is offline with
its reason, counted and logged, the healthy one stays online."""
import copy
import json
import logging
import math
import os
import socket
import threading
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import free_port

from bytedb_exporter.config.loader import parse_config
from bytedb_exporter.serve import Service
from bytedb_exporter.web.server import BackgroundServer

POLL_INTERVAL = 0.3
POLL_TIMEOUT = 0.3
METRICS_REQUESTS = 30
P99_BOUND_SECONDS = 0.2
JSON_PATHS = ("/api/overview", "/api/cluster", "/api/workers", "/api/workers/sick", "/api/alerts", "/api/performance",
              "/api/queries", "/api/history", "/api/metrics", "/healthz")


def http_answer(body, status="200 OK", length=None):
    head = (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class SickWorker:
    """A worker exporter stand-in on loopback whose answer to every request is set by `fault`."""

    def __init__(self, document):
        self.document = document
        self.fault = "healthy"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.1)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._answer, args=(conn, self.fault), daemon=True).start()

    def _answer(self, conn, fault):
        try:
            conn.settimeout(5)
            conn.recv(65536)
            getattr(self, f"_{fault}")(conn)
        except OSError:
            pass  # the poller hung up first, as it should
        finally:
            conn.close()

    def body(self, **changes):
        """The healthy document with `section__field=value` changes, as JSON text (NaN/Infinity as tokens)."""
        document = copy.deepcopy(self.document)
        for path, value in changes.items():
            section, _, field = path.partition("__")
            document[section][field] = value
        return json.dumps(document).encode()

    def _healthy(self, conn):
        conn.sendall(http_answer(self.body()))

    def _hang(self, conn):
        self._stop.wait(10)

    def _garbage(self, conn):
        conn.sendall(b"\x00\xffthis is not HTTP\r\n\r\n")

    def _http_500(self, conn):
        conn.sendall(http_answer(b'{"error": "internal"}', "500 INTERNAL SERVER ERROR"))

    def _reset(self, conn):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, (1).to_bytes(4, "little") + (0).to_bytes(4, "little"))

    def _huge(self, conn):
        size = 50 * 1024 * 1024
        conn.sendall(http_answer(b"", length=size))
        chunk = b" " * (1024 * 1024)
        for _ in range(size // len(chunk)):
            conn.sendall(chunk)

    def _trickle(self, conn):
        for byte in http_answer(self.body()):
            conn.sendall(bytes([byte]))
            if self._stop.wait(0.05):
                return

    def _not_json(self, conn):
        conn.sendall(http_answer(b"<html>worker is fine</html>"))

    def _negative(self, conn):
        conn.sendall(http_answer(self.body(resource_utilization__cpu_usage_percent=-12.5)))

    def _nan(self, conn):
        conn.sendall(http_answer(self.body(resource_utilization__memory_usage_percent=math.nan)))

    def _infinity(self, conn):
        conn.sendall(http_answer(self.body(query_stats__success_rate_percent=math.inf)))

    def _huge_number(self, conn):
        conn.sendall(http_answer(self.body(resource_utilization__memory_usage_mb=1e308)))

    def _huge_uptime(self, conn):
        conn.sendall(http_answer(self.body(status__uptime_ms=1e308)))

    def _banana(self, conn):
        conn.sendall(http_answer(self.body(status__status="banana")))

    def _surrogate(self, conn):
        conn.sendall(http_answer(self.body(status__message="disk \udc80 full")))

    def _other_worker(self, conn):
        document = json.loads(self.body())
        document["worker_id"] = "impostor"
        conn.sendall(http_answer(json.dumps(document).encode()))

    def close(self):
        self._stop.set()
        self._thread.join()
        self._listener.close()


# fault, the reason counted, what the sick worker's status message must name.
FAULTS = [
    ("hang", "timeout", "no complete answer within 0.3 s"),
    ("garbage", "connection", "connection:"),
    ("http_500", "http_status", "HTTP 500"),
    ("reset", "connection", "connection:"),
    ("huge", "too_large", "answer of 52428800 bytes"),
    ("trickle", "timeout", "within 0.3 s"),
    ("not_json", "not_json", "answer is not JSON"),
    ("negative", "invalid_document", "resource_utilization.cpu_usage_percent"),
    ("nan", "invalid_document", "resource_utilization.memory_usage_percent"),
    ("infinity", "invalid_document", "query_stats.success_rate_percent"),
    ("huge_number", "invalid_document", "resource_utilization.memory_usage_mb"),
    ("huge_uptime", "invalid_document", "status.uptime_ms"),
    ("banana", "invalid_document", "status.status: expected one of healthy"),
    ("surrogate", "invalid_document", "status.message: not valid UTF-8"),
    ("other_worker", "wrong_worker", "answered as worker 'impostor'"),
]


def get(url, path):
    with urllib.request.urlopen(url + path, timeout=5) as response:
        return response.status, response.read().decode()


def failures(text, reason):
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (sample.name == "bytedb_remote_worker_poll_failures_total"
                    and sample.labels == {"worker_id": "sick", "reason": reason}):
                return sample.value
    raise AssertionError(f"no failure series for reason {reason}")


def wait_for(condition, *args, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition(*args)
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture(scope="module")
def cluster():
    worker = Service(parse_config({"role": "worker", "node_id": "healthy", "process": {"pid": os.getpid()},
                                   "thresholds": {"offline_after_seconds": 600}}, "worker.yml"))
    worker.start()
    worker_server = BackgroundServer(worker.app, "127.0.0.1", free_port())
    document = json.loads(get(worker_server.url, "/api/worker")[1])
    document["worker_id"] = "sick"
    sick = SickWorker(document)
    coordinator = Service(parse_config({
        "role": "coordinator", "node_id": "coordinator",
        "workers": [{"id": "healthy", "url": worker_server.url}, {"id": "sick", "url": sick.url}],
        "poll": {"interval_seconds": POLL_INTERVAL, "timeout_seconds": POLL_TIMEOUT},
        "thresholds": {"offline_after_seconds": 600}}, "coordinator.yml"))
    coordinator.start()
    server = BackgroundServer(coordinator.app, "127.0.0.1", free_port())
    try:
        yield server.url, coordinator, sick
    finally:
        server.stop()
        coordinator.stop()
        sick.close()
        worker_server.stop()
        worker.stop()


def statuses(url):
    workers = json.loads(get(url, "/api/workers")[1])
    return {wid: w["status"] for wid, w in workers.items()}


def sick_is_offline(url, reason, named, failures_before):
    """The sick worker shows offline naming the fault, and its failure was counted under `reason`."""
    sick = statuses(url)["sick"]
    return (sick["status"] == "offline" and named in sick["message"]
            and failures(get(url, "/metrics")[1], reason) > failures_before)


def p99(seconds):
    ordered = sorted(seconds)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]


def measure(url, coordinator):
    """/metrics latencies (each answer 200 and parsable), and the count of 5xx among every request made."""
    latencies, errors = [], 0
    for _ in range(METRICS_REQUESTS):
        began = time.monotonic()
        status, text = get(url, "/metrics")
        latencies.append(time.monotonic() - began)
        errors += status >= 500
        assert status == 200 and list(text_string_to_metric_families(text))
    for path in JSON_PATHS:
        status, body = get(url, path)
        errors += status >= 500
        assert status == 200, path
        json.loads(body)
    assert coordinator.app.extensions["bytedb"].views.live()["workers"]
    return latencies, errors


def test_every_fault_takes_one_worker_offline_and_nothing_else(cluster, caplog):
    url, coordinator, sick = cluster
    caplog.set_level(logging.INFO, logger="bytedb_exporter.cluster.remote")
    wait_for(lambda: {w: s["status"] for w, s in statuses(url).items()} == {"healthy": "healthy", "sick": "healthy"})
    report = [("none", "-", *measure(url, coordinator))]
    for fault, reason, named in FAULTS:
        before = failures(get(url, "/metrics")[1], reason)
        sick.fault = fault
        wait_for(sick_is_offline, url, reason, named, before, timeout=10)
        latencies, errors = measure(url, coordinator)
        assert coordinator.app.extensions["bytedb"].views.live()["workers"]["sick"]["status"]["status"] == "offline"
        now = statuses(url)
        assert now["healthy"]["status"] == "healthy", (fault, now["healthy"])
        assert now["sick"]["status"] == "offline" and f"{reason}: " in now["sick"]["message"], now["sick"]
        report.append((fault, reason, latencies, errors))
        assert p99(latencies) < P99_BOUND_SECONDS, (fault, sorted(latencies)[-3:])
    sick.fault = "healthy"
    wait_for(lambda: statuses(url)["sick"]["status"] == "healthy")

    logged = [r.getMessage() for r in caplog.records if "remote worker sick " in r.getMessage()]
    changes = [reason for i, (_, reason, _) in enumerate(FAULTS) if i == 0 or FAULTS[i - 1][1] != reason]
    assert [m.split("(")[1].split(")")[0] for m in logged if "not answering" in m] == changes
    assert logged[-1].endswith("answers again (after wrong_worker)")
    print(f"\nfault, reason, requests (/metrics + JSON), 5xx, /metrics p50 ms, p99 ms (bound "
          f"{P99_BOUND_SECONDS * 1000:.0f})")
    for fault, reason, latencies, errors in report:
        print(f"{fault}, {reason}, {len(latencies)} + {len(JSON_PATHS)}, {errors}, "
              f"{sorted(latencies)[len(latencies) // 2] * 1000:.1f}, {p99(latencies) * 1000:.1f}")
