"""Talking to a real Prometheus in end-to-end tests: its HTTP API and a test copy of prometheus.yml."""
from __future__ import annotations

import copy
import importlib.util
import math
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import yaml
from processes import ROOT, Process, free_port_block, http_get, http_post, start_process, stop_process, wait_for
from support import free_port


def load_module(path: Path, name: str) -> ModuleType:
    """Import a file under a unique module name (no clash between several conftest/helpers)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class PrometheusAPI:
    """The few calls of the Prometheus HTTP API the tests need."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def get(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        response = http_get(f"{self.base_url}{path}" + (f"?{query}" if query else ""), timeout=10)
        payload = response.json()
        if response.status != 200 or payload.get("status") != "success":
            raise PromQLError(f"{path} {params}: HTTP {response.status}: {payload.get('errorType')}: "
                              f"{payload.get('error')}")
        return payload["data"]

    def ready(self) -> bool:
        return http_get(f"{self.base_url}/-/ready", timeout=2).status == 200

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant vector (or a scalar wrapped as one sample) of `expr`."""
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.get("/api/v1/query", **params)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        if data["resultType"] == "matrix":  # a range selector: keep the last point of each series
            return [{"metric": s["metric"], "value": s["values"][-1]} for s in data["result"] if s["values"]]
        return data["result"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        return self.get("/api/v1/query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}",
                        step=f"{step}")["result"]

    def targets(self) -> list[dict[str, Any]]:
        return self.get("/api/v1/targets", state="active")["activeTargets"]

    def rule_groups(self) -> list[dict[str, Any]]:
        return self.get("/api/v1/rules")["groups"]

    def label_values(self, label: str, match: str) -> list[str]:
        return self.get(f"/api/v1/label/{label}/values", **{"match[]": match})


class PromQLError(RuntimeError):
    pass


def finite_values(result: list[dict[str, Any]]) -> list[float]:
    """The finite sample values of an instant query result (NaN / Inf dropped)."""
    values = [float(sample["value"][1]) for sample in result]
    return [v for v in values if math.isfinite(v)]


# --------------------------------------------------------------------------- Prometheus config

def prometheus_test_config(shipped: Path, coordinator_port: int, worker_ports: Sequence[int],
                           interval: str = "1s") -> dict[str, Any]:
    """The shipped prometheus.yml with real ports, `interval` scrapes/evaluations, absolute rule paths.

    Jobs, labels and rule_files keep their structure: only targets, the intervals (and
    scrape_timeout, which may not exceed the scrape interval) and the rule paths change. The
    coordinator job is the one whose targets carry role=coordinator; the worker targets are
    mapped in order onto `worker_ports`.
    """
    config = copy.deepcopy(yaml.safe_load(shipped.read_text(encoding="utf-8")))
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    config["global"]["scrape_timeout"] = interval
    config["rule_files"] = [str((shipped.parent / pattern).resolve()) if not os.path.isabs(pattern) else pattern
                            for pattern in config.get("rule_files", [])]
    ports = iter(worker_ports)
    seen_workers = 0
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            role = static.get("labels", {}).get("role")
            if role == "coordinator":
                static["targets"] = [f"127.0.0.1:{coordinator_port}"]
            elif role == "worker":
                new_targets = []
                for _ in static["targets"]:
                    new_targets.append(f"127.0.0.1:{next(ports)}")
                    seen_workers += 1
                static["targets"] = new_targets
            else:
                raise AssertionError(f"target group without a known role label in {shipped}: {static}")
    if seen_workers != len(worker_ports):
        raise AssertionError(f"{shipped} has {seen_workers} worker targets, the demo runs {len(worker_ports)}")
    return config


# --------------------------------------------------------------------------- starting the parts

def write_config(config: dict[str, Any], path: Path, promtool: str | None = None) -> Path:
    """Write a Prometheus config; with `promtool`, assert it passes `promtool check config`."""
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    if promtool:
        check = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True,
                               timeout=60, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
    return path


def start_prometheus(binary: str, config_path: Path, workdir: Path, name: str = "prometheus",
                     extra: Sequence[str] = ()) -> tuple[Process, PrometheusAPI]:
    """A Prometheus on a free port with its own TSDB under `workdir`; waits until it is ready."""
    port = free_port()
    api = PrometheusAPI(f"http://127.0.0.1:{port}")
    process = start_process(name, [
        binary, "--config.file", str(config_path), "--storage.tsdb.path", str(workdir / f"{name}-tsdb"),
        "--web.listen-address", f"127.0.0.1:{port}", "--web.enable-lifecycle", *extra,
    ], workdir / f"{name}.log", cwd=workdir)

    def ready() -> bool:
        process.assert_running()
        return api.ready()

    wait_for(ready, 30, f"{name} to be ready", on_timeout=process.log_tail)
    return process, api


def stop_prometheus(process: Process, api: PrometheusAPI) -> None:
    """Quit through the lifecycle API, then signals for whatever is left."""
    if process.popen.poll() is None:
        try:
            http_post(f"{api.base_url}/-/quit", timeout=2)
            process.popen.wait(timeout=10)
        except Exception:  # noqa: BLE001, S110 - stop_process below stops it anyway
            pass
    stop_process(process)


class Demo(NamedTuple):
    process: Process
    url: str
    worker_urls: dict[str, str]  # worker_id -> base URL of its exporter


def start_demo(workdir: Path, workers: int = 3, qps: float = 10, duration: float = 300,
               extra: Sequence[str] = ()) -> Demo:
    """`bytedb-exporter demo` on free ports (ending by itself after `duration`); waits until every exporter answers."""
    port, worker_base = free_port(), free_port_block(workers)
    process = start_process("demo", [
        sys.executable, "-m", "bytedb_exporter.cli", "demo", "--port", str(port),
        "--worker-base-port", str(worker_base), "--workers", str(workers), "--qps", str(qps),
        "--duration", str(duration), "--data-dir", str(workdir / "demo-data"), *extra,
    ], workdir / "demo.log", cwd=ROOT)
    demo = Demo(process, f"http://127.0.0.1:{port}",
                {f"worker-{i + 1}": f"http://127.0.0.1:{worker_base + i}" for i in range(workers)})

    def up() -> bool:
        process.assert_running()
        return all(http_get(f"{url}/healthz", timeout=2).status == 200
                   for url in [demo.url, *demo.worker_urls.values()])

    wait_for(up, 60, "the demo's exporters to answer", on_timeout=process.log_tail)
    return demo
