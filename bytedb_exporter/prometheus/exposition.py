"""One /metrics view over the registries of every monitor the app serves."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, ProcessCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from bytedb_exporter.cluster.collectors import counting_failures
from bytedb_exporter.metrics.registry import NAMESPACE
from bytedb_exporter.metrics.scrape import consistent_scrape

log = logging.getLogger(__name__)
SCRAPE_COLLECTORS = ("worker", "cluster", "registry")


class MergedRegistries(Collector):
    """Collects the source registries (distinct ones) at scrape time; same-named families are merged,
    identical samples kept once.

    What a scrape leaves out is logged and counted in bytedb_scrape_errors_total{collector}: a family
    or a worker the worker or cluster collector could not build, or a whole source registry that
    raised (`registry`; the families it yielded before and every other registry are still served).
    """

    def __init__(self, sources: Callable[[], Iterable[CollectorRegistry]]):
        self._sources = sources
        self._own = CollectorRegistry(auto_describe=False)
        errors = Counter(f"{NAMESPACE}_scrape_errors", "Scrape-time failures whose families were left out of "
                         "/metrics, by collector (worker, cluster, registry).", ["collector"], registry=self._own)
        self._errors = {collector: errors.labels(collector=collector) for collector in SCRAPE_COLLECTORS}

    def collect(self) -> Iterator[Metric]:
        families: list[Metric] = []
        with consistent_scrape(), counting_failures() as failures:
            for registry in self._sources():
                try:
                    for family in registry.collect():
                        families.append(family)
                except Exception:
                    log.exception("a source registry failed at scrape time; its remaining families were left out")
                    failures["registry"] += 1
        for collector, count in failures.items():
            self._errors[collector].inc(count)
        return iter(_merge([*families, *self._own.collect()]).values())


def _merge(families: Iterable[Metric]) -> dict[str, Metric]:
    """Families by name with their samples merged; an identical sample is kept once.

    A name's first family is taken as it is (its samples are distinct already); only when the same
    name comes again are that name's sample keys built, so the usual scrape of distinct names pays nothing."""
    merged: dict[str, Metric] = {}
    seen: dict[str, set[tuple[str, frozenset[tuple[str, str]]]]] = {}
    for family in families:
        target = merged.get(family.name)
        if target is None:
            merged[family.name] = family
            continue
        if target.type != family.type:
            log.warning("metric %s has types %s and %s; keeping the first", family.name, target.type, family.type)
            continue
        keys = seen.get(family.name)
        if keys is None:
            first = target  # copied, never changed: a collector may hand out the same family again
            target = merged[family.name] = Metric(first.name, first.documentation, first.type, first.unit)
            target.samples = list(first.samples)
            keys = seen[family.name] = {_key(sample) for sample in target.samples}
        for sample in family.samples:
            key = _key(sample)
            if key not in keys:
                keys.add(key)
                target.samples.append(sample)
    return merged


def _key(sample: Sample) -> tuple[str, frozenset[tuple[str, str]]]:
    return sample.name, frozenset(sample.labels.items())


def exposition_registry(sources: Callable[[], Iterable[CollectorRegistry]]) -> CollectorRegistry:
    """What an exporter's /metrics serves: the sources merged at scrape time plus this process's own metrics."""
    exposition = CollectorRegistry(auto_describe=False)
    exposition.register(MergedRegistries(sources))
    ProcessCollector(registry=exposition)
    return exposition
