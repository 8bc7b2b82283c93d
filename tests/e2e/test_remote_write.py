"""deploy/prometheus-remote-write.yml: Prometheus writes our series to a real VictoriaMetrics.

The demo (3 worker exporters); VictoriaMetrics on a free port; a Prometheus started from the shipped
remote_write config, its /api/sd URL pointed at the demo and its remote_write URL at VictoriaMetrics,
with 1 s scrapes and evaluations. VictoriaMetrics' Prometheus-compatible query API then answers our
raw series (every worker, with the `cluster` external label) and a recording rule, and holds nothing
that the write_relabel_configs filter drops.

Needs the Debian packages `prometheus` and `victoria-metrics`: skipped without them, failed with CI=true.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from processes import ROOT, Process, http_get, start_process, stop_process, wait_for
from prometheus_stack import PrometheusAPI, start_demo, start_prometheus, stop_prometheus, write_config
from support import free_port, require_binary

pytestmark = pytest.mark.e2e

SHIPPED = ROOT / "deploy" / "prometheus-remote-write.yml"


def start_victoria_metrics(binary: str, workdir: Path) -> tuple[Process, PrometheusAPI]:
    """VictoriaMetrics on a free port; no latency offset, so just-written samples are queryable."""
    port = free_port()
    process = start_process("victoria-metrics", [
        binary, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={workdir / 'vm-data'}",
        "-retentionPeriod=1d", "-search.latencyOffset=0s", "-search.disableCache",
    ], workdir / "victoria-metrics.log", cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: (process.assert_running(), http_get(f"{url}/health", timeout=2).status == 200)[1], 30,
             "victoria-metrics to be ready", on_timeout=process.log_tail)
    return process, PrometheusAPI(url)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    prometheus_bin = require_binary("prometheus", "prometheus")
    promtool = require_binary("promtool", "prometheus")
    vm_bin = require_binary("victoria-metrics", "victoria-metrics")
    tmp = tmp_path_factory.mktemp("remote-write")
    parts: dict[str, Any] = {}
    try:
        parts["vm"] = start_victoria_metrics(vm_bin, tmp)
        demo = parts["demo"] = start_demo(tmp, workers=3, qps=5)
        config = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
        config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
        config["rule_files"] = [str((SHIPPED.parent / p).resolve()) for p in config["rule_files"]]
        (job,) = config["scrape_configs"]
        job["http_sd_configs"][0].update(url=f"{demo.url}/api/sd", refresh_interval="1s")
        (remote,) = config["remote_write"]
        remote["url"] = f"{parts['vm'][1].base_url}/api/v1/write"
        remote["queue_config"]["batch_send_deadline"] = "1s"
        path = write_config(config, tmp / "prometheus.yml", promtool)
        parts["prometheus"] = start_prometheus(prometheus_bin, path, tmp)
        yield parts
    finally:
        if "prometheus" in parts:
            stop_prometheus(*parts["prometheus"])
        if "demo" in parts:
            stop_process(parts["demo"].process)
        if "vm" in parts:
            stop_process(parts["vm"][0])


def test_victoria_metrics_answers_our_series(stack: dict[str, Any]) -> None:
    _, vm = stack["vm"]
    cluster = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))["global"]["external_labels"]["cluster"]
    up = wait_for(lambda: (r := vm.query("max by (worker_id, cluster) (bytedb_worker_process_up)")) and len(r) == 3
                  and r, 40, "every worker's bytedb_worker_process_up in VictoriaMetrics",
                  on_timeout=lambda: stack["prometheus"][0].log_tail())
    assert {s["metric"]["worker_id"] for s in up} == {"worker-1", "worker-2", "worker-3"}
    assert {s["metric"]["cluster"] for s in up} == {cluster}
    assert all(float(s["value"][1]) == 1 for s in up), up
    targets = wait_for(lambda: (r := vm.query('up{job="bytedb"}')) and len(r) == 4 and r, 20, "up of the 4 targets")
    assert {s["metric"]["role"] for s in targets} == {"coordinator", "worker"}
    rule = wait_for(lambda: vm.query("bytedb:workers_by_state:count"), 20, "a recording rule in VictoriaMetrics")
    assert sum(float(s["value"][1]) for s in rule) == 3, rule
    # Dropped by write_relabel_configs: Prometheus' own series about the scrape.
    assert vm.query("scrape_samples_scraped") == []
    assert vm.query('count({__name__=~"python_.+|process_.+"})') == []
