"""One coordinator polling 100, 500 and 1000 simulated worker exporters.

Run: python bench/bench_scale.py  (targets: a poll round of 1000 workers within the default 5 s poll
interval, the coordinator's /metrics exposition of 1000 workers within Prometheus' default 10 s
scrape_timeout). A child process (this file with --serve) serves the simulated workers: one asyncio
server per worker on 127.0.0.1, each answering GET /api/worker with a real WorkerMonitor's document
(one psutil sample, taken once). The coordinator side runs in this process, as `serve` does: a
CoordinatorMonitor with one RemoteWorkerMonitor per worker and WorkerPoller.poll on a pool of one thread
per worker (WorkerPoller's own pool size). Figures, each the best of ROUNDS rounds:
- poll round: wall time until every worker's poll has been recorded;
- coordinator CPU per round: process CPU time (all threads) of one round, and that over the 5 s interval
  as a share of one core;
- /metrics: generate_latest of the coordinator's registry, i.e. the body `/metrics` serves, and its series.
"""
from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import report
from prometheus_client import generate_latest

from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.remote import RemoteWorkerMonitor, WorkerPoller
from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.metrics.registry import MetricsRegistry

SIZES = (100, 500, 1000)
ROUNDS = 5
POLL_INTERVAL = 5.0  # the config's default poll.interval_seconds
SCRAPE_TIMEOUT = 10.0  # Prometheus' default scrape_timeout


def documents(count: int) -> list[bytes]:
    """/api/worker bodies of `count` real worker monitors (worker-1..worker-N)."""
    bodies = []
    for index in range(count):
        monitor = WorkerMonitor(f"worker-{index + 1}", data_path=None)
        monitor.update_resource_metrics()
        bodies.append(json.dumps(monitor.get_worker_stats().to_dict()).encode())
    return bodies


async def serve(count: int) -> None:
    """Serve `count` simulated worker exporters on 127.0.0.1; print their ports, run until stdin closes."""
    bodies = documents(count)

    def handler(body: bytes):
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while (await reader.readuntil(b"\r\n\r\n")):
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                                 + str(len(body)).encode() + b"\r\n\r\n" + body)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()
        return answer

    servers = [await asyncio.start_server(handler(body), "127.0.0.1", 0, backlog=64) for body in bodies]
    print(json.dumps([s.sockets[0].getsockname()[1] for s in servers]), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def measure(count: int) -> dict:
    """Poll round, CPU per round and /metrics figures of one coordinator over `count` simulated workers."""
    child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", str(count)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        ports = json.loads(child.stdout.readline())
        registry = MetricsRegistry()
        coordinator = CoordinatorMonitor(registry)
        monitors = [RemoteWorkerMonitor(f"worker-{i + 1}", f"http://127.0.0.1:{port}", registry)
                    for i, port in enumerate(ports)]
        for monitor in monitors:
            coordinator.register_worker(monitor.worker_id, monitor)
        poller = WorkerPoller(monitors, interval=POLL_INTERVAL, timeout=2.0)
        walls, cpus = [], []
        with ThreadPoolExecutor(max_workers=count) as pool:
            for _ in range(ROUNDS + 1):  # the first round warms the pool's threads up
                cpu, wall = time.process_time(), time.perf_counter()
                list(pool.map(poller.poll, monitors))
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
        answered = sum(m.vitals().status != "offline" for m in monitors)
        assert answered == count, f"only {answered} of {count} simulated workers answered"
        scrapes = []
        for _ in range(ROUNDS):
            began = time.perf_counter()
            body = generate_latest(registry.collector_registry)
            scrapes.append(time.perf_counter() - began)
        series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        return {"round": min(walls[1:]), "cpu": min(cpus[1:]), "metrics": min(scrapes), "series": series,
                "bytes": len(body)}
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=30)


def main() -> None:
    logging.disable(logging.WARNING)
    print(f"{'workers':>8} {'poll round':>11} {'CPU/round':>10} {'CPU share':>10} {'/metrics':>9} "
          f"{'series':>7} {'bytes':>9}")
    results = {}
    for count in SIZES:
        r = results[count] = measure(count)
        print(f"{count:>8} {r['round'] * 1000:>9.0f}ms {r['cpu'] * 1000:>8.0f}ms "
              f"{100 * r['cpu'] / POLL_INTERVAL:>9.1f}% {r['metrics'] * 1000:>7.0f}ms {r['series']:>7} "
              f"{r['bytes']:>9}", flush=True)
    top = results[SIZES[-1]]
    report.check(f"scale: poll round of {SIZES[-1]} workers", top["round"], POLL_INTERVAL, unit="s",
                 detail="within the default poll interval")
    report.check(f"scale: coordinator /metrics of {SIZES[-1]} workers", top["metrics"], SCRAPE_TIMEOUT, unit="s",
                 detail="within Prometheus' default scrape_timeout")
    report.check(f"scale: coordinator CPU share at {SIZES[-1]} workers", 100 * top["cpu"] / POLL_INTERVAL, 50.0,
                 unit="%", detail="of one core, polling every 5 s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        asyncio.run(serve(int(sys.argv[2])))
    else:
        main()
