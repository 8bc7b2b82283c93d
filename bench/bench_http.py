"""/metrics over HTTP against a minimal prometheus_client exporter, and /healthz during a 1000-worker scrape.

Run: python bench/bench_http.py
1. The exporter under the shipped gunicorn config (demo cluster of 3 workers at 0.01 QPS, i.e. no workload to
   speak of) and bench/minimal_exporter.py (Flask + `make_wsgi_app()`, gunicorn gthread, 1 worker, 8 threads)
   serving the same series (every sample of the exporter's /metrics as a plain labeled gauge). CLIENTS
   keep-alive clients (http.client in threads, Accept-Encoding: gzip as Prometheus sends) drive one app for
   SECONDS, then the other, ROUNDS times after a warm-up; best round of each. Targets: req/s >= 1.0x, p99
   <= 1.0x, bytes per response <= 1.0x of the minimal app (gzip), and the uncompressed body <= 1.0x of
   `generate_latest` of the same series.
   Also idle CPU (the gunicorn worker process itself, no request and no stream client, over IDLE_SECONDS)
   of the exporter alone (target < 0.5 % of a core) and, printed beside it, with the demo cluster inside
   (its workers' 1 s psutil sampling and 2 s heartbeats).
2. In process (werkzeug threaded server): an app with 1000 worker monitors; /healthz p99 alone and while
   clients scrape /metrics back to back (the exposition cache off, so every scrape builds). Target: /healthz
   p99 during scrapes <= 0.5x one scrape's duration,
   with the GIL switch interval the gunicorn config sets (a scrape does not stall other requests while it runs).
"""
from __future__ import annotations

import http.client
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import report
from bench_collectors import build_cluster
from bench_stream import free_port, wait_ready
from minimal_exporter import registry_of
from prometheus_client import generate_latest

from bytedb_exporter.gunicorn_conf import SWITCH_INTERVAL
from bytedb_exporter.web.app import create_app
from bytedb_exporter.web.server import BackgroundServer

CLIENTS = 8
SECONDS = 4.0
ROUNDS = 3
IDLE_SECONDS = 20.0
HEADERS = {"Accept-Encoding": "gzip"}
HERE = Path(__file__).resolve().parent


def drive(port: int, path: str, seconds: float, clients: int) -> tuple[float, float, float]:
    """req/s, p99 seconds and mean response bytes of `clients` keep-alive clients GETting `path` for `seconds`."""
    latencies: list[float] = []
    sizes: list[int] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, sized = [], []
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            connection.request("GET", path, headers=HEADERS)
            response = connection.getresponse()
            body = response.read()
            mine.append(time.perf_counter() - started)
            sized.append(len(body))
        connection.close()
        with lock:
            latencies.extend(mine)
            sizes.extend(sized)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return len(ordered) / elapsed, ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], sum(sizes) / len(sizes)


def idle_cpu_percent(process: psutil.Process, seconds: float) -> float:
    """Percent of one core `process` (itself, not its children) used over `seconds` with nothing asked of it."""
    before = process.cpu_times()
    time.sleep(seconds)
    after = process.cpu_times()
    return 100 * ((after.user - before.user) + (after.system - before.system)) / seconds


def idle_exporter_percent() -> float:
    """Idle CPU of the exporter alone (no demo) under the shipped gunicorn config."""
    port = free_port()
    env = {**os.environ, "BYTEDB_EXPORTER_BIND": f"127.0.0.1:{port}"}
    env.pop("BYTEDB_EXPORTER_DEMO_WORKERS", None)
    server = start([str(Path(sys.executable).parent / "gunicorn"), "-c", "python:bytedb_exporter.gunicorn_conf",
                    "bytedb_exporter.wsgi:app"], env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                plain_get(port, "/metrics")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.3)
        time.sleep(2)
        return idle_cpu_percent(psutil.Process(server.pid).children()[0], IDLE_SECONDS)
    finally:
        stop(server)


def plain_get(port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    body = connection.getresponse().read()
    connection.close()
    return body


def start(command: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(30)


def versus_minimal() -> None:
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    ours_port, minimal_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BYTEDB_EXPORTER_BIND": f"127.0.0.1:{ours_port}", "BYTEDB_EXPORTER_DEMO_WORKERS": "3",
               "BYTEDB_EXPORTER_DEMO_QPS": "0.01", "TMPDIR": tmp}
        ours = start([gunicorn, "-c", "python:bytedb_exporter.gunicorn_conf", "bytedb_exporter.wsgi:app"], env)
        minimal = None
        try:
            wait_ready(f"http://127.0.0.1:{ours_port}")
            time.sleep(3)  # every worker has sampled once
            demo_idle = idle_cpu_percent(psutil.Process(ours.pid).children()[0], IDLE_SECONDS)
            text = plain_get(ours_port, "/metrics").decode()
            series_file = Path(tmp) / "series.txt"
            series_file.write_text(text)
            plain = generate_latest(registry_of(text))
            series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
            minimal = start([gunicorn, "-k", "gthread", "--threads", "8", "-w", "1", "-b",
                             f"127.0.0.1:{minimal_port}", "minimal_exporter:create()"],
                            {**os.environ, "BENCH_SERIES_FILE": str(series_file)}, cwd=HERE)
            deadline = time.monotonic() + 30
            while True:
                try:
                    plain_get(minimal_port, "/healthz")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the minimal exporter did not start") from None
                    time.sleep(0.3)
            for port in (ours_port, minimal_port):  # warm-up: imports, caches, connection paths
                drive(port, "/metrics", 2.0, CLIENTS)
            rounds: dict[str, list[tuple[float, float, float]]] = {"ours": [], "minimal": []}
            for _ in range(ROUNDS):
                for name, port in (("ours", ours_port), ("minimal", minimal_port)):
                    rounds[name].append(drive(port, "/metrics", SECONDS, CLIENTS))
            body = plain_get(ours_port, "/metrics")
        finally:
            stop(ours)
            if minimal is not None:
                stop(minimal)
    best = {name: (max(r[0] for r in runs), min(r[1] for r in runs), min(r[2] for r in runs))
            for name, runs in rounds.items()}
    for name, (rps, p99, size) in best.items():
        print(f"{name:<8} {series} series  {rps:7.1f} req/s  p99 {p99 * 1000:6.1f} ms  {size:8.0f} bytes (gzip)")
    (rps, p99, size), (base_rps, base_p99, base_size) = best["ours"], best["minimal"]
    idle = idle_exporter_percent()
    report.check("idle exporter CPU, no request or stream client", idle, 0.5, unit="%",
                 detail=f"gunicorn worker over {IDLE_SECONDS:g} s; with the demo cluster in it {demo_idle:.2f} %")
    report.check("/metrics req/s vs minimal make_wsgi_app", rps / base_rps, 1.0, at_least=True,
                 detail=f"{rps:.0f} vs {base_rps:.0f} req/s, {series} series, {CLIENTS} clients")
    report.check("/metrics p99 vs minimal make_wsgi_app", p99 / base_p99, 1.0,
                 detail=f"{p99 * 1000:.1f} vs {base_p99 * 1000:.1f} ms")
    report.check("/metrics bytes vs minimal make_wsgi_app (gzip)", size / base_size, 1.0,
                 detail=f"{size:.0f} vs {base_size:.0f} bytes")
    report.check("/metrics text bytes vs generate_latest", len(body) / len(plain), 1.0,
                 detail=f"{len(body)} vs {len(plain)} bytes")


def healthz_during_scrapes(workers: int = 1000) -> None:
    sys.setswitchinterval(SWITCH_INTERVAL)  # what the shipped gunicorn config sets in its worker
    app = create_app(build_cluster(workers), start_stream=False, scrape_cache_seconds=0)
    server = BackgroundServer(app, "127.0.0.1", 0)
    port = int(server.url.rsplit(":", 1)[1])
    try:
        plain_get(port, "/metrics")
        scrape_seconds = min(timed(lambda: plain_get(port, "/metrics")) for _ in range(3))
        alone = healthz_p99(port, 100)
        stop_event = threading.Event()

        def scraper() -> None:
            while not stop_event.is_set():
                plain_get(port, "/metrics")

        scrapers = [threading.Thread(target=scraper) for _ in range(2)]
        for thread in scrapers:
            thread.start()
        time.sleep(0.2)
        during = healthz_p99(port, 100)
        stop_event.set()
        for thread in scrapers:
            thread.join()
    finally:
        server.stop()
    print(f"{workers} workers: one scrape {scrape_seconds * 1000:.0f} ms; /healthz p99 alone {alone * 1000:.1f} ms, "
          f"during back-to-back scrapes {during * 1000:.1f} ms")
    report.check(f"/healthz p99 during {workers}-worker scrapes / scrape time", during / scrape_seconds, 0.5,
                 detail=f"{during * 1000:.1f} ms vs {scrape_seconds * 1000:.0f} ms; alone {alone * 1000:.1f} ms")


def timed(func) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def healthz_p99(port: int, count: int) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        latencies.append(time.perf_counter() - started)
        time.sleep(0.01)
    connection.close()
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    versus_minimal()
    healthz_during_scrapes()


if __name__ == "__main__":
    main()
