"""`bytedb-exporter demo`: a real SQL workload on a sharded SQLite cluster, monitored live."""
from __future__ import annotations

import functools
import logging
import signal
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
from bytedb_exporter.demo.engine import DemoCluster
from bytedb_exporter.metrics.export import MetricsExporter
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.query.monitor import QueryMonitor
from bytedb_exporter.web.dashboard import Dashboard
from bytedb_exporter.web.server import BackgroundServer
from bytedb_exporter.web.worker_app import create_worker_app

log = logging.getLogger(__name__)


@dataclass
class DemoOptions:
    """Command-line options of the demo."""

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
    worker_base_port: int = 9101


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
        self.workers: dict[str, WorkerMonitor] = {}
        self._threads: list[threading.Thread] = []
        self._worker_servers: list[BackgroundServer] = []

    def start(self, serve: bool = True) -> None:
        """Build the data set, start worker processes, monitors, workload and (unless serve=False,
        when another server such as gunicorn serves `self.dashboard.app`) the dashboard's server."""
        options = self.options
        data_dir = options.data_dir or Path(tempfile.gettempdir()) / "bytedb-exporter-demo"
        self.out(f"Preparing the sharded data set in {data_dir} and starting {options.workers} worker processes...")
        self.cluster = DemoCluster(data_dir, workers=options.workers)
        for index, (worker_id, pid) in enumerate(self.cluster.worker_pids.items()):
            # Each worker has its own registry, as a worker exporter beside a ByteDB node would.
            monitor = WorkerMonitor(worker_id, MetricsRegistry(), pid=pid, data_path=str(data_dir))
            monitor.heartbeat()
            monitor.start_sampling(options.sample_interval)
            self.workers[worker_id] = monitor
            self.dashboard.add_worker_monitor(worker_id, monitor)
            if options.worker_base_port:
                server = BackgroundServer(create_worker_app(monitor), options.host, options.worker_base_port + index)
                self._worker_servers.append(server)
                self.out(f"Worker exporter {worker_id}: {server.url}/metrics")
        self.cluster.set_monitors(self.queries, self.workers, self.coordinator)
        if serve:
            url = self.dashboard.start(options.port, options.host)
            self.out(f"Dashboard:  {url}/")
            self.out(f"Prometheus: {url}/metrics   JSON API: {url}/api/overview, /api/workers, /api/queries ...")
        else:
            self.dashboard.start_stream()
        for client in range(options.concurrency):
            self._spawn(f"bytedb-demo-client-{client}", functools.partial(self._run_workload, client))
        self._spawn("bytedb-demo-heartbeat", self._heartbeats)

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
        (a dead one goes offline)."""
        assert self.cluster is not None
        while not self.stop_event.wait(2.0):
            self.cluster.ping_workers(timeout=1.0)

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
        """Stop the workload, the dashboard, the samplers and every worker process (bounded: ~15 s)."""
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
    finally:
        out("Stopping...")
        demo.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
