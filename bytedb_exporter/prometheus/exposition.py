"""One /metrics view over the registries of every monitor the app serves."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from bytedb_exporter.metrics.scrape import consistent_scrape

log = logging.getLogger(__name__)


class MergedRegistries(Collector):
    """Collects the source registries (distinct ones) at scrape time; same-named families are merged,
    identical samples kept once."""

    def __init__(self, sources: Callable[[], Iterable[CollectorRegistry]]):
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        seen = set()
        with consistent_scrape():
            families = [family for registry in self._sources() for family in registry.collect()]
        for family in families:
            target = merged.get(family.name)
            if target is None:
                target = merged[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
            elif target.type != family.type:
                log.warning("metric %s has types %s and %s; keeping the first", family.name, target.type, family.type)
                continue
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in seen:
                    seen.add(key)
                    target.samples.append(sample)
        return iter(merged.values())


def exposition_registry(sources: Callable[[], Iterable[CollectorRegistry]]) -> CollectorRegistry:
    """What an exporter's /metrics serves: the sources merged at scrape time plus this process's own metrics."""
    exposition = CollectorRegistry(auto_describe=False)
    exposition.register(MergedRegistries(sources))
    ProcessCollector(registry=exposition)
    return exposition
