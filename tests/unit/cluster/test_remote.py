"""RemoteWorkerMonitor and WorkerPoller: bad answers make one worker offline with a counted, logged reason."""
import copy
import json
import logging
import socket
import threading
import time

import pytest
from support import free_port
from test_worker_document import DOCUMENT

from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.remote import POLL_FAILURES, PollError, RemoteWorkerMonitor, WorkerPoller, fetch
from bytedb_exporter.metrics.registry import MetricsRegistry

TIMEOUT = 0.5


def failures(monitor, reason):
    return monitor.registry.get_metric("remote_worker_poll_failures_total",
                                       {"worker_id": monitor.worker_id, "reason": reason}).get()


def doc(**changes):
    """DOCUMENT with `section__field=value` changes."""
    document = copy.deepcopy(DOCUMENT)
    for path, value in changes.items():
        section, _, field = path.partition("__")
        if field:
            document[section][field] = value
        else:
            document[section] = value
    return document


@pytest.fixture
def monitor():
    return RemoteWorkerMonitor("w1", "http://127.0.0.1:9", MetricsRegistry())


def test_every_reason_is_a_series_from_the_start(monitor):
    assert all(failures(monitor, reason) == 0 for reason in POLL_FAILURES)


def test_a_valid_document_makes_the_worker_answer(monitor):
    monitor.record_poll(doc())
    vitals = monitor.vitals()
    assert (vitals.status, vitals.cpu_percent, vitals.memory_bytes) == ("healthy", 12.5, int(35.09 * 1024 * 1024))


@pytest.mark.parametrize("changes, field", [
    ({"resource_utilization__memory_usage_mb": 1e308}, "resource_utilization.memory_usage_mb"),
    ({"status__uptime_ms": 1e308}, "status.uptime_ms"),
    ({"resource_utilization__cpu_usage_percent": -5.0}, "resource_utilization.cpu_usage_percent"),
    ({"resource_utilization__memory_usage_percent": float("nan")}, "resource_utilization.memory_usage_percent"),
    ({"status__status": "banana"}, "status.status"),
    ({"worker_id": "w1\udc80"}, "worker_id"),
    ({"query_stats": None}, "query_stats"),
])
def test_an_invalid_document_is_offline_with_its_field_named(monitor, changes, field):
    monitor.record_poll(doc())
    monitor.record_poll(doc(**changes))
    vitals = monitor.vitals()
    assert vitals.status == "offline" and f"invalid_document: {field}:" in vitals.issues[0]
    assert failures(monitor, "invalid_document") == 1
    stats = monitor.get_worker_stats().to_dict()
    assert stats["status"]["status"] == "offline" and field in stats["status"]["message"]


def test_another_workers_document_is_wrong_worker(monitor):
    monitor.record_poll(doc(worker_id="w2"))
    assert monitor.vitals().status == "offline" and "answered as worker 'w2'" in monitor.vitals().issues[0]
    assert failures(monitor, "wrong_worker") == 1 and failures(monitor, "invalid_document") == 0


def test_unknown_reasons_are_refused(monitor):
    with pytest.raises(ValueError, match="not one of timeout"):
        monitor.record_failure("banana", "x")


def test_state_changes_are_logged_once(monitor, caplog):
    caplog.set_level(logging.INFO, logger="bytedb_exporter.cluster.remote")

    def lines():
        found = [(r.levelname, r.getMessage()) for r in caplog.records]
        caplog.clear()
        return found

    monitor.record_failure("connection", "refused")
    monitor.record_failure("connection", "refused")
    assert lines() == [("WARNING", "remote worker w1 at http://127.0.0.1:9 not answering (connection): refused")]
    monitor.record_failure("timeout", "slow")
    assert lines() == [("WARNING", "remote worker w1 at http://127.0.0.1:9 not answering (timeout): slow")]
    monitor.record_poll(doc())
    monitor.record_poll(doc())
    assert lines() == [("INFO", "remote worker w1 at http://127.0.0.1:9 answers again (after timeout)")]
    monitor.record_poll(doc(worker_id="other"))
    assert lines() == [("WARNING", "remote worker w1 at http://127.0.0.1:9 not answering (wrong_worker): worker_id: "
                                   "answered as worker 'other', expected 'w1'")]
    assert failures(monitor, "connection") == 2 and failures(monitor, "timeout") == 1


def test_the_first_answer_is_logged(monitor, caplog):
    caplog.set_level(logging.INFO, logger="bytedb_exporter.cluster.remote")
    monitor.record_poll(doc())
    assert [r.getMessage() for r in caplog.records] == ["remote worker w1 at http://127.0.0.1:9 answers"]


def test_one_bad_worker_does_not_break_the_coordinator():
    registry = MetricsRegistry()
    coordinator = CoordinatorMonitor(registry)
    good, bad = (RemoteWorkerMonitor(wid, f"http://127.0.0.1:9/{wid}", registry) for wid in ("w1", "w2"))
    coordinator.register_worker("w1", good)
    coordinator.register_worker("w2", bad)
    good.record_poll(doc())
    bad.record_poll(doc(worker_id="w2", resource_utilization__memory_usage_mb=1e308))
    health = coordinator.get_cluster_health()
    assert health.worker_statuses == {"w1": "healthy", "w2": "offline"}
    stats = coordinator.get_coordinator_stats()
    assert stats.resource_distribution.total_memory_usage_mb == pytest.approx(35.09)


class Server:
    """A loopback TCP server whose every connection is handled by `handle(conn)` in a thread."""

    def __init__(self, handle):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.1)
        self._stop = threading.Event()
        self._handle = handle
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            conn.recv(65536)
            self._handle(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join()
        self._listener.close()


def answer(body, status="200 OK", length=None):
    def handle(conn):
        head = [f"HTTP/1.1 {status}", "Content-Type: application/json",
                f"Content-Length: {len(body) if length is None else length}", "Connection: close"]
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    return handle


def trickle(head_first):
    def handle(conn):
        body = json.dumps(DOCUMENT).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        if head_first:
            conn.sendall(head)
        for byte in (body if head_first else head + body):
            conn.sendall(bytes([byte]))
            time.sleep(0.05)
    return handle


@pytest.fixture
def serve():
    servers = []

    def start(handle):
        servers.append(Server(handle))
        return servers[-1].url

    yield start
    for server in servers:
        server.close()


def reason_of(url, timeout=TIMEOUT):
    with pytest.raises(PollError) as raised:
        fetch(url + "/api/worker", {}, timeout)
    return raised.value.reason, str(raised.value)


def test_fetch_reads_a_whole_answer(serve):
    url = serve(answer(json.dumps(DOCUMENT).encode()))
    assert json.loads(fetch(url + "/api/worker", {"Accept": "application/json"}, TIMEOUT)) == DOCUMENT


@pytest.mark.parametrize("head_first", [True, False], ids=["body", "headers"])
def test_a_trickled_answer_ends_at_the_deadline(serve, head_first):
    url = serve(trickle(head_first))
    began = time.monotonic()
    reason, detail = reason_of(url)
    elapsed = time.monotonic() - began
    assert reason == "timeout" and "within 0.5 s" in detail
    assert elapsed < 2.0  # the per-read timeout alone would let it run for the whole trickle (~20 s)


def test_a_silent_worker_times_out(serve):
    url = serve(lambda conn: time.sleep(3))
    assert reason_of(url)[0] == "timeout"


@pytest.mark.parametrize("handle, reason", [
    (answer(b'{"error": "boom"}', "500 INTERNAL SERVER ERROR"), "http_status"),
    (answer(b"", "404 NOT FOUND"), "http_status"),
    (lambda conn: conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"),
     "connection"),
    (lambda conn: conn.sendall(b"garbage\r\n\r\n"), "connection"),
])
def test_answers_that_are_not_200(serve, handle, reason):
    url = serve(handle)
    assert reason_of(url)[0] == reason


def test_a_refused_connection(serve):
    assert reason_of(f"http://127.0.0.1:{free_port()}")[0] == "connection"


def test_too_large_answers_are_cut_off(serve):
    assert reason_of(serve(answer(b"", length=60_000_000)))[0] == "too_large"

    def endless(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        for _ in range(100):
            conn.sendall(b" " * 65536)
    assert reason_of(serve(endless))[0] == "too_large"


def test_poll_records_not_json_and_recovers(serve):
    monitor = RemoteWorkerMonitor("w1", serve(answer(b"<html>NaN")), MetricsRegistry())
    poller = WorkerPoller([monitor], interval=1, timeout=TIMEOUT)
    poller.poll(monitor)
    assert failures(monitor, "not_json") == 1 and monitor.vitals().status == "offline"
    monitor.url = serve(answer(json.dumps(DOCUMENT).encode()))
    poller.poll(monitor)
    assert monitor.vitals().status == "healthy"


def test_poll_sends_the_bearer_token_and_path():
    seen = []

    class Capture(Server):
        def _run(self, conn):
            seen.append(conn.recv(65536).decode())
            answer(json.dumps(DOCUMENT).encode())(conn)
            conn.close()

    server = Capture(None)
    try:
        monitor = RemoteWorkerMonitor("w1", server.url + "/prefix/", MetricsRegistry())
        WorkerPoller([monitor], interval=1, timeout=TIMEOUT, bearer_token="s3cret").poll(monitor)
    finally:
        server.close()
    assert monitor.vitals().status == "healthy"
    request = seen[0].split("\r\n")
    assert request[0] == "GET /prefix/api/worker HTTP/1.1"
    assert "Authorization: Bearer s3cret" in request and "Accept: application/json" in request


def test_an_answer_shorter_than_its_length_is_a_connection_failure(serve):
    reason, detail = reason_of(serve(answer(b'{"worker_id": "w1"}', length=500)))
    assert reason == "connection" and "ended after 19 of 500 bytes" in detail
