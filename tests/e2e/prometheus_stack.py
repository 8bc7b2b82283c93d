"""Talking to a real Prometheus in end-to-end tests: its HTTP API and a test copy of prometheus.yml."""
from __future__ import annotations

import copy
import importlib.util
import math
import os
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from processes import http_get


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
