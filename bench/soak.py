"""Soak: the demo (3 workers) and a serve-mode coordinator with ingest, both under gunicorn (shipped config),
with ~50 open streams (some reopened every 10 s), a scrape of each every second and a stream of event batches
into the coordinator; the RSS of each gunicorn worker must stay within 10 % of its level after warm-up.

Run: make soak   (10 minutes; SOAK_SECONDS=120 python bench/soak.py for a short run; SOAK_QPS for the demo's
workload, default 20). Exit 0 when both RSS stay flat, no request got a 5xx or failed, and no stream was lost.
Warm-up is the first quarter of the run; the baseline is the median RSS of the next tenth; "flat" means
every later sample is at most 10 % above it.
"""
from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import psutil

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
QPS = os.environ.get("SOAK_QPS", "20")
STREAMS = {"demo": 40, "serve": 10}  # ~50 open streams in all
CHURN = 0.1  # share of each server's streams closed and reopened every 10 s
TOKEN = "soak-token"
LIMIT = 0.10
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """(status, body) of one request; HTTP errors are answers, network errors status 0."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers or {}), timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


class Server:
    """One gunicorn (shipped config) with its log, its worker process and what was seen of it."""

    def __init__(self, name: str, env: dict[str, str], folder: Path):
        self.name, self.port = name, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"{name}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [GUNICORN, "-c", "python:bytedb_exporter.gunicorn_conf", "bytedb_exporter.wsgi:app"],
                stdout=log, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True,
                env={**os.environ, "TMPDIR": str(folder), "BYTEDB_EXPORTER_BIND": f"127.0.0.1:{self.port}", **env})
        self.statuses: Counter[str] = Counter()
        self.rss: list[tuple[float, int]] = []
        self.threads: list[int] = []

    def wait_ready(self, path: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while request(self.base + path, headers={"Authorization": f"Bearer {TOKEN}"})[0] != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{self.name} did not start; see {self.log}")
            time.sleep(0.5)

    def worker(self) -> psutil.Process:
        """The gunicorn worker (the master's only child; the demo's SQLite workers are its children)."""
        children = psutil.Process(self.process.pid).children()
        if len(children) != 1:
            raise SystemExit(f"{self.name}: expected one gunicorn worker, found {len(children)}")
        return children[0]

    def stop(self) -> int | None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return None


class Streams:
    """Long-lived /api/stream clients (HTTP/1.0, so the body is the raw event stream), read by one thread."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.events: Counter[str] = Counter()
        self.lost: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.open: dict[str, list[socket.socket]] = {}

    def connect(self, server: Server) -> None:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(f"GET /api/stream HTTP/1.0\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
        sock.setblocking(False)
        with self.lock:
            self.selector.register(sock, selectors.EVENT_READ, [server.name, b"", False])
            self.open.setdefault(server.name, []).append(sock)

    def close_some(self, server: Server, count: int) -> None:
        with self.lock:
            victims, self.open[server.name] = self.open[server.name][:count], self.open[server.name][count:]
            for sock in victims:
                self.selector.unregister(sock)
                sock.close()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            with self.lock:
                ready = self.selector.select(timeout=0.5) if self.selector.get_map() else []
                for key, _ in ready:
                    if isinstance(key.fileobj, socket.socket):
                        self._read(key.fileobj, key.data)

    def _read(self, sock: socket.socket, state: list) -> None:
        name, buffer, started = state
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return
        if not chunk:  # the server closed a stream we did not close
            (self.lost if started else self.refused)[name] += 1
            self.selector.unregister(sock)
            self.open[name].remove(sock)
            sock.close()
            return
        buffer += chunk
        if not started and b"\r\n\r\n" in buffer:
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            started = head.split(b" ", 2)[1] == b"200"
        *blocks, buffer = buffer.split(b"\n\n")
        self.events[name] += sum(1 for block in blocks if b"data: " in block)
        state[1:] = [buffer, started]


def every(seconds: float, stop: threading.Event, action) -> None:
    """Call action() every `seconds` until stop is set."""
    next_at = time.monotonic()
    while not stop.is_set():
        action()
        next_at += seconds
        stop.wait(max(0.0, next_at - time.monotonic()))


def scrape(servers: list[Server], latencies: list[float]) -> None:
    """One scrape of /metrics (as Prometheus does) and of the dashboard's JSON, on each server."""
    for server in servers:
        for path in ("/metrics", "/api/overview"):
            started = time.perf_counter()
            status, _ = request(server.base + path, headers={"Authorization": f"Bearer {TOKEN}"})
            if path == "/metrics":
                latencies.append(time.perf_counter() - started)
            server.statuses[f"GET {path} {status}"] += 1


class Poster:
    """Event batches into the serve-mode coordinator: 5 queries and 3 workers' events, every 50th batch bad."""

    def __init__(self, server: Server):
        self.server, self.batches, self.events = server, 0, 0

    def post(self) -> None:
        self.batches += 1
        batch: list[dict] = []
        for i in range(5):
            qid = f"q{self.batches}-{i}"
            batch.append({"type": "query_start", "query_id": qid, "workers": 3, "fragments": 3,
                          "sql": f"SELECT region, sum(amount) FROM sales WHERE day = {i} GROUP BY region"})
            batch.append({"type": "query_end", "query_id": qid, "duration_ms": 5.0 + i, "rows": 100 * i,
                          "bytes": 4096, "phases": {"planning_ms": 1.0, "execution_ms": 3.0 + i}})
        for w in ("worker-1", "worker-2", "worker-3"):
            fid = f"f{self.batches}-{w}"
            batch += [{"type": "worker_query_start", "worker_id": w, "query_id": fid},
                      {"type": "worker_query_end", "worker_id": w, "query_id": fid, "rows": 10, "bytes": 512},
                      {"type": "cache_hit", "worker_id": w, "count": 2},
                      {"type": "network", "worker_id": w, "bytes_received": 512, "bytes_sent": 2048, "latency_ms": 0.4},
                      {"type": "heartbeat", "worker_id": w}]
        if self.batches % 50 == 0:
            batch.append({"type": "query_end", "query_id": "never-started"})  # refuses the whole batch: 400
        status, _ = request(f"{self.server.base}/api/v1/events", json.dumps(batch).encode(),
                            {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
        self.server.statuses[f"POST /api/v1/events {status}"] += 1
        self.events += len(batch) if status == 200 else 0


def sample(servers: list[Server], started: float) -> None:
    for server in servers:
        worker = server.worker()
        server.rss.append((time.monotonic() - started, worker.memory_info().rss))
        server.threads.append(worker.num_threads())


def flatness(server: Server) -> tuple[float, float, float, float]:
    """(baseline MB, last MB, max MB after warm-up, growth of the max over the baseline in %)."""
    warm, window = SECONDS * 0.25, SECONDS * 0.10
    after = [rss for at, rss in server.rss if at >= warm]
    baseline = statistics.median([rss for at, rss in server.rss if warm <= at < warm + window] or after[:1])
    mb = 1024 * 1024
    return baseline / mb, after[-1] / mb, max(after) / mb, 100.0 * (max(after) - baseline) / baseline


def settled_clients(servers: list[Server], still_open: dict[str, int], timeout: float = 20) -> dict[str, int]:
    """Each server's stream client count, once it equals what is open or after `timeout` s (a server notices
    a closed stream only when a write to it fails: at the second event or keepalive after the close)."""
    deadline = time.monotonic() + timeout
    while True:
        clients = {s.name: json.loads(request(s.base + "/healthz")[1])["stream_clients"] for s in servers}
        if clients == {s.name: still_open.get(s.name, 0) for s in servers} or time.monotonic() > deadline:
            return clients
        time.sleep(1)


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="bytedb-soak-"))
    config = folder / "coordinator.yml"
    config.write_text(json.dumps({"role": "coordinator", "node_id": "soak", "ingest": {"enabled": True},
                                  "auth": {"bearer_token": TOKEN}}))  # JSON is YAML
    demo = Server("demo", {"BYTEDB_EXPORTER_DEMO_WORKERS": "3", "BYTEDB_EXPORTER_DEMO_QPS": QPS}, folder)
    serve = Server("serve", {"BYTEDB_EXPORTER_CONFIG": str(config)}, folder)
    servers, streams, latencies, poster = [demo, serve], Streams(), [], Poster(serve)
    stop, threads = threading.Event(), []
    print(f"soak for {SECONDS:.0f} s in {folder}: demo (3 workers, {QPS} QPS) and a serve-mode coordinator")
    try:
        demo.wait_ready("/api/overview")
        serve.wait_ready("/api/overview")
        for server in servers:
            for _ in range(STREAMS[server.name]):
                streams.connect(server)
        started = time.monotonic()

        def churn() -> None:
            for server in servers:
                count = max(1, int(STREAMS[server.name] * CHURN))
                streams.close_some(server, count)
                for _ in range(count):
                    streams.connect(server)

        for seconds, action in ((1.0, lambda: scrape(servers, latencies)), (0.2, poster.post),
                                (2.0, lambda: sample(servers, started)), (10.0, churn)):
            threads.append(threading.Thread(target=every, args=(seconds, stop, action), daemon=True))
        threads.append(threading.Thread(target=streams.run, args=(stop,), daemon=True))
        for thread in threads:
            thread.start()
        while time.monotonic() - started < SECONDS:
            time.sleep(1)
            if any(server.process.poll() is not None for server in servers):
                raise SystemExit("a gunicorn exited during the soak")
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        still_open = {name: len(socks) for name, socks in streams.open.items()}
        clients = settled_clients(servers, still_open)
    finally:
        stop.set()
        codes = {server.name: server.stop() for server in servers}
    passed = report(servers, streams, latencies, poster, clients, still_open, codes)
    if passed == 0:
        shutil.rmtree(folder, ignore_errors=True)  # kept, with the logs, when the soak fails
    return passed


def report(servers: list[Server], streams: Streams, latencies: list[float], poster: Poster,
           clients: dict[str, int], still_open: dict[str, int], codes: dict[str, int | None]) -> int:
    ok = True
    ms = sorted(1000 * x for x in latencies)
    print(f"scrapes of /metrics: {len(ms)}, p50 {ms[len(ms) // 2]:.1f} ms, p99 {ms[int(len(ms) * 0.99)]:.1f} ms")
    print(f"ingest: {poster.batches} batches, {poster.events} events applied")
    for server in servers:
        baseline, last, peak, growth = flatness(server)
        flat = growth <= 100 * LIMIT
        failed = {k: n for k, n in server.statuses.items() if not k.endswith((" 200", " 400"))}
        tracebacks = server.log.read_text(errors="replace").count("Traceback")
        lost = streams.lost[server.name] + streams.refused[server.name]
        print(f"{server.name}: RSS after warm-up {baseline:.1f} MB, at the end {last:.1f} MB, max {peak:.1f} MB "
              f"(+{growth:.1f} %, limit {100 * LIMIT:.0f} %) {'flat' if flat else 'GROWING'}; "
              f"{len(server.rss)} samples; threads {server.threads[0]} -> {server.threads[-1]}")
        trace = server.rss[:: max(1, len(server.rss) // 10)]
        print("  RSS over time: " + ", ".join(f"{at:.0f} s {rss / 1024 / 1024:.1f} MB" for at, rss in trace))
        print(f"  requests {dict(sorted(server.statuses.items()))}; other answers {failed or 'none'}")
        print(f"  streams: {streams.events[server.name]} events read, {still_open.get(server.name, 0)} open at the "
              f"end (server counts {clients[server.name]}), {streams.lost[server.name]} lost, "
              f"{streams.refused[server.name]} refused; tracebacks in the log {tracebacks}; "
              f"exit on SIGTERM {codes[server.name]}")
        leaked = clients[server.name] != still_open.get(server.name, 0)
        ok = ok and flat and not failed and not tracebacks and not lost and not leaked and codes[server.name] == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
