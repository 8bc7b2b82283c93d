"""The Prometheus metric families one worker exposes, labelled with its worker_id."""
from __future__ import annotations

from bytedb_exporter.cluster.sampling import ResourceSample
from bytedb_exporter.config.models import CARDINALITY_LEVELS
from bytedb_exporter.metrics.registry import MetricsRegistry

SEVERITIES = ("info", "warning", "error", "critical")
# Per-worker histograms are most of a scrape with many workers: buckets are kept few, one per
# factor of about 2.5-5, which is enough for histogram_quantile within a bucket.
FRAGMENT_DURATION_BUCKETS = (0.001, 0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30)
NETWORK_LATENCY_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5)
# limits.cardinality high: about twice the buckets, for quantiles closer to the truth.
FINE_FRAGMENT_DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
FINE_NETWORK_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)
# The resource gauges: name and help. A series exists only while its figure was read in the last sample.
RESOURCE_GAUGES = {
    "cpu": ("worker_cpu_usage_percent", "CPU usage of a worker's process, percent of one core "
            "(may exceed 100 on several cores); absent while the process is not read."),
    "mem": ("worker_memory_usage_bytes", "Resident memory of a worker's process; absent while the process is "
            "not read."),
    "mem_pct": ("worker_memory_usage_percent", "Resident memory of a worker's process, percent of the machine's "
                "total memory; absent while the process is not read."),
    "disk": ("worker_disk_usage_bytes", "Used bytes on the file system of a worker's data path; absent while "
             "it is not read."),
    "disk_pct": ("worker_disk_usage_percent", "Used share of the file system of a worker's data path, percent; "
                 "absent while it is not read."),
    "fds": ("worker_open_fds", "Open file descriptors of a worker's process; absent while the process is not read."),
    "conns": ("worker_connections", "Open inet connections of a worker's process; absent while the process is "
              "not read."),
    "threads": ("worker_threads", "Threads of a worker's process; absent while the process is not read."),
    "up": ("worker_process_up", "1 while a worker's process runs, 0 once it is gone; absent before the first "
           "sample."),
}


class WorkerMetrics:
    """Counters, gauges and histograms of one worker, created in `registry`.

    `cardinality` (limits.cardinality): at "low" the two per-worker histograms are kept in a registry of
    their own that is never exported (they still give the worker's quantiles in /api/worker); "default"
    exports them; "high" exports them with the FINE_* buckets.
    """

    def __init__(self, registry: MetricsRegistry, worker_id: str, cardinality: str = "default"):
        if cardinality not in CARDINALITY_LEVELS:
            raise ValueError(f"cardinality must be one of {', '.join(CARDINALITY_LEVELS)}, got {cardinality!r}")
        r, wid = registry, {"worker_id": worker_id}
        histograms = MetricsRegistry() if cardinality == "low" else registry
        fine = cardinality == "high"
        self._registry, self._labels = registry, wid
        self.queries = {status: r.counter("worker_queries_total", "Queries (fragments) finished on a worker, "
                                          "by status (success or failed).", {**wid, "status": status})
                        for status in ("success", "failed")}
        self.active = r.gauge("worker_queries_active", "Queries (fragments) running on a worker.", wid)
        self.duration = histograms.histogram("worker_query_duration_seconds",
                                             FINE_FRAGMENT_DURATION_BUCKETS if fine else FRAGMENT_DURATION_BUCKETS,
                                             "Duration of queries (fragments) on a worker.", wid)
        self.rows = r.counter("worker_rows_processed_total", "Rows processed by a worker.", wid)
        self.bytes = r.counter("worker_processed_bytes_total", "Bytes processed by a worker.", wid)
        self.hits = r.counter("worker_cache_hits_total", "Cache hits on a worker.", wid)
        self.misses = r.counter("worker_cache_misses_total", "Cache misses on a worker.", wid)
        self.evictions = r.counter("worker_cache_evictions_total", "Cache evictions on a worker.", wid)
        self.cache_size = r.gauge("worker_cache_size_bytes", "Size of a worker's cache.", wid)
        self.errors = {s: r.counter("worker_errors_total", "Errors recorded by a worker, by severity.",
                                    {**wid, "severity": s}) for s in SEVERITIES}
        self.received = r.counter("worker_network_received_bytes_total", "Bytes a worker received.", wid)
        self.sent = r.counter("worker_network_sent_bytes_total", "Bytes a worker sent.", wid)
        self.requests = r.counter("worker_network_requests_total", "Network requests a worker received.", wid)
        self.latency = histograms.histogram("worker_network_latency_seconds",
                                            FINE_NETWORK_LATENCY_BUCKETS if fine else NETWORK_LATENCY_BUCKETS,
                                            "Network latency reported by a worker.", wid)

    def set_resources(self, sample: ResourceSample) -> None:
        """Set the resource gauges from one psutil sample; a figure not read leaves /metrics (no series).

        worker_process_up is 1 while the process is there (read, or access denied), 0 once it is gone.
        """
        up = None if sample.status == "not_sampled" else 0 if sample.status == "process_gone" else 1
        for key, value in (("cpu", sample.cpu_percent), ("mem", sample.memory_bytes),
                           ("mem_pct", sample.memory_percent), ("disk", sample.disk_used_bytes),
                           ("disk_pct", sample.disk_percent), ("fds", sample.open_fds),
                           ("conns", sample.connections), ("threads", sample.threads), ("up", up)):
            name, help_text = RESOURCE_GAUGES[key]
            if value is None:
                self._registry.remove(name, self._labels)
            else:
                self._registry.gauge(name, help_text, self._labels).set(value)
