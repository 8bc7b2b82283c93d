"""Scrape-time failures (a polled worker's vitals, a cluster view, a whole registry) are left out, logged and
counted in bytedb_scrape_errors_total, and everything else is still served."""
import logging

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from test_worker_document import DOCUMENT

from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.remote import RemoteWorkerMonitor
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.prometheus.exposition import exposition_registry
from bytedb_exporter.web.app import create_app


def scrape(registry):
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def coordinator_with_two_workers():
    registry = MetricsRegistry()
    coordinator = CoordinatorMonitor(registry)
    workers = {wid: RemoteWorkerMonitor(wid, f"http://127.0.0.1:9/{wid}", registry) for wid in ("w1", "w2")}
    for wid, worker in workers.items():
        coordinator.register_worker(wid, worker)
        worker.record_poll({**DOCUMENT, "worker_id": wid})
    return registry, coordinator, workers


def broken():
    raise RuntimeError("vitals exploded")


def test_a_worker_whose_vitals_raise_is_left_out_logged_and_counted(caplog):
    registry, coordinator, workers = coordinator_with_two_workers()
    workers["w2"].vitals = broken
    exposition = exposition_registry(lambda: [registry.collector_registry])
    with caplog.at_level(logging.ERROR):
        found = scrape(exposition)
    assert "vitals exploded" in caplog.text
    assert found[("bytedb_worker_state", (("state", "healthy"), ("worker_id", "w1")))] == 1
    assert not any(dict(labels).get("worker_id") == "w2" for name, labels in found if name == "bytedb_worker_state")
    assert found[("bytedb_scrape_errors_total", (("collector", "worker"),))] == 1
    # The cluster view shows the unreadable worker offline instead of failing for everybody.
    assert found[("bytedb_cluster_workers", (("state", "offline"),))] == 1
    assert found[("bytedb_cluster_health", (("status", "degraded"),))] == 1
    assert found[("bytedb_scrape_errors_total", (("collector", "cluster"),))] == 0
    assert scrape(exposition)[("bytedb_scrape_errors_total", (("collector", "worker"),))] == 2
    health = coordinator.get_cluster_health()
    assert health.worker_statuses == {"w1": "healthy", "w2": "offline"}


def test_a_worker_whose_stats_raise_is_shown_offline(caplog):
    registry, coordinator, workers = coordinator_with_two_workers()
    workers["w2"].get_worker_stats = broken
    with caplog.at_level(logging.ERROR):
        stats = coordinator.get_coordinator_stats()
    assert "reading its stats failed" in caplog.text
    assert stats.cluster_health.total_workers == 2
    assert stats.resource_distribution.total_memory_usage_mb == DOCUMENT["resource_utilization"]["memory_usage_mb"]


def test_a_family_that_raises_is_counted():
    registry, coordinator, _ = coordinator_with_two_workers()
    coordinator.alert_counts = lambda view: broken()
    found = scrape(exposition_registry(lambda: [registry.collector_registry]))
    assert found[("bytedb_scrape_errors_total", (("collector", "cluster"),))] == 1
    assert found[("bytedb_cluster_health", (("status", "healthy"),))] == 1
    assert not any(name == "bytedb_cluster_alerts_active" for name, _ in found)


def test_a_raw_registry_scrape_still_works_without_counting():
    registry, _, workers = coordinator_with_two_workers()
    workers["w2"].vitals = broken
    found = scrape(registry.collector_registry)
    assert found[("bytedb_worker_state", (("state", "healthy"), ("worker_id", "w1")))] == 1
    assert not any(name == "bytedb_scrape_errors_total" for name, _ in found)


class Exploding(Collector):
    def collect(self):
        raise RuntimeError("registry exploded")


def test_a_registry_that_raises_leaves_the_others_served(caplog):
    registry, _, _ = coordinator_with_two_workers()
    bad = CollectorRegistry()
    bad.register(Exploding())
    exposition = exposition_registry(lambda: [bad, registry.collector_registry])
    with caplog.at_level(logging.ERROR):
        found = scrape(exposition)
    assert "registry exploded" in caplog.text
    assert found[("bytedb_scrape_errors_total", (("collector", "registry"),))] == 1
    assert found[("bytedb_remote_worker_up", (("worker_id", "w2"),))] == 1
    assert found[("bytedb_scrape_errors_total", (("collector", "worker"),))] == 0
    assert scrape(exposition)[("bytedb_scrape_errors_total", (("collector", "registry"),))] == 2


def test_every_endpoint_answers_when_one_workers_reads_raise(caplog):
    _, coordinator, workers = coordinator_with_two_workers()
    workers["w2"].vitals = workers["w2"].get_worker_stats = broken
    app = create_app(coordinator, start_stream=False)
    client = app.test_client()
    with caplog.at_level(logging.ERROR):
        for path in ("/api/overview", "/api/cluster", "/api/workers", "/api/alerts", "/api/performance",
                     "/api/workers/w2", "/api/queries", "/api/metrics", "/metrics"):
            assert client.get(path).status_code == 200, path
        assert app.extensions["bytedb"].views.live()["workers"]["w2"]["status"]["status"] == "offline"
    w2 = client.get("/api/workers").get_json()["w2"]["status"]
    assert w2["status"] == "offline" and "vitals exploded" in w2["message"]
    assert client.get("/api/cluster").get_json()["worker_statuses"] == {"w1": "healthy", "w2": "offline"}
