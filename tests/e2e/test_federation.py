"""deploy/prometheus-federation.yml: a global Prometheus federating the recording rules of two clusters.

Two per-cluster Prometheus servers (the shipped prometheus.yml, 1 s scrapes and evaluations, external
labels cluster=east and cluster=west) scrape the demo; a third, started from the shipped federation
config with its targets pointed at them, pulls `{__name__=~"bytedb:.*"}` through /federate. The global
one answers a recording rule per cluster with the same value as the cluster's own server, and holds
no raw bytedb_* series.

Needs the Debian package `prometheus`: skipped without it, failed with CI=true.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from processes import ROOT, stop_process, wait_for
from prometheus_stack import prometheus_test_config, start_demo, start_prometheus, stop_prometheus, write_config
from support import require_binary

pytestmark = pytest.mark.e2e

SHIPPED = ROOT / "deploy" / "prometheus-federation.yml"
CLUSTERS = ("east", "west")
RULE = "bytedb:workers_by_state:count"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    prometheus_bin = require_binary("prometheus", "prometheus")
    promtool = require_binary("promtool", "prometheus")
    tmp = tmp_path_factory.mktemp("federation")
    parts: dict[str, Any] = {"clusters": {}}
    try:
        demo = parts["demo"] = start_demo(tmp, workers=3, qps=5)
        ports = [int(u.rsplit(":", 1)[1]) for u in demo.worker_urls.values()]
        shipped = ROOT / "prometheus.yml"
        for cluster in CLUSTERS:
            config = prometheus_test_config(shipped, int(demo.url.rsplit(":", 1)[1]), ports)
            config["global"]["external_labels"]["cluster"] = cluster
            path = write_config(config, tmp / f"prometheus-{cluster}.yml", promtool)
            parts["clusters"][cluster] = start_prometheus(prometheus_bin, path, tmp, name=f"prometheus-{cluster}")
        config = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
        config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
        (job,) = config["scrape_configs"]
        job["static_configs"] = [{"targets": [api.base_url.removeprefix("http://")
                                              for _, api in parts["clusters"].values()]}]
        path = write_config(config, tmp / "prometheus-global.yml", promtool)
        parts["global"] = start_prometheus(prometheus_bin, path, tmp, name="prometheus-global")
        yield parts
    finally:
        for process, api in [*parts["clusters"].values(), *([parts["global"]] if "global" in parts else [])]:
            stop_prometheus(process, api)
        if "demo" in parts:
            stop_process(parts["demo"].process)


def by_cluster(result: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    return {(s["metric"].get("cluster", ""), s["metric"].get("state", "")): float(s["value"][1]) for s in result}


def test_the_global_prometheus_answers_recording_rules_per_cluster(stack: dict[str, Any]) -> None:
    _, global_api = stack["global"]
    def every_worker_of_both_clusters() -> dict[tuple[str, str], float] | None:
        # One state per worker, three workers per cluster; right after start a cluster's first evaluation
        # may count the workers its coordinator has seen so far, so wait for all three.
        found = by_cluster(global_api.query(RULE))
        totals = {cluster: sum(v for (c, _), v in found.items() if c == cluster) for cluster in CLUSTERS}
        return found if all(total == 3 for total in totals.values()) else None

    got = wait_for(every_worker_of_both_clusters, 40, f"{RULE} of both clusters' 3 workers on the global Prometheus",
                   on_timeout=lambda: str(global_api.targets()))
    assert {c for c, _ in got} == set(CLUSTERS)
    for cluster, (_, api) in stack["clusters"].items():
        # The cluster's own server has no cluster label on the series (it is an external label); the
        # global copy lags by a scrape, so the two agree once the cluster's value holds still.
        def same(cluster: str = cluster, api: Any = api) -> bool:
            own = {state: v for (_, state), v in by_cluster(api.query(RULE)).items()}
            return own == {s: v for (c, s), v in by_cluster(global_api.query(RULE)).items() if c == cluster}

        wait_for(same, 20, f"the global {RULE} of {cluster} to match its own server's")
    federated = global_api.query('count by (cluster) ({__name__=~"bytedb:.+"})')
    assert {s["metric"]["cluster"] for s in federated} == set(CLUSTERS)
    assert global_api.query('count({__name__=~"bytedb_.+"})') == []  # raw series stay in the clusters
