"""`bytedb-exporter demo`: a real SQL workload on a sharded SQLite cluster, monitored live."""
from __future__ import annotations

import errno
import functools
import logging
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.profiler import PerformanceProfiler
from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.demo import workload
from bytedb_exporter.demo.engine import DemoCluster, worker_names
from bytedb_exporter.metrics.export import MetricsExporter
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.query.monitor import QueryMonitor
from bytedb_exporter.web.dashboard import Dashboard
from bytedb_exporter.web.discovery import exporter_directory
from bytedb_exporter.web.server import BackgroundServer
from bytedb_exporter.web.worker_app import create_worker_app

log = logging.getLogger(__name__)
DEFAULT_WORKER_BASE_PORT = 9101


class DemoError(Exception):
    """The demo cannot start as asked (e.g. a port in use); the message names the option to change."""


@dataclass
class DemoOptions:
    """Command-line options of the demo (`free_worker_ports`: take free ports when the worker ports are in use;
    `skew_worker` N, 1-based: the N-th worker runs every uncached fragment `skew_factor` times)."""

    port: int = 8091
    host: str = "127.0.0.1"
    workers: int = 3
    qps: float = 20.0
    concurrency: int = 4
    duration: float | None = None
    data_dir: Path | None = None
    stream_interval: float = 2.0
    sample_interval: float = 1.0
    profile_seconds: float = 10.0
    worker_base_port: int = DEFAULT_WORKER_BASE_PORT
    free_worker_ports: bool = False
    skew_worker: int | None = None
    skew_factor: int = 3
    restart_workers_after: float | None = None
    burst_every: int = 20  # every 20th distributed query, one fragment in turn runs burst_factor times
    burst_factor: int = 4


def work_factors(options: DemoOptions, worker_ids: list[str]) -> dict[str, int]:
    """Worker id -> work factor of the skew options (empty without skew); DemoError when out of range."""
    if options.skew_worker is None:
        return {}
    if not 1 <= options.skew_worker <= len(worker_ids):
        raise DemoError(f"--skew-worker {options.skew_worker}: expected 1..{len(worker_ids)} (one of --workers)")
    if options.skew_factor < 1:
        raise DemoError(f"--skew-factor {options.skew_factor}: expected at least 1")
    return {worker_ids[options.skew_worker - 1]: options.skew_factor}


def port_in_use(host: str, port: int) -> bool:
    """Whether (host, port) cannot be bound now the way the HTTP server binds it (SO_REUSEADDR)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return True
        raise DemoError(f"cannot listen on {host}:{port}: {error} (check --host)") from None
    return False


def worker_ports(options: DemoOptions, serve: bool, out: Callable[[str], None]) -> list[int]:
    """Ports of the worker exporters (0: the OS picks a free one), checked before anything is built."""
    o = options
    if serve and o.port and port_in_use(o.host, o.port):
        raise DemoError(f"dashboard port {o.port} on {o.host} is in use: pass a free --port")
    if not o.worker_base_port:
        return []
    wanted = [o.worker_base_port + index for index in range(o.workers)]
    span = (f"--worker-base-port {o.worker_base_port} serves worker-1..worker-{o.workers} "
            f"on ports {wanted[0]}-{wanted[-1]}")
    if wanted[-1] > 65535:
        raise DemoError(f"{span}, beyond 65535: pass a lower --worker-base-port")
    if serve and o.port in wanted:
        raise DemoError(f"{span}, and the dashboard's --port {o.port} is one of them: pass another --port "
                        f"or --worker-base-port")
    taken = [port for port in wanted if port_in_use(o.host, port)]
    if not taken:
        return wanted
    busy = ", ".join(str(port) for port in taken)
    if not o.free_worker_ports:
        raise DemoError(f"{span}, but port(s) {busy} on {o.host} are in use: pass a free --worker-base-port "
                        f"(or --worker-base-port 0 to turn the worker exporters off)")
    out(f"Worker exporter port(s) {busy} in use: the worker exporters take free ports instead "
        f"(listed below; pass --worker-base-port to choose)")
    return [0] * o.workers


class Demo:
    """Wires the demo cluster to the monitors and the dashboard; `run()` blocks until stopped."""

    def __init__(self, options: DemoOptions, out: Callable[[str], None]):
        self.options = options
        self.out = out
        self.stop_event = threading.Event()
        registry = MetricsRegistry()
        self.queries = QueryMonitor(registry)
        self.coordinator = CoordinatorMonitor(registry)
        self.dashboard = Dashboard(self.coordinator, self.queries, stream_interval=options.stream_interval)
        self.registry = registry
        self.cluster: DemoCluster | None = None
        self.data_dir: Path | None = options.data_dir
        self._own_data_dir = False
        self.workers: dict[str, WorkerMonitor] = {}
        self._threads: list[threading.Thread] = []
        self._worker_servers: list[BackgroundServer] = []

    def start(self, serve: bool = True) -> None:
        """Check the ports, build the data set (in a directory of this demo's own unless --data-dir),
        start worker processes, monitors, workload and (unless serve=False, when another server such
        as gunicorn serves `self.dashboard.app`) the dashboard's server. DemoError when a port is taken."""
        options = self.options
        ports = worker_ports(options, serve, self.out)
        factors = work_factors(options, worker_names(options.workers))
        if self.data_dir is None:
            self.data_dir, self._own_data_dir = Path(tempfile.mkdtemp(prefix="bytedb-exporter-demo-")), True
        data_dir = self.data_dir
        self.out(f"Preparing the sharded data set in {data_dir} and starting {options.workers} worker processes...")
        self.cluster = DemoCluster(data_dir, workers=options.workers, work_factors=factors,
                                   burst_every=options.burst_every, burst_factor=options.burst_factor)
        for worker_id, factor in factors.items():
            self.out(f"Skew: {worker_id} runs every uncached fragment {factor} times")
        for index, worker_id in enumerate(self.cluster.worker_ids):
            # Each worker has its own registry, as a worker exporter beside a ByteDB node would; the
            # monitor follows the worker's current process (a dead one is offline until restarted).
            monitor = WorkerMonitor(worker_id, MetricsRegistry(), data_path=str(data_dir),
                                    pid_provider=functools.partial(self._worker_pid, worker_id))
            monitor.heartbeat()
            monitor.start_sampling(options.sample_interval)
            self.workers[worker_id] = monitor
            self.dashboard.add_worker_monitor(worker_id, monitor)
            if ports:
                server = self._serve_worker(monitor, ports[index])
                self._worker_servers.append(server)
                exporter_directory(self.dashboard.app).add(worker_id, server.url)
        self.cluster.set_monitors(self.queries, self.workers, self.coordinator)
        if serve:
            try:
                url = self.dashboard.start(options.port, options.host)
            except OSError as error:
                raise DemoError(f"dashboard port {options.port} on {options.host}: {error}: "
                                f"pass a free --port") from None
            self.out(f"Dashboard:  {url}/")
            self.out(f"Prometheus: {url}/metrics   JSON API: {url}/api/overview, /api/workers, /api/queries ...")
        else:
            self.dashboard.start_stream()
        for client in range(options.concurrency):
            self._spawn(f"bytedb-demo-client-{client}", functools.partial(self._run_workload, client))
        self._spawn("bytedb-demo-heartbeat", self._heartbeats)

    def _worker_pid(self, worker_id: str) -> int | None:
        """The pid of a worker's process (None before the cluster exists)."""
        return self.cluster.worker_pids[worker_id] if self.cluster is not None else None

    def _serve_worker(self, monitor: WorkerMonitor, port: int) -> BackgroundServer:
        """Start one worker exporter on `port` (0: a free one) and print where it is."""
        try:
            server = BackgroundServer(create_worker_app(monitor), self.options.host, port)
        except OSError as error:
            raise DemoError(f"worker exporter of {monitor.worker_id} on {self.options.host}:{port}: {error}: "
                            f"pass a free --worker-base-port (0 turns the worker exporters off)") from None
        self.out(f"Worker exporter {monitor.worker_id}: {server.url}/metrics")
        return server

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _run_workload(self, seed: int) -> None:
        """One client session; the sessions together aim at the target QPS."""
        assert self.cluster is not None
        workload.run(self.cluster, self.options.qps / self.options.concurrency, stop_event=self.stop_event,
                     seed=seed)

    def _heartbeats(self) -> None:
        """Ping every worker process; the cluster heartbeats the monitors of those that answer
        (a dead one goes offline, and is restarted after --restart-workers seconds when given)."""
        assert self.cluster is not None
        dead_since: float | None = None
        while not self.stop_event.wait(2.0):
            self.cluster.ping_workers(timeout=1.0)
            after = self.options.restart_workers_after
            if after is None:
                continue
            dead = [wid for wid, w in self.cluster.workers.items() if w.pid is not None and not w.is_alive()]
            dead_since = None if not dead else dead_since or time.monotonic()
            if dead_since is not None and time.monotonic() - dead_since >= after:
                self.out(f"Restarting dead worker process(es): {', '.join(self.cluster.restart_dead_workers())}")
                dead_since = None

    def profile_and_export(self) -> None:
        """The description's other demo steps: a profiling session and the two metric exports."""
        profiler = PerformanceProfiler(self.queries)
        profiler.start_profile("demo-session")
        if self.stop_event.wait(self.options.profile_seconds):
            profiler.stop_profile("demo-session")
            return
        summary = profiler.stop_profile("demo-session").summary
        self.out(f"Profile ({self.options.profile_seconds:.0f} s): {summary.total_queries} queries, "
                 f"{summary.throughput_qps:.1f} QPS, average {summary.average_latency.total_seconds() * 1000:.1f} ms, "
                 f"p95 {summary.p95_latency.total_seconds() * 1000:.1f} ms, errors {summary.error_rate:.1f}%, "
                 f"CPU {summary.resource_usage.get('average_cpu_percent', 0.0):.0f}%")
        exporter = MetricsExporter(self.registry)
        self.out(f"Exports: Prometheus text {len(exporter.export_prometheus_metrics())} bytes, "
                 f"JSON {len(exporter.export_json_metrics())} bytes")

    def progress(self) -> str:
        """One line of measured figures."""
        stats = self.queries.get_query_stats()
        health = self.coordinator.get_cluster_health()
        p95 = self.queries.duration_stats()["p95"]
        return (f"queries {stats.total_queries} (failed {stats.failed_queries}), {stats.throughput_qps:.1f} QPS, "
                f"p95 {'-' if p95 is None else f'{p95 * 1000:.0f} ms'}, cluster {health.status} "
                f"({health.healthy_workers}/{health.total_workers} workers healthy)")

    def run(self) -> None:
        """Until the duration ends or stop() is called: print progress every 5 s."""
        started = time.monotonic()
        self._spawn("bytedb-demo-profile", self.profile_and_export)
        while not self.stop_event.wait(5.0):
            self.out(self.progress())
            if self.options.duration is not None and time.monotonic() - started >= self.options.duration:
                break

    def stop(self) -> None:
        """Stop the workload, the dashboard, the samplers, every worker process (bounded: ~15 s) and
        remove the data directory the demo made for itself."""
        self.stop_event.set()
        self.dashboard.stop()
        for server in self._worker_servers:
            server.stop()
        for monitor in self.workers.values():
            monitor.close()
        if self.cluster is not None:
            self.cluster.close()  # queries in flight fail fast instead of running to the end
        deadline = time.monotonic() + 10
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if self._own_data_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def run_demo(options: DemoOptions, stream: TextIO) -> int:
    """Run the demo until Ctrl-C, SIGTERM or the duration; every child process is stopped."""
    def out(line: str) -> None:
        print(line, file=stream, flush=True)

    demo = Demo(options, out)

    def on_signal(signum: int, _frame: object) -> None:
        demo.stop_event.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        demo.start()
        demo.run()
    except DemoError as error:
        print(f"bytedb-exporter demo: {error}", file=sys.stderr, flush=True)
        return 2
    finally:
        out("Stopping...")
        demo.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
