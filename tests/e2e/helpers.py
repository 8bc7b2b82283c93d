"""Helpers for end-to-end tests that run real processes (the demo, Prometheus).

Everything here is bounded: every wait has a timeout, every started process runs in its own
process group and is stopped (SIGTERM, then SIGKILL of the whole group) by `stop_process`.
"""
from __future__ import annotations

import copy
import ctypes
import importlib.util
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import yaml

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


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


# --------------------------------------------------------------------------- waiting

def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5,
              on_timeout: Callable[[], str] = lambda: "") -> T:
    """Call `check` until it returns something truthy; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except (OSError, ValueError, urllib.error.URLError) as error:  # not up yet
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}\n{on_timeout()}")
        time.sleep(interval)


# --------------------------------------------------------------------------- ports

def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_block(count: int, attempts: int = 50) -> int:
    """First port of `count` consecutive ports on 127.0.0.1 that were free a moment ago."""
    for _ in range(attempts):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = sock.getsockname()[1]
        if base + count <= 65535 and all(port_is_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no block of {count} free ports found")


# --------------------------------------------------------------------------- processes

_PR_SET_PDEATHSIG = 1
try:  # loaded here, in the parent: no dlopen between fork and exec
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):
    _PRCTL = None


def _die_with_parent() -> None:
    """In the child (Linux): get SIGTERM when the test process dies, so nothing is left behind."""
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"[{self.name}: no log]"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last lines of {self.name} log ({self.log_path}) ---\n{tail}"

    def assert_running(self) -> None:
        code = self.popen.poll()
        if code is not None:
            raise AssertionError(f"{self.name} exited with code {code}\n{self.log_tail()}")


def start_process(name: str, argv: Sequence[str], log_path: Path, cwd: Path | None = None,
                  env: dict | None = None) -> Process:
    """Start `argv` in a new session (own process group), stdout+stderr to `log_path`."""
    log = open(log_path, "wb")  # noqa: SIM115 - the child keeps it; closed when we close ours below
    try:
        popen = subprocess.Popen(
            list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=str(cwd) if cwd else None, env=env, start_new_session=True,
            # prctl only, no locks or allocation in the child: safe despite threads in the parent.
            preexec_fn=_die_with_parent if _PRCTL is not None else None,  # noqa: PLW1509
        )
    finally:
        log.close()
    return Process(name, popen, log_path)


def _signal_group(popen: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(popen.pid, sig)  # the child is its own group leader (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def stop_process(process: Process, timeout: float = 15.0) -> int | None:
    """SIGTERM the process group, wait up to `timeout`, then SIGKILL the group. Returns the exit code."""
    popen = process.popen
    if popen.poll() is None:
        _signal_group(popen, signal.SIGTERM)
        try:
            popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    # Whatever is left in the group (e.g. worker processes of the demo) goes now.
    _signal_group(popen, signal.SIGKILL)
    try:
        popen.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    return popen.returncode


# --------------------------------------------------------------------------- HTTP

def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def http_post(url: str, timeout: float = 5.0) -> int:
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class PrometheusAPI:
    """The few calls of the Prometheus HTTP API the tests need."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def get(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        status, body = http_get(f"{self.base_url}{path}" + (f"?{query}" if query else ""), timeout=10)
        payload = json.loads(body)
        if status != 200 or payload.get("status") != "success":
            raise PromQLError(f"{path} {params}: HTTP {status}: {payload.get('errorType')}: {payload.get('error')}")
        return payload["data"]

    def ready(self) -> bool:
        status, _ = http_get(f"{self.base_url}/-/ready", timeout=2)
        return status == 200

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
