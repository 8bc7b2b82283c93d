"""Under gunicorn with the shipped config, neither open dashboards nor slow clients lock /metrics out.

One gunicorn (demo cluster of 2 workers) goes through: 1000 clients opening /api/stream at once
(the cap answers 503), 1000 stream connect/disconnect cycles (CAP at a time), 300 slowloris sockets (partial
headers, from 10 loopback addresses) and one address over its bound of incomplete connections.
/metrics and /healthz keep answering throughout, and the worker's threads and descriptors come
back. Prints the figures docs/reliability.md quotes.
"""
from __future__ import annotations

import json
import resource
import selectors
import socket
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
from processes import Process, http_get, start_process, stop_process, wait_for
from support import free_port

from bytedb_exporter.gunicorn_conf import RESERVED_THREADS, threads
from bytedb_exporter.gunicorn_worker import GuardedThreadWorker
from bytedb_exporter.web.stream import RETRY_AFTER_SECONDS

pytestmark = pytest.mark.e2e
CAP = min(200, threads - RESERVED_THREADS)  # limits.max_streams' default, lowered by the gunicorn config
FD_TOLERANCE = 8  # the demo's own descriptors (SQLite, pipes to its workers) move a little
THREAD_TOLERANCE = 2  # the demo's own short-lived threads
STREAM_REQUEST = b"GET /api/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
SLOW_REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n"  # never finished
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def raise_own_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard),
                                                    hard))


def status_lines(socks: list[socket.socket], timeout: float = 30.0) -> Counter[str]:
    """The status code each socket's answer starts with ('closed' when it ended first)."""
    selector, buffers, found = selectors.DefaultSelector(), {}, Counter()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        buffers[sock] = b""
    deadline = time.monotonic() + timeout
    while buffers and time.monotonic() < deadline:
        for key, _ in selector.select(0.5):
            sock = key.fileobj
            try:
                chunk = sock.recv(4096)
            except BlockingIOError:
                continue
            except ConnectionError:
                chunk = b""
            buffers[sock] += chunk
            if b"\r\n" in buffers[sock] or not chunk:
                found[buffers[sock].split(b" ", 2)[1].decode() if chunk else "closed"] += 1
                selector.unregister(sock)
                del buffers[sock]
    found["no answer"] += len(buffers)
    selector.close()
    return found


def connect(port: int, request: bytes, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    sock.sendall(request)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server has closed (or reset) this socket; never blocks."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True


def answers(sock: socket.socket, count: int, timeout: float = 10.0) -> bytes:
    """What the server sent until `count` whole /healthz answers (JSON bodies end with a newline) arrived."""
    sock.settimeout(timeout)
    data = b""
    while data.count(b"HTTP/1.1 200 ") < count or not data.endswith(b"}\n"):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


def timed_gets(url: str, count: int) -> tuple[int, list[float]]:
    """How many of `count` sequential GETs answered 200, and each one's latency."""
    answered, latencies = 0, []
    for _ in range(count):
        started = time.perf_counter()
        try:
            answered += http_get(url, timeout=5).status == 200
        except OSError:
            pass
        latencies.append(time.perf_counter() - started)
    return answered, latencies


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


class Worker:
    """The gunicorn worker process, read with psutil."""

    def __init__(self, process: Process):
        children = psutil.Process(process.popen.pid).children()
        assert len(children) == 1, children
        self.process = children[0]

    def usage(self) -> tuple[int, int]:
        return self.process.num_threads(), self.process.num_fds()


def test_streams_and_slow_clients_never_lock_metrics_out(tmp_path):
    raise_own_fd_limit(4096)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    process = start_process(
        "gunicorn", [gunicorn, "-c", "python:bytedb_exporter.gunicorn_conf", "bytedb_exporter.wsgi:app"],
        tmp_path / "gunicorn.log", env={"BYTEDB_EXPORTER_BIND": f"127.0.0.1:{port}", "TMPDIR": str(tmp_path),
                                        "BYTEDB_EXPORTER_DEMO_WORKERS": "2", "BYTEDB_EXPORTER_DEMO_QPS": "5"})
    opened: list[socket.socket] = []

    def healthz() -> dict:
        process.assert_running()
        return http_get(f"{base}/healthz").json()

    def streams_closed() -> bool:
        return healthz()["stream_clients"] == 0

    try:
        wait_for(lambda: "bytedb_worker_state" in http_get(f"{base}/metrics").text, 90, "gunicorn serving the demo",
                 on_timeout=process.log_tail)
        worker = Worker(process)
        timed_gets(f"{base}/metrics", 5)  # warm up
        idle = worker.usage()

        # 1000 clients open /api/stream at once: the cap answers, /metrics stays fast.
        opened = [connect(port, STREAM_REQUEST) for _ in range(1000)]
        assert status_lines(opened) == Counter({"200": CAP, "503": 1000 - CAP})
        refused = http_get(f"{base}/api/stream")
        assert refused.status == 503 and refused.json()["error"] == "too_many_streams"
        assert healthz()["stream_clients"] == CAP
        answered, latencies = timed_gets(f"{base}/metrics", 50)
        loaded = worker.usage()
        assert answered == 50
        assert p99(latencies) < 0.25, f"/metrics p99 {p99(latencies) * 1000:.0f} ms with {CAP} streams open"
        for sock in opened:
            sock.close()
        wait_for(streams_closed, 20, "every stream slot freed")
        warm = worker.usage()
        most_threads = idle[0] + threads  # gunicorn's pool keeps its idle threads, at most `threads` of them
        assert abs(warm[1] - idle[1]) <= FD_TOLERANCE and warm[0] <= most_threads, (idle, warm)
        print(f"\n1000 at once: {CAP} streams, {1000 - CAP} x 503; /metrics 50/50, "
              f"p50 {sorted(latencies)[25] * 1000:.1f} ms, p99 {p99(latencies) * 1000:.1f} ms; "
              f"threads/fds idle {idle}, loaded {loaded}, after {warm}")

        # 1000 stream connect/disconnect cycles, CAP at a time: every one is a stream, every slot comes back.
        cycles: Counter[str] = Counter()
        for _ in range(1000 // CAP):
            batch = [connect(port, STREAM_REQUEST) for _ in range(CAP)]
            cycles += status_lines(batch)
            for sock in batch:
                sock.close()
            wait_for(streams_closed, 20, "every stream slot freed after a batch of cycles", interval=0.2)
        assert cycles == Counter({"200": 1000 // CAP * CAP}), cycles
        cycled = worker.usage()
        assert cycled[0] <= most_threads and abs(cycled[1] - idle[1]) <= FD_TOLERANCE, (idle, cycled)
        print(f"1000 cycles: {dict(cycles)}; threads/fds after {cycled}")

        # 300 slowloris sockets from 10 addresses (30 each, under the per-address bound).
        opened = [connect(port, SLOW_REQUEST, f"127.0.0.{10 + i % 10}") for i in range(300)]
        time.sleep(0.5)
        metrics_ok, metrics_latencies = timed_gets(f"{base}/metrics", 20)
        healthz_ok, healthz_latencies = timed_gets(f"{base}/healthz", 20)
        held = worker.usage()
        assert (metrics_ok, healthz_ok) == (20, 20)
        assert not any(closed_by_server(sock) for sock in opened)  # all 300 still held, by no thread
        assert held[0] <= cycled[0] + THREAD_TOLERANCE and held[1] >= cycled[1] + 300 - FD_TOLERANCE, (cycled, held)

        # One address beyond its bound of incomplete connections: the extra ones are closed at once.
        bound = GuardedThreadWorker.max_incomplete_per_client
        crowd = [connect(port, SLOW_REQUEST, "127.0.0.200") for _ in range(bound + 30)]
        wait_for(lambda: sum(closed_by_server(sock) for sock in crowd) == 30, 5, "the extra connections closed",
                 interval=0.1)
        assert sum(closed_by_server(sock) for sock in crowd[:bound]) == 0
        print(f"300 slowloris: /metrics {metrics_ok}/20 (p99 {p99(metrics_latencies) * 1000:.1f} ms), "
              f"/healthz {healthz_ok}/20 (p99 {p99(healthz_latencies) * 1000:.1f} ms); threads/fds held {held}")

        # Kept-alive connections go through the same header reading: pipelined requests are both
        # answered, and a second request left unfinished (sent after an answer, or pipelined behind
        # a whole one) is closed by the header timeout like a new connection's.
        pipelined = connect(port, HEALTHZ * 2)
        assert answers(pipelined, 2).count(b'"status":"ok"') == 2
        kept_alive = connect(port, HEALTHZ)
        answers(kept_alive, 1)
        kept_alive.sendall(SLOW_REQUEST)
        behind = connect(port, HEALTHZ + SLOW_REQUEST)
        answers(behind, 1)
        pipelined.close()
        filler = GuardedThreadWorker.max_header_bytes + 1 - len(SLOW_REQUEST)  # all read before the 431: no RST
        endless = connect(port, SLOW_REQUEST + b"x" * filler)
        endless.settimeout(10)
        assert endless.recv(4096).startswith(b"HTTP/1.1 431 ")  # a header block that never ends is refused
        endless.close()

        # The server closes what never finishes its headers; closing the rest gives everything back.
        watched, rest = [*opened[:10], kept_alive, behind], opened[10:] + crowd
        for sock in rest:
            sock.close()
        wait_for(lambda: all(closed_by_server(sock) for sock in watched), 20, "the header timeout closing them")
        for sock in watched:
            sock.close()
        opened = []
        def back_to_idle() -> tuple[int, int] | None:
            usage = worker.usage()
            return usage if abs(usage[1] - idle[1]) <= FD_TOLERANCE else None

        final = wait_for(back_to_idle, 10, "the worker's descriptors back to idle")
        assert final[0] <= held[0] + THREAD_TOLERANCE and final[0] <= most_threads, (held, final)
        assert json.loads(http_get(f"{base}/healthz").body)["status"] == "ok"
        print(f"after closing: threads/fds {final} (idle {idle}); "
              f"503 Retry-After {RETRY_AFTER_SECONDS} s")
    finally:
        for sock in opened:
            sock.close()
        stop_process(process)
