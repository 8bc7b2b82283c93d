"""The exposition cache: reused while fresh, rebuilt when stale, one build for concurrent scrapes, per format."""
from __future__ import annotations

import gc
import gzip
import threading
import time

import pytest
from prometheus_client import CollectorRegistry, Gauge

from bytedb_exporter.prometheus.cache import ExpositionCache

OPENMETRICS = "application/openmetrics-text;version=1.0.0"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def gauge_registry():
    registry = CollectorRegistry(auto_describe=False)
    return registry, Gauge("bench_value", "A value.", registry=registry)


def test_reused_within_max_age_and_rebuilt_after():
    registry, gauge = gauge_registry()
    clock = Clock()
    cache = ExpositionCache(registry, 1.0, clock=clock)
    gauge.set(1)
    first = cache.get("")
    gauge.set(2)
    clock.now += 0.5
    assert cache.get("") is first and b"bench_value 1.0" in first.body
    clock.now += 0.6
    assert b"bench_value 2.0" in cache.get("").body
    assert cache.builds == 2


def test_formats_are_cached_apart_and_gzip_matches_the_text():
    registry, _ = gauge_registry()
    cache = ExpositionCache(registry, 10.0)
    text, openmetrics = cache.get(""), cache.get(OPENMETRICS)
    assert text.content_type.startswith("text/plain") and openmetrics.content_type.startswith("application/openmetrics")
    assert openmetrics.body.endswith(b"# EOF\n") and not text.body.endswith(b"# EOF\n")
    assert gzip.decompress(cache.gzipped(text)) == text.body
    assert cache.gzipped(text) is cache.gzipped(text)


def test_zero_max_age_builds_every_scrape():
    registry, _ = gauge_registry()
    cache = ExpositionCache(registry, 0.0)
    cache.get("")
    cache.get("")
    assert cache.builds == 2


def test_concurrent_scrapes_share_one_build():
    registry = CollectorRegistry(auto_describe=False)
    calls = []

    class Slow:
        def collect(self):
            calls.append(1)
            time.sleep(0.2)
            return []

    registry.register(Slow())
    cache = ExpositionCache(registry, 5.0)
    threads = [threading.Thread(target=cache.get, args=("",)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.builds == 1 and len(calls) == 1


def test_negative_max_age_is_refused():
    with pytest.raises(ValueError):
        ExpositionCache(CollectorRegistry(), -1)


def test_a_build_sets_off_no_garbage_collection_and_restores_the_collector():
    """A build allocates a tuple and a dict per sample; with the collector's thresholds at their lowest, any
    collection during the build would show here. Afterwards the collector is on again, or stays off."""
    registry = CollectorRegistry(auto_describe=False)
    gauge = Gauge("bench_value", "A value.", ["n"], registry=registry)
    for n in range(2000):
        gauge.labels(str(n)).set(n)
    cache = ExpositionCache(registry, 0.0)
    building, collections = threading.Event(), []
    original_collect = registry.collect

    def collect():
        building.set()
        try:
            yield from original_collect()
        finally:
            building.clear()

    def watch(phase, info):
        if phase == "start" and building.is_set():
            collections.append(info["generation"])

    registry.collect = collect
    thresholds = gc.get_threshold()
    gc.callbacks.append(watch)
    gc.set_threshold(10, 1, 1)
    try:
        cache.get("")
        assert gc.isenabled() and collections == []
        gc.disable()
        cache.get("")
        assert not gc.isenabled()
        gc.enable()
        building.set()
        gc.collect()  # the watch itself works: a collection while building is seen
        assert collections == [2]
    finally:
        gc.enable()
        gc.set_threshold(*thresholds)
        gc.callbacks.remove(watch)


def test_concurrent_builds_of_two_caches_leave_the_collector_on():
    caches = [ExpositionCache(gauge_registry()[0], 0.0) for _ in range(2)]

    def scrape(cache):
        for _ in range(200):
            cache.get("")

    threads = [threading.Thread(target=scrape, args=(cache,)) for cache in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert gc.isenabled()
