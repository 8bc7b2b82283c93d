"""One /metrics view over the registries of every monitor the app serves."""
from __future__ import annotations

import logging
from typing import Callable, Dict, Iterable, Iterator

from flask import Response
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from ..scrape import consistent_scrape

log = logging.getLogger(__name__)


class MergedRegistries(Collector):
    """Collects the source registries (distinct ones) at scrape time; same-named families are merged,
    identical samples kept once."""

    def __init__(self, sources: Callable[[], Iterable[CollectorRegistry]]):
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        merged: Dict[str, Metric] = {}
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


def metrics_response(exposition: CollectorRegistry, accept: str) -> Response:
    """The exposition in the format the Accept header asks for (OpenMetrics or text 0.0.4)."""
    encoder, content_type = choose_encoder(accept)
    return Response(encoder(exposition), content_type=content_type)
