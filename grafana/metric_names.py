"""Metric families bytedb-exporter exposes (the contract the dashboards and rules rely on).

Maps name -> type. docs/metrics.md owns the names; tests/unit/monitoring/test_grafana.py
fails when this list and the catalog drift apart.
"""
from __future__ import annotations

CONTRACT_METRICS: dict[str, str] = {
    # Query level (coordinator process).
    "bytedb_build_info": "info",
    "bytedb_queries_total": "counter",
    "bytedb_queries_active": "gauge",
    "bytedb_query_duration_seconds": "histogram",
    "bytedb_query_phase_duration_seconds": "histogram",
    "bytedb_query_network_latency_seconds": "histogram",
    "bytedb_query_rows_processed": "histogram",
    "bytedb_query_transferred_bytes": "histogram",
    "bytedb_query_workers": "histogram",
    "bytedb_query_fragments": "histogram",
    "bytedb_query_fragment_skew_ratio": "histogram",
    "bytedb_query_skewed_total": "counter",
    "bytedb_query_optimizations_total": "counter",
    "bytedb_query_cost_reduction_ratio": "histogram",
    "bytedb_query_cache_hit_ratio": "histogram",
    # Worker level (label worker_id; from worker exporters and the coordinator).
    "bytedb_worker_queries_total": "counter",
    "bytedb_worker_queries_active": "gauge",
    "bytedb_worker_query_duration_seconds": "histogram",
    "bytedb_worker_rows_processed_total": "counter",
    "bytedb_worker_processed_bytes_total": "counter",
    "bytedb_worker_cache_hits_total": "counter",
    "bytedb_worker_cache_misses_total": "counter",
    "bytedb_worker_cache_evictions_total": "counter",
    "bytedb_worker_cache_size_bytes": "gauge",
    "bytedb_worker_errors_total": "counter",
    "bytedb_worker_network_received_bytes_total": "counter",
    "bytedb_worker_network_sent_bytes_total": "counter",
    "bytedb_worker_network_requests_total": "counter",
    "bytedb_worker_network_latency_seconds": "histogram",
    "bytedb_worker_cpu_usage_percent": "gauge",
    "bytedb_worker_memory_usage_bytes": "gauge",
    "bytedb_worker_memory_usage_percent": "gauge",
    "bytedb_worker_disk_usage_bytes": "gauge",
    "bytedb_worker_disk_usage_percent": "gauge",
    "bytedb_worker_open_fds": "gauge",
    "bytedb_worker_connections": "gauge",
    "bytedb_worker_threads": "gauge",
    "bytedb_worker_process_up": "gauge",
    "bytedb_worker_load": "gauge",
    "bytedb_worker_heartbeat_age_seconds": "gauge",
    "bytedb_worker_state": "stateset",
    # Cluster level (coordinator, computed at scrape time).
    "bytedb_cluster_health": "stateset",
    "bytedb_cluster_workers": "gauge",
    "bytedb_cluster_load_balance_score": "gauge",
    "bytedb_cluster_utilization_percent": "gauge",
    "bytedb_cluster_alerts_active": "gauge",
    # Coordinator.
    "bytedb_coordinator_queries_total": "counter",
    "bytedb_coordinator_queries_active": "gauge",
    "bytedb_coordinator_query_fragments": "histogram",
    "bytedb_coordinator_query_workers": "histogram",
    "bytedb_coordinator_planning_duration_seconds": "histogram",
    "bytedb_coordinator_aggregation_duration_seconds": "histogram",
    "bytedb_coordinator_optimizations_total": "counter",
    "bytedb_coordinator_cost_reduction_ratio": "histogram",
    # Serve mode (bytedb-exporter serve): storage IO, remote worker polling, event ingest.
    "bytedb_worker_io_read_bytes_total": "counter",
    "bytedb_worker_io_write_bytes_total": "counter",
    "bytedb_remote_worker_up": "gauge",
    "bytedb_remote_worker_poll_failures_total": "counter",
    "bytedb_scrape_errors_total": "counter",
    "bytedb_ingest_requests_total": "counter",
    "bytedb_ingest_events_total": "counter",
    # Live dashboard streams (web app).
    "bytedb_stream_clients": "gauge",
    "bytedb_stream_refused_total": "counter",
    "bytedb_slow_query_store_entries_total": "counter",
}

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def series_family(series_name: str) -> str | None:
    """Family a series name belongs to (`..._bucket` -> the histogram), or None if unknown."""
    if series_name in CONTRACT_METRICS:
        return series_name
    for suffix in HISTOGRAM_SUFFIXES:
        base = series_name[: -len(suffix)]
        if series_name.endswith(suffix) and CONTRACT_METRICS.get(base) == "histogram":
            return base
    return None
