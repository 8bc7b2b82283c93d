import threading
from datetime import timedelta

import pytest
from prometheus_client import Counter as RawCounter
from prometheus_client import Gauge as RawGauge
from prometheus_client.parser import text_string_to_metric_families

from bytedb_exporter.metrics import registry as metrics_module
from bytedb_exporter.metrics.export import MetricsExporter
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.metrics.types import Timer


@pytest.fixture
def registry():
    return MetricsRegistry()


def families(registry):
    text = MetricsExporter(registry).export_prometheus_metrics()
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_counter_inc_add_get(registry):
    counter = registry.counter("queries_total", "Queries.")
    counter.inc()
    counter.add(5)
    assert counter.get() == 6
    with pytest.raises(ValueError):
        counter.add(-1)
    assert counter.get() == 6


def test_counter_is_prometheus_counter_with_total_suffix(registry):
    registry.counter("queries", "Queries.").inc(3)
    family = families(registry)["bytedb_queries"]
    assert family.type == "counter"
    assert [(s.name, s.value) for s in family.samples] == [("bytedb_queries_total", 3.0)]


def test_same_name_returns_same_object_other_type_raises(registry):
    assert registry.counter("x_total") is registry.counter("x")
    assert registry.gauge("g") is registry.gauge("g")
    with pytest.raises(ValueError, match="already exists as a counter"):
        registry.gauge("x")
    with pytest.raises(ValueError, match="already exists as a gauge"):
        registry.histogram("g")


@pytest.mark.parametrize("name", ["", "1abc", "has-dash", "sp ace", "__reserved"])
def test_invalid_names_raise(registry, name):
    with pytest.raises(ValueError, match="invalid metric name"):
        registry.counter(name)


def test_invalid_label_name_raises(registry):
    with pytest.raises(ValueError, match="invalid label name"):
        registry.gauge("g", labels={"bad-label": "x"})


def test_gauge_set_add_get(registry):
    gauge = registry.gauge("cpu_usage_percent", labels={"worker_id": "w1"})
    gauge.set(75.5)
    gauge.add(5)
    gauge.add(-0.5)
    assert gauge.get() == 80.0


def test_labelled_children_do_not_overwrite_each_other(registry):
    registry.gauge("cpu_usage_percent", labels={"worker_id": "w1"}).set(10)
    registry.gauge("cpu_usage_percent", labels={"worker_id": "w2"}).set(20)
    samples = {s.labels["worker_id"]: s.value for s in families(registry)["bytedb_cpu_usage_percent"].samples}
    assert samples == {"w1": 10, "w2": 20}
    with pytest.raises(ValueError, match="has labels"):
        registry.gauge("cpu_usage_percent", labels={"node": "n1"})


def test_set_labels_apply_to_every_metric_and_only_before_the_first(registry):
    registry.set_labels(component="coordinator")
    registry.counter("queries").inc()
    sample = families(registry)["bytedb_queries"].samples[0]
    assert sample.labels == {"component": "coordinator"}
    with pytest.raises(ValueError):
        registry.set_labels(component="worker")


def test_histogram_stats_and_quantiles(registry):
    histogram = registry.histogram("response_time_seconds", [0.01, 0.05, 0.1, 0.5, 1])
    for value in (0.005, 0.02, 0.03, 0.07, 0.2, 0.3, 0.4, 0.6, 0.8, 2.0):
        histogram.observe(value)
    stats = histogram.get_stats()
    assert stats["count"] == 10
    assert stats["sum"] == pytest.approx(4.425)
    assert stats["mean"] == pytest.approx(0.4425)
    assert stats["buckets"] == {"0.01": 1, "0.05": 3, "0.1": 4, "0.5": 7, "1.0": 9, "+Inf": 10}
    # rank 5 falls into (0.1, 0.5] holding ranks 5..7: 0.1 + 0.4 * (5 - 4) / 3
    assert histogram.quantile(0.5) == pytest.approx(0.1 + 0.4 / 3)
    assert stats["p99"] == 1.0  # rank 9.9 is in +Inf: the highest finite bound
    assert stats["p50"] == pytest.approx(histogram.quantile(0.5))


def test_empty_histogram_stats(registry):
    stats = registry.histogram("h").get_stats()
    assert stats["count"] == 0 and stats["mean"] == 0 and stats["p95"] is None


def test_timer_time_function_returns_timedelta(registry):
    timer = registry.timer("op_seconds")
    elapsed = timer.time(lambda: sum(range(10_000)))
    assert isinstance(elapsed, timedelta) and elapsed > timedelta(0)
    assert timer.get_stats()["count"] == 1
    assert timer.get_stats()["sum"] == pytest.approx(elapsed.total_seconds(), abs=1e-6)  # timedelta keeps microseconds


def test_timer_context_manager_decorator_and_handles(registry):
    timer = registry.timer("op_seconds")
    with timer.time():
        pass

    @timer.time()
    def work(x):
        return x * 2

    assert work(2) == 4 and work(3) == 6
    handle = timer.start()
    handle.stop()
    with pytest.raises(RuntimeError):
        handle.stop()
    assert timer.get_stats()["count"] == 4
    assert isinstance(timer, Timer) and timer.unit == "seconds"


def test_concurrent_timings_never_share_state(registry):
    timer = registry.timer("op_seconds")
    import time

    handles = [timer.start() for _ in range(8)]
    time.sleep(0.02)
    first = handles[0].stop()
    time.sleep(0.02)
    rest = [h.stop() for h in handles[1:]]
    assert all(r > first for r in rest)
    assert timer.get_stats()["count"] == 8


def test_concurrent_increments_are_exact(registry):
    counter = registry.counter("hits")
    histogram = registry.histogram("sizes", [1, 10])

    def work():
        for _ in range(10_000):
            registry.counter("hits").inc()
            histogram.observe(5)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.get() == 80_000
    assert histogram.get_stats()["count"] == 80_000


def test_get_metric_get_all_and_reset(registry):
    counter = registry.counter("a_total")
    gauge = registry.gauge("b", labels={"worker_id": "w1"})
    assert registry.get_metric("a_total") is counter
    assert registry.get_metric("a") is counter
    assert registry.get_metric("b", {"worker_id": "w1"}) is gauge
    assert registry.get_metric("missing") is None
    assert registry.get_all_metrics() == [counter, gauge]
    registry.reset()
    assert registry.get_all_metrics() == []
    assert "bytedb_a" not in families(registry)
    assert registry.counter("a").get() == 0


def test_module_level_functions_use_the_default_registry():
    counter = metrics_module.counter("module_level_test_total")
    counter.inc()
    assert metrics_module.get_metric("module_level_test_total") is counter
    assert counter in metrics_module.get_all_metrics()
    assert metrics_module.default_registry().get_metric("module_level_test") is counter
    assert isinstance(metrics_module.timer("module_level_timer"), Timer)


def test_registry_counters_and_gauges_are_exposed_as_prometheus_clients():
    """The same updates give the same text as prometheus_client's Counter and Gauge, labels and HELP included."""
    from prometheus_client import CollectorRegistry, generate_latest

    raw = CollectorRegistry()
    raw_counter = RawCounter("bytedb_hits", "Hits.", ["node", "worker_id"], registry=raw)
    raw_gauge = RawGauge("bytedb_load", "Load.", ["node", "worker_id"], registry=raw)
    ours = MetricsRegistry(const_labels={"node": "n1"})
    for worker, amount in (("w2", 3), ("w1", 0.5), ("w2", 1)):
        raw_counter.labels("n1", worker).inc(amount)
        ours.counter("hits_total", "Hits.", {"worker_id": worker}).inc(amount)
        raw_gauge.labels("n1", worker).inc(amount)
        raw_gauge.labels("n1", worker).dec(0.25)
        gauge = ours.gauge("load", "Load.", {"worker_id": worker})
        gauge.inc(amount)
        gauge.dec(0.25)
    raw_gauge.labels("n1", "w3").set(-7)
    ours.gauge("load", "Load.", {"worker_id": "w3"}).set(-7)
    text = generate_latest(ours.collector_registry)
    assert text[text.index(b"# HELP bytedb_hits"):] == generate_latest(raw)


def test_a_counter_refuses_what_would_make_it_lie_and_keeps_its_value(registry):
    counter = registry.counter("hits", labels={"worker_id": "w1"})
    counter.inc(2)
    for amount in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            counter.inc(amount)
    assert counter.get() == 2.0
    counter.inc(1e308)
    with pytest.raises(ValueError):
        counter.inc(1e308)  # past the largest float: it would read +Inf for good
    assert counter.get() == 1e308 + 2.0


def test_a_gauge_refuses_non_finite_figures_and_keeps_its_value(registry):
    gauge = registry.gauge("load", labels={"worker_id": "w1"})
    gauge.set(3)
    gauge.dec(5)
    for change in (gauge.set, gauge.inc, gauge.dec, gauge.add):
        for value in (float("nan"), float("inf"), float("-inf")):
            with pytest.raises(ValueError):
                change(value)
    assert gauge.get() == -2.0


def test_a_registry_histogram_is_exposed_as_prometheus_clients_histogram():
    import prometheus_client
    from prometheus_client import CollectorRegistry, generate_latest

    raw = CollectorRegistry()
    family = prometheus_client.Histogram("bytedb_d_seconds", "Duration.", ["node", "phase"], buckets=(0.1, 1, 10),
                                         registry=raw)
    ours = MetricsRegistry(const_labels={"node": "n1"})
    for index, value in enumerate((0.0, 0.05, 0.1, 0.5, 3.0, 10.0, 1e6)):
        phase = "ab"[index % 2]
        family.labels("n1", phase).observe(value)
        ours.histogram("d_seconds", (0.1, 1, 10), "Duration.", {"phase": phase}).observe(value)
    build_info = b"# HELP bytedb_build_info"
    text = generate_latest(ours.collector_registry)
    assert text[text.index(b"# HELP bytedb_d_seconds"):] == generate_latest(raw)
    assert text.startswith(build_info)


def test_a_histogram_refuses_what_it_cannot_expose_and_keeps_its_state(registry):
    histogram = registry.histogram("sizes", [1, 10])
    histogram.observe(2, {"trace_id": "abc"})
    for value, exemplar in ((float("nan"), None), (float("inf"), None), (1.0, {"trace_id": "x" * 121}),
                            (1.0, {"bad-name": "x"}), (1.0, {"trace_id": "\ud800"})):
        with pytest.raises(ValueError):
            histogram.observe(value, exemplar)
    assert histogram.get_stats()["count"] == 1 and histogram.total() == 2
    text = MetricsExporter(registry).export_prometheus_metrics()
    assert 'bytedb_sizes_bucket{le="10.0"} 1.0' in text


def test_removing_a_histogram_series_drops_it_and_a_new_ask_starts_anew(registry):
    histogram = registry.histogram("d", [1], labels={"worker_id": "w1"})
    registry.histogram("d", [1], labels={"worker_id": "w2"}).observe(0.5)
    histogram.observe(0.5)
    assert registry.remove_series("worker_id", "w1") == 1
    text = MetricsExporter(registry).export_prometheus_metrics()
    assert 'worker_id="w1"' not in text and 'bytedb_d_count{worker_id="w2"} 1.0' in text
    assert registry.histogram("d", [1], labels={"worker_id": "w1"}).get() == 0


def test_a_collector_may_not_take_a_histograms_name(registry):
    from bytedb_exporter.query.monitor import QueryMonitor

    registry.histogram("query_duration_seconds", [1], labels={"query_type": "select"})
    with pytest.raises(ValueError, match="already holds"):
        QueryMonitor(registry)
    with pytest.raises(ValueError, match="cannot create histogram"):
        MetricsRegistry().histogram("build_info", [1])
