"""MetricGroup exposes exactly what prometheus_client's Histogram would for the same observations."""
from __future__ import annotations

import math
import threading

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from bytedb_exporter.metrics.groups import MetricGroup

BUCKETS = (0.01, 0.1, 1.0, 10.0)
VALUES = (0.0, 0.01, 0.010001, 0.05, 0.1, 0.5, 1.0, 3.0, 10.0, 11.0, 1e6)


def test_exposition_matches_prometheus_client_histogram():
    raw = CollectorRegistry()
    family = prometheus_client.Histogram("ns_d_seconds", "Duration.", ["node", "phase"], buckets=BUCKETS,
                                         registry=raw)
    ours = CollectorRegistry()
    group = MetricGroup("ns", {"node": "n1"})
    cells = {phase: group.histogram("d_seconds", BUCKETS, "Duration.", {"phase": phase}) for phase in ("a", "b")}
    ours.register(group)
    for index, value in enumerate(VALUES):
        phase = "ab"[index % 2]
        family.labels("n1", phase).observe(value)
        with group.lock:
            cells[phase].observe(value)
    assert generate_latest(ours) == generate_latest(raw)


def test_readers_give_cumulative_buckets_sum_and_stats():
    group = MetricGroup("ns")
    cells = group.histogram("rows", (1, 10), "Rows.")
    for value in (1, 2, 20):
        with group.lock:
            cells.observe(value)
    assert cells.cumulative_buckets() == [(1.0, 1.0), (10.0, 2.0), (math.inf, 3.0)]
    assert cells.get() == 3 and cells.total() == 23
    assert cells.get_stats()["count"] == 3 and cells.get_stats()["mean"] == pytest.approx(23 / 3)
    assert group.histogram("rows", (1, 10), "Rows.") is cells  # same child on a second ask


def test_a_family_keeps_its_buckets_and_label_names():
    group = MetricGroup("ns")
    group.histogram("d", (1, 2), "D.", {"phase": "a"})
    with pytest.raises(ValueError, match="other buckets or label names"):
        group.histogram("d", (1, 3), "D.", {"phase": "b"})
    with pytest.raises(ValueError, match="other buckets or label names"):
        group.histogram("d", (1, 2), "D.", {"worker": "b"})
    with pytest.raises(ValueError, match="increasing"):
        group.histogram("e", (2, 1), "E.")


def test_the_registry_refuses_a_second_family_of_the_same_name():
    registry = CollectorRegistry()
    group = MetricGroup("ns")
    group.histogram("d", (1,), "D.")
    registry.register(group)
    with pytest.raises(ValueError, match="Duplicated"):
        prometheus_client.Histogram("ns_d", "D.", registry=registry)


def test_concurrent_observations_are_all_counted():
    group = MetricGroup("ns")
    cells = group.histogram("d", BUCKETS, "D.")

    def observe() -> None:
        for _ in range(5000):
            with group.lock:
                cells.observe(0.5)

    threads = [threading.Thread(target=observe) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cells.get() == 40000 and cells.total() == pytest.approx(20000.0)


def test_counters_and_gauges_expose_what_prometheus_client_would():
    # As the MetricsRegistry creates them: every label name sorted, the constant ones included.
    raw = CollectorRegistry()
    raw_gauge = prometheus_client.Gauge("ns_active", "Active.", ["zone"], registry=raw)
    raw_counter = prometheus_client.Counter("ns_done_total", "Done.", ["kind", "status", "zone"], registry=raw)
    ours = CollectorRegistry()
    group = MetricGroup("ns", {"zone": "z1"})
    gauge = group.gauge("active", "Active.")
    cells = {(kind, status): group.counter("done_total", "Done.", {"status": status, "kind": kind})
             for kind in ("a", "b") for status in ("ok", "failed")}
    ours.register(group)
    raw_gauge.labels("z1").set(3)
    for (kind, status), cell in cells.items():
        raw_counter.labels(kind, status, "z1").inc(len(kind + status))
        with group.lock:
            cell.value += len(kind + status)
    with group.lock:
        gauge.value = 3
    assert generate_latest(ours) == generate_latest(raw)
    assert cells["a", "ok"].get() == 3.0 and gauge.get() == 3.0


def test_a_counter_family_keeps_its_kind_and_label_names():
    group = MetricGroup("ns")
    group.counter("c_total", "C.", {"status": "ok"})
    with pytest.raises(ValueError, match="another kind"):
        group.gauge("c_total", "C.", {"status": "ok"})
    with pytest.raises(ValueError, match="label names"):
        group.counter("c_total", "C.", {"kind": "a"})
    registry = CollectorRegistry()
    registry.register(group)
    with pytest.raises(ValueError, match="Duplicated"):
        prometheus_client.Counter("ns_c", "C.", registry=registry)


def test_readers_of_a_count_apply_what_the_owner_deferred():
    queued = [1, 2]

    def flush() -> None:
        while queued:
            cell.value += queued.pop()

    group = MetricGroup("ns", flush=flush)
    cell = group.counter("c_total", "C.")
    assert cell.get() == 3.0 and not queued
    queued.append(4)
    registry = CollectorRegistry()
    registry.register(group)
    assert b"ns_c_total 7.0" in generate_latest(registry)
