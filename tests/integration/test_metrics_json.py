"""/api/metrics carries every family /metrics has, under the same names and with the same values, one per line.

Served over real HTTP (werkzeug on a free port) from a real coordinator, query monitor and two workers
that sampled this process with psutil.
"""
import json
import math
import time
import urllib.request

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from support import free_port

from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.prometheus.cache import ExpositionCache
from bytedb_exporter.query.monitor import QueryMonitor
from bytedb_exporter.web.app import create_app
from bytedb_exporter.web.server import BackgroundServer

# The scrape-time families the JSON used to leave out (issue 12).
SCRAPE_TIME = {"bytedb_cluster_health", "bytedb_cluster_workers", "bytedb_cluster_load_balance_score",
               "bytedb_cluster_utilization_percent", "bytedb_cluster_alerts_active", "bytedb_worker_load",
               "bytedb_worker_state", "bytedb_worker_heartbeat_age_seconds", "bytedb_build_info"}
# The text format 0.0.4 writes these types as the first; the JSON keeps the registry's.
TEXT_TYPES = {"info": "gauge", "timer": "histogram"}


class FrozenScrape(Collector):
    """The families of one collect() of a registry, returned unchanged on every scrape."""

    def __init__(self, registry):
        self.families = list(registry.collect())

    def collect(self):
        return iter(self.families)


@pytest.fixture
def served():
    now = [1000.0]  # the monitors' clock: it moves while the workers sample, then stands still

    def clock():
        return now[0]

    registry = MetricsRegistry()
    queries = QueryMonitor(registry)
    coordinator = CoordinatorMonitor(registry, clock=clock)
    workers = []
    for wid in ("worker-1", "worker-2"):
        worker = WorkerMonitor(wid, MetricsRegistry(), clock=clock)
        worker.update_resource_metrics()  # psutil, this process; the second sample has a CPU figure
        time.sleep(0.05)
        now[0] += 1.0
        worker.update_resource_metrics()
        worker.heartbeat()
        for i in range(3):
            worker.record_query_start(f"f{i}")
            worker.record_query_end(f"f{i}", i != 2, 40, 4096)
        worker.record_network_activity(512, 1024, 0.002)
        coordinator.register_worker(wid, worker)
        workers.append(worker)
    for i in range(5):
        with queries.monitor_query(f"q{i}", f"SELECT * FROM t WHERE a > {i}") as execution:
            execution.set_data_info(10 * i, 2048)
    app = create_app(coordinator, queries, start_stream=False)
    server = BackgroundServer(app, "127.0.0.1", free_port())
    yield app, server.url
    server.stop()
    for worker in workers:
        worker.close()


def get(url, path):
    with urllib.request.urlopen(url + path, timeout=10) as response:
        return response.headers.get("Content-Type"), response.read().decode("utf-8")


def text_families(body):
    return {family.name: family for family in text_string_to_metric_families(body)}


def json_series(body):
    """{(name, labels): value} of /api/metrics."""
    return {(item["name"], tuple(sorted(item["labels"].items()))): item for item in json.loads(body)}


def same(text_value, json_value):
    return json_value is None if math.isnan(text_value) else json_value == text_value


def assert_same_values(family, series):
    """Every sample of one /metrics family has its value in the JSON series."""
    for sample in family.samples:
        if family.type == "histogram":
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            item = series[(family.name, labels)]
            stats, suffix = item["value"], sample.name[len(family.name):]
            expected = stats["buckets"][sample.labels["le"]] if suffix == "_bucket" else stats[suffix[1:]]
            assert expected == sample.value, (sample, item)
        else:
            item = series[(sample.name, tuple(sorted(sample.labels.items())))]
            assert same(sample.value, item["value"]), (sample, item)
        assert TEXT_TYPES.get(item["type"], item["type"]) == family.type
        assert item["description"] == family.documentation


def test_every_family_and_value_of_one_scrape(served):
    """Both endpoints render the same collect() (frozen): every family of /metrics is in the JSON, same values."""
    app, url = served
    state = app.extensions["bytedb"]
    frozen = CollectorRegistry(auto_describe=False)
    frozen.register(FrozenScrape(state.exposition))
    state.exposition = frozen
    state.scrape_cache = ExpositionCache(frozen)
    _, text = get(url, "/metrics")
    content_type, body = get(url, "/api/metrics")
    assert content_type == "application/json"
    families, series = text_families(text), json_series(body)
    assert "process_cpu_seconds" in families
    assert {name for name in SCRAPE_TIME if families[name].samples} == SCRAPE_TIME
    for family in families.values():
        assert_same_values(family, series)
    sample_count = sum(1 for f in families.values() if f.type != "histogram" for _ in f.samples)
    histogram_children = {(f.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "le")))
                          for f in families.values() if f.type == "histogram" for s in f.samples}
    assert len(series) == sample_count + len(histogram_children)  # nothing in the JSON that /metrics lacks


def test_live_endpoints_agree_on_every_family(served):
    """Two real scrapes: the same family names, and equal values wherever the figure cannot move between them."""
    _, url = served
    families = text_families(get(url, "/metrics")[1])
    series = json_series(get(url, "/api/metrics")[1])
    names = {key[0] for key in series}
    for family in families.values():
        if family.type == "histogram":
            assert family.name in names
        else:
            assert {s.name for s in family.samples} <= names, family.name
        if family.name.startswith("bytedb_"):  # process_* measure this process between the two requests
            assert_same_values(family, series)


def test_grep_finds_one_series_per_line(served):
    _, url = served
    _, body = get(url, "/api/metrics")
    lines = body.splitlines()
    assert lines[0] == "[" and lines[-1] == "]"
    found = [line for line in lines if "bytedb_queries_total" in line]
    assert found and all(json.loads(line.rstrip(","))["name"] == "bytedb_queries_total" for line in found)
    assert max(len(line) for line in lines) < 2000
