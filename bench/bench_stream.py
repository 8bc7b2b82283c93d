"""/metrics latency under gunicorn (shipped config) with 0 and then 200 live /api/stream clients.

Run: python bench/bench_stream.py  (target: p99 under 100 ms with 200 clients; prints the ratio to no clients).
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
from pathlib import Path

CLIENTS = 200
REQUESTS = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(base: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("gunicorn did not start")


def metrics_latencies(base: str, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        urllib.request.urlopen(f"{base}/metrics", timeout=10).read()
        latencies.append(time.perf_counter() - started)
    return latencies


def open_streams(port: int, count: int) -> tuple[selectors.DefaultSelector, list[socket.socket]]:
    selector, sockets = selectors.DefaultSelector(), []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /api/stream HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        sockets.append(sock)
    return selector, sockets


def drain(selector: selectors.DefaultSelector, seconds: float) -> int:
    """Read whatever the streams send for `seconds`; returns bytes received."""
    received, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.05):
            try:
                received += len(key.fileobj.recv(65536))
            except BlockingIOError:
                pass
    return received


def summary(name: str, latencies: list[float]) -> float:
    ordered = sorted(latencies)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    print(f"{name:<22} p50 {statistics.median(ordered) * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms")
    return p99


def main() -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BYTEDB_EXPORTER_BIND": f"127.0.0.1:{port}", "BYTEDB_EXPORTER_DEMO_WORKERS": "3",
               "BYTEDB_EXPORTER_DEMO_QPS": "5", "TMPDIR": tmp}
        server = subprocess.Popen([gunicorn, "-c", "python:bytedb_exporter.gunicorn_conf", "bytedb_exporter.wsgi:app"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_ready(base)
            metrics_latencies(base, 20)  # warm up
            alone = summary("/metrics, no clients", metrics_latencies(base, REQUESTS))
            selector, sockets = open_streams(port, CLIENTS)
            got = drain(selector, 3.0)
            latencies = []
            for _ in range(REQUESTS // 20):
                latencies += metrics_latencies(base, 20)
                got += drain(selector, 0.2)
            loaded = summary(f"/metrics, {CLIENTS} streams", latencies)
            print(f"streams received {got / 1024:.0f} KiB while measuring; "
                  f"p99 ratio loaded/alone {loaded / alone:.2f}x (target: p99 under 100 ms)")
            for sock in sockets:
                sock.close()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)


if __name__ == "__main__":
    main()
