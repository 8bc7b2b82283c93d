"""Prometheus HTTP SD through /api/sd, proved with a real Prometheus over the demo.

The demo (3 worker exporters) and a serve-mode coordinator polling the demo's worker exporters,
with a bearer token on its API. One Prometheus started from deploy/prometheus-http-sd.yml has one
http_sd job per coordinator (the serve-mode one with the token): every target of both is discovered
and up, with the role and node labels of /api/sd. The serve-mode coordinator is then restarted
with worker-3 taken out of its config: worker-3's target leaves that job within refresh_interval
(plus a scrape), while the other targets stay up.

Needs the Debian package `prometheus`: skipped without it, failed with CI=true.
"""
from __future__ import annotations

import copy
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from processes import ROOT, Process, get_json, http_get, start_process, stop_process, wait_for
from prometheus_stack import PrometheusAPI, start_demo, start_prometheus, stop_prometheus, write_config
from support import free_port, require_binary

pytestmark = pytest.mark.e2e

SHIPPED = ROOT / "deploy" / "prometheus-http-sd.yml"
TOKEN = "sd-test-token"
REFRESH = 2  # seconds, the serve-mode job's refresh_interval


def start_coordinator(workdir: Path, port: int, workers: dict[str, str]) -> Process:
    config = {"role": "coordinator", "node_id": "serve-coordinator", "listen": {"port": port},
              "workers": [{"id": wid, "url": url} for wid, url in workers.items()],
              "poll": {"interval_seconds": 1, "timeout_seconds": 1}, "auth": {"bearer_token": TOKEN}}
    path = workdir / "coordinator.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    process = start_process("coordinator", [sys.executable, "-m", "bytedb_exporter.cli", "serve", "--config",
                                            str(path)], workdir / "coordinator.log", cwd=ROOT)
    wait_for(lambda: (process.assert_running(), http_get(f"http://127.0.0.1:{port}/healthz", timeout=2).status
                      == 200)[1], 30, "the serve-mode coordinator", on_timeout=process.log_tail)
    return process


def sd_config(demo_url: str, serve_url: str, token_file: Path) -> dict[str, Any]:
    """The shipped http_sd config with 1 s scrapes and two jobs: the demo's /api/sd and the serve-mode one's."""
    config = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    config["rule_files"] = [str((SHIPPED.parent / p).resolve()) for p in config["rule_files"]]
    (job,) = config["scrape_configs"]
    demo_job = copy.deepcopy(job)
    demo_job["job_name"] = "bytedb-demo"
    demo_job["http_sd_configs"][0].update(url=f"{demo_url}/api/sd", refresh_interval="1s")
    serve_job = copy.deepcopy(job)
    serve_job["job_name"] = "bytedb-serve"
    serve_job["http_sd_configs"][0].update(url=f"{serve_url}/api/sd", refresh_interval=f"{REFRESH}s",
                                           authorization={"type": "Bearer", "credentials_file": str(token_file)})
    config["scrape_configs"] = [demo_job, serve_job]
    return config


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    prometheus_bin = require_binary("prometheus", "prometheus")
    promtool = require_binary("promtool", "prometheus")
    tmp = tmp_path_factory.mktemp("http-sd")
    parts: dict[str, Any] = {"tmp": tmp}
    try:
        demo = parts["demo"] = start_demo(tmp, workers=3, qps=5)
        port = parts["serve_port"] = free_port()
        parts["coordinator"] = start_coordinator(tmp, port, demo.worker_urls)
        token_file = tmp / "token"
        token_file.write_text(TOKEN, encoding="utf-8")
        config = write_config(sd_config(demo.url, f"http://127.0.0.1:{port}", token_file), tmp / "prometheus.yml",
                              promtool)
        parts["prometheus"], parts["api"] = start_prometheus(prometheus_bin, config, tmp)
        yield parts
    finally:
        if "prometheus" in parts:
            stop_prometheus(parts["prometheus"], parts["api"])
        if "coordinator" in parts:
            stop_process(parts["coordinator"])
        if "demo" in parts:
            stop_process(parts["demo"].process)


def targets_by_job(api: PrometheusAPI) -> dict[str, dict[str, dict[str, Any]]]:
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for target in api.targets():
        found.setdefault(target["labels"]["job"], {})[target["labels"]["node"]] = target
    return found


def test_every_target_is_discovered_and_up_and_a_removed_worker_drops_out(stack: dict[str, Any]) -> None:
    demo, api, port = stack["demo"], stack["api"], stack["serve_port"]
    everyone = {"coordinator", "worker-1", "worker-2", "worker-3"}
    served = {"serve-coordinator", "worker-1", "worker-2", "worker-3"}
    # /api/sd of the serve-mode coordinator is refused without the token Prometheus was given.
    assert http_get(f"http://127.0.0.1:{port}/api/sd").status == 401

    def all_up() -> dict[str, dict[str, dict[str, Any]]]:
        jobs = targets_by_job(api)
        ok = {job: {n for n, t in targets.items() if t["health"] == "up"} for job, targets in jobs.items()}
        return jobs if ok == {"bytedb-demo": everyone, "bytedb-serve": served} else {}

    jobs = wait_for(all_up, 40, "every discovered target up",
                    on_timeout=lambda: f"{targets_by_job(api)}\n{stack['prometheus'].log_tail()}")
    for job, coordinator_url in (("bytedb-demo", demo.url), ("bytedb-serve", f"http://127.0.0.1:{port}")):
        for node, target in jobs[job].items():
            url = coordinator_url if node.endswith("coordinator") else demo.worker_urls[node]
            assert target["labels"]["instance"] == url.removeprefix("http://"), target
            assert target["labels"]["role"] == ("coordinator" if node.endswith("coordinator") else "worker")
            assert target["scrapeUrl"] == f"{url}/metrics"
    assert len(get_json(f"{demo.url}/api/sd")) == 4
    # What the targets serve: each worker target's own worker_id, as with the static prometheus.yml.
    series = api.query('bytedb_worker_load{job="bytedb-demo", role="worker"}')
    assert sorted((s["metric"]["node"], s["metric"]["worker_id"]) for s in series) == \
        [(w, w) for w in ("worker-1", "worker-2", "worker-3")], series

    # worker-3 taken out of the serve-mode coordinator's config (restart: serve reads its config at start).
    stop_process(stack["coordinator"])
    removed_at = time.monotonic()
    stack["coordinator"] = start_coordinator(stack["tmp"], port, {w: u for w, u in demo.worker_urls.items()
                                                                  if w != "worker-3"})

    def dropped() -> bool:
        jobs = targets_by_job(api)
        return set(jobs.get("bytedb-serve", {})) == served - {"worker-3"} and all(
            t["health"] == "up" for t in jobs["bytedb-serve"].values()) and set(jobs["bytedb-demo"]) == everyone

    wait_for(dropped, 30, "worker-3 to leave the bytedb-serve job", interval=0.25,
             on_timeout=lambda: str(targets_by_job(api)))
    elapsed = time.monotonic() - removed_at
    # Restart (< 5 s) + one refresh_interval + a scrape; far below the default 1 m refresh.
    assert elapsed < 15, elapsed
