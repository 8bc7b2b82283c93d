"""`bytedb-exporter serve`: a coordinator or worker exporter built from a Config, started and stopped cleanly."""
from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from flask import Flask

from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.remote import RemoteWorkerMonitor, WorkerPoller
from bytedb_exporter.cluster.sampling import PidProvider, ResourceSample, pid_file_provider, process_name_provider
from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.config.loader import Config
from bytedb_exporter.ingest.apply import EventApplier
from bytedb_exporter.ingest.events import IngestContext
from bytedb_exporter.ingest.service import IngestService
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.prometheus.io_collector import ProcessIOCollector
from bytedb_exporter.query.monitor import QueryMonitor
from bytedb_exporter.query.slowlog import SlowQueryLog
from bytedb_exporter.query.slowstore import RESULTS as STORE_RESULTS
from bytedb_exporter.query.slowstore import SlowQueryStore
from bytedb_exporter.web.app import create_app
from bytedb_exporter.web.discovery import exporter_directory
from bytedb_exporter.web.server import BackgroundServer
from bytedb_exporter.web.worker_app import create_worker_app

log = logging.getLogger(__name__)


class ProcessWatch:
    """What a serve-mode worker does with each sample of its watched process: a successful sample is
    the worker's heartbeat and feeds the IO counters; the process leaving or coming back is logged.

    While the process is gone the worker is offline for "process exited (pid N)" (rules.health.worker_health
    puts that before the heartbeat), so the reason does not turn into "no heartbeat" after offline_after_seconds.
    """

    def __init__(self, monitor: WorkerMonitor, io: ProcessIOCollector, interval: float):
        self.monitor, self.io, self.interval = monitor, io, interval
        self._last_status = "not_sampled"

    def sample_once(self) -> ResourceSample:
        """Sample now and observe the result."""
        sample = self.monitor.update_resource_metrics()
        self.observe(sample)
        return sample

    def observe(self, sample: ResourceSample) -> None:
        """Heartbeat when the process was read, log when it goes away or comes back."""
        if sample.ok:
            self.monitor.heartbeat()
            self.io.sample = sample
        if sample.status != self._last_status:
            level = logging.INFO if sample.ok else logging.WARNING
            log.log(level, "worker %s: watched process %s (pid %s)", self.monitor.worker_id, sample.status, sample.pid)
            self._last_status = sample.status

    def start(self) -> None:
        """Sample in the worker monitor's sampling thread."""
        self.monitor.start_sampling(self.interval, on_sample=self.observe)

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self.monitor.stop_sampling()


class Service:
    """The monitors, background threads and Flask app of one serve-mode exporter."""

    def __init__(self, config: Config):
        self.config = config
        self.poller: WorkerPoller | None = None
        self.watch: ProcessWatch | None = None
        self.coordinator: CoordinatorMonitor | None = None
        self.worker: WorkerMonitor | None = None
        self.store: SlowQueryStore | None = None
        self.app = self._coordinator_app() if config.role == "coordinator" else self._worker_app()

    def _ingest(self, registry: MetricsRegistry, applier: EventApplier,
                context: Callable[[], IngestContext]) -> IngestService | None:
        """The ingest service, or None when ingest is turned off."""
        if not self.config.ingest_enabled:
            return None
        limits = self.config.limits
        return IngestService(registry, applier, context, max_body_bytes=limits.max_body_bytes,
                             max_events=limits.max_batch_events)

    def _coordinator_app(self) -> Flask:
        c = self.config
        registry = MetricsRegistry()
        queries = QueryMonitor(registry, c.query_history, c.failed_query_history, c.top_queries,
                               thresholds=c.thresholds, export_statements=c.export_statements)
        coordinator = self.coordinator = CoordinatorMonitor(registry, c.thresholds)
        remotes: dict[str, RemoteWorkerMonitor] = {}
        for worker in c.workers:
            remote = remotes[worker.id] = RemoteWorkerMonitor(worker.id, worker.url, registry, c.thresholds,
                                                              stale_after_seconds=2 * c.poll_interval_seconds)
            coordinator.register_worker(worker.id, remote)
        self.poller = WorkerPoller(list(remotes.values()), c.poll_interval_seconds, c.poll_timeout_seconds,
                                   c.poll_bearer_token)

        def pushed_worker(worker_id: str) -> WorkerMonitor:
            found = coordinator.workers().get(worker_id)
            if found is None:
                pushed = WorkerMonitor(worker_id, registry, c.thresholds, data_path=None, error_history=c.error_history,
                                       cardinality=c.limits.cardinality)
                coordinator.register_worker(worker_id, pushed)
                log.info("worker %s: first event ingested, now monitored", worker_id)
                return pushed
            if not isinstance(found, WorkerMonitor):  # validation refuses events of polled workers before this
                raise TypeError(f"worker {worker_id!r} is polled ({type(found).__name__}), not monitored from events")
            return found

        applier = EventApplier(pushed_worker, queries, coordinator,
                               open_query_timeout=c.limits.open_query_timeout_seconds)

        def context() -> IngestContext:
            pushed = {wid: m for wid, m in coordinator.workers().items() if wid not in remotes}
            return IngestContext(
                accepts_queries=True, open_queries=applier.open_queries(), fragments_kept=applier.fragments_kept(),
                max_open_queries=c.limits.max_open_queries,
                known_workers=frozenset(pushed),
                foreign_workers={wid: f"worker {wid!r} is polled from {r.url}; post its events to that exporter"
                                 for wid, r in remotes.items()},
                new_worker_slots=max(0, c.limits.max_workers - len(remotes) - len(pushed)),
                worker_active={wid: m.vitals().active_queries for wid, m in pushed.items()})

        store = (SlowQueryStore(c.slow_query_db, c.slow_queries, c.slow_query_retention_days * 86400,
                                store_counter(registry)) if c.slow_query_db else None)
        self.store = store
        slow_log = SlowQueryLog(c.slow_query_seconds, c.slow_queries, store.add if store else None,
                                store.load(c.slow_queries) if store else ())
        app = create_app(coordinator, queries, stream_interval=c.stream_interval_seconds,
                         history_minutes=c.history_minutes, start_stream=False, auth=c.auth,
                         ingest=self._ingest(registry, applier, context), max_streams=c.limits.max_streams,
                         allow_unauthenticated_reset=c.allow_unauthenticated_reset, slow_log=slow_log,
                         scrape_cache_seconds=c.scrape_cache_seconds)
        directory = exporter_directory(app)
        directory.node_id = c.node_id
        for worker in c.workers:
            directory.add(worker.id, worker.url)
        return app

    def _worker_app(self) -> Flask:
        c = self.config
        assert c.process is not None
        provider: PidProvider | None = None
        if c.process.pid_file:
            provider = pid_file_provider(c.process.pid_file)
        elif c.process.name:
            provider = process_name_provider(c.process.name)
        monitor = self.worker = WorkerMonitor(c.node_id, MetricsRegistry(), c.thresholds, pid=c.process.pid,
                                              pid_provider=provider, data_path=c.data_path,
                                              error_history=c.error_history, cardinality=c.limits.cardinality)
        io = ProcessIOCollector(c.node_id)
        monitor.registry.register_collector(io)
        self.watch = ProcessWatch(monitor, io, c.process.sample_interval_seconds)
        applier = EventApplier(lambda _worker_id: monitor)

        def context() -> IngestContext:
            return IngestContext(accepts_queries=False, max_open_queries=c.limits.max_open_queries,
                                 known_workers=frozenset([c.node_id]), default_worker=c.node_id,
                                 new_worker_refusal=f"this exporter serves worker {c.node_id!r} only",
                                 worker_active={c.node_id: monitor.vitals().active_queries})

        return create_worker_app(monitor, auth=c.auth, ingest=self._ingest(monitor.registry, applier, context),
                                 scrape_cache_seconds=c.scrape_cache_seconds)

    def start(self) -> None:
        """Start sampling, polling and the live stream."""
        if self.watch is not None:
            self.watch.sample_once()
            self.watch.start()
        if self.poller is not None:
            self.poller.start()
        if "bytedb" in self.app.extensions:
            self.app.extensions["bytedb"].hub.start()

    def stop(self) -> None:
        """Stop every background thread this service started; write and close the slow-query store."""
        if "bytedb" in self.app.extensions:
            self.app.extensions["bytedb"].hub.stop()
        if self.poller is not None:
            self.poller.stop()
        if self.watch is not None:
            self.watch.stop()
        if self.store is not None:
            self.store.close()


def store_counter(registry: MetricsRegistry) -> Callable[[str], None]:
    """Counts the slow-query store's entries by result in `bytedb_slow_query_store_entries_total`."""
    counters = {result: registry.counter("slow_query_store_entries_total", "Slow-query log entries for the "
                                         "SQLite store (history.slow_query_db), by result (written, failed, "
                                         "dropped on a full queue).",
                                         {"result": result}) for result in STORE_RESULTS}
    return lambda result: counters[result].inc()


def run(config: Config) -> int:
    """Serve until SIGTERM or SIGINT, then stop the server and every thread; 0 on a clean stop."""
    service = Service(config)
    server = BackgroundServer(service.app, config.host, config.port)
    stop = threading.Event()
    handlers: list = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        handlers.append((sig, signal.signal(sig, lambda signum, _frame: stop.set())))
    try:
        service.start()
        log.info("%s exporter %s listening on %s (config %s)", config.role, config.node_id, server.url, config.source)
        while not stop.wait(1.0):
            pass
        log.info("stopping")
    finally:
        server.stop()
        service.stop()
        for sig, handler in handlers:
            signal.signal(sig, handler)
    return 0
