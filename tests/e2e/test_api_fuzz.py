"""The HTTP API holds docs/openapi.yaml under schemathesis: the demo, and a serve-mode coordinator with auth.

Each run is the schemathesis CLI against a real child process, with every check on (two exceptions
below, each with its reason) and a bounded number of examples per operation: the demo and the
bearer-token run go through every phase (examples, coverage, fuzzing, stateful over the alerts ->
acknowledge link), the basic-auth run through examples and coverage. `/api/stream` never ends, so
schemathesis reads two events of it and closes. The VCR cassette of each run is parsed here: every
request, its status and the outcome of every check. Seed: BYTEDB_FUZZ_SEED (default 1, so a run is
reproducible; a failure prints the request to replay).
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from processes import PYTHON, ROOT, Process, free_port_block, get_json, start_process, stop_process, wait_for
from support import free_port

pytestmark = pytest.mark.e2e

SPEC = ROOT / "docs" / "openapi.yaml"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SEED = int(os.environ.get("BYTEDB_FUZZ_SEED", "1"))
TOKEN = "fuzz-token-7f3a"
USER, PASSWORD = "admin", "fuzz-pass-91c2"


def common(examples: int) -> str:
    """Settings of every run: all checks, bounded examples, two events of the never-ending stream."""
    return f"""
seed = {SEED}
workers = 1
max-stream-events = 2
request-timeout = 10

[checks]
enabled = true

[generation]
max-examples = {examples}
database = "none"

[output]
sanitization = {{ enabled = false }}

[[operations]]
include-path = "/api/stream"
generation.max-examples = 4
"""


# The demo serves no auth (the spec's security is the configured case) and no ingest route, so POST
# /api/v1/events answers its declared 404 to every method, not 405.
DEMO = """
[checks.ignored_auth]
enabled = false

[[operations]]
include-path = "/api/v1/events"
checks.unsupported_method.enabled = false
"""
# Whether a schema-valid batch is accepted depends on the state (query_end needs an open query) and
# on the role (worker_id is required on the coordinator); a schema cannot say so. Negative data
# rejection stays on: a batch outside the schema must be refused.
INGEST = """
[[operations]]
include-path = "/api/v1/events"
checks.positive_data_acceptance.enabled = false
"""
BEARER = f"""
[auth.openapi.bearerAuth]
bearer = "{TOKEN}"
"""
# Basic auth over the examples and coverage phases only: the bearer run already fuzzes the same routes.
BASIC = f"""
[auth.openapi.basicAuth]
username = "{USER}"
password = "{PASSWORD}"

[phases.fuzzing]
enabled = false

[phases.stateful]
enabled = false
"""


@dataclass
class Fuzzed:
    """One schemathesis run: its exit code, console output and recorded interactions."""

    name: str
    code: int
    output: str
    interactions: list[dict[str, Any]]

    def statuses(self) -> Counter[int]:
        return Counter(int(i["response"]["status"]["code"]) for i in self.interactions if i.get("response"))

    def by_operation(self, method: str, path: str) -> Counter[int]:
        """Statuses of the requests to one path (the path without query string)."""
        return Counter(int(i["response"]["status"]["code"]) for i in self.interactions
                       if i.get("response") and i["request"]["method"] == method
                       and i["request"]["uri"].split("?")[0].endswith(path))

    def server_errors(self) -> list[str]:
        return [describe(i) for i in self.interactions
                if not i.get("response") or int(i["response"]["status"]["code"]) >= 500]

    def failures(self) -> list[str]:
        return [f"{check['name']}: {check['message']} <- {describe(i)}" for i in self.interactions
                for check in i["checks"] if check["status"] in ("FAILURE", "ERROR")]

    def checks_run(self) -> Counter[str]:
        return Counter(check["name"] for i in self.interactions for check in i["checks"])

    def summary(self) -> str:
        return (f"{self.name}: {len(self.interactions)} requests, statuses {dict(sorted(self.statuses().items()))}, "
                f"5xx {len(self.server_errors())}, check failures {len(self.failures())}")


def describe(interaction: dict[str, Any]) -> str:
    request, response = interaction["request"], interaction.get("response") or {}
    body = (request.get("body") or {}).get("string", "")
    status = (response.get("status") or {}).get("code", "no response")
    answer = (response.get("body") or {}).get("string", "")
    return f"{request['method']} {request['uri']} body={body[:300]!r} -> {status} {answer[:300]!r}"


def fuzz(name: str, base_url: str, tmp_path: Path, config: str, examples: int) -> Fuzzed:
    """Run schemathesis against base_url with this configuration; the cassette is parsed."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "schemathesis.toml").write_text(common(examples) + config)
    cassette = folder / "cassette.yaml"
    command = [str(SCHEMATHESIS), "--config-file", str(folder / "schemathesis.toml"), "run", str(SPEC),
               "--url", base_url, "--no-color", "--report", "vcr", "--report-vcr-path", str(cassette)]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=180)
    assert cassette.exists(), f"schemathesis wrote no cassette (exit {done.returncode})\n{done.stdout}\n{done.stderr}"
    recorded = yaml.load(cassette.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    fuzzed = Fuzzed(name, done.returncode, done.stdout + done.stderr, recorded["http_interactions"] or [])
    print(fuzzed.summary())
    return fuzzed


def assert_holds(fuzzed: Fuzzed) -> None:
    """No 5xx, no failed check, exit 0, and the checks really ran."""
    tail = fuzzed.output[-6000:]
    assert len(fuzzed.interactions) > 100, tail
    assert fuzzed.server_errors() == [], tail
    assert fuzzed.failures() == [], tail
    assert fuzzed.code == 0, tail
    ran = fuzzed.checks_run()
    for check in ("not_a_server_error", "status_code_conformance", "content_type_conformance",
                  "response_schema_conformance", "response_headers_conformance", "negative_data_rejection",
                  "unsupported_method"):
        assert ran[check] > 20, (check, ran)


# --------------------------------------------------------------------------- the demo

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz-demo")
    port = free_port()
    process = start_process("demo", [
        PYTHON, "-m", "bytedb_exporter.cli", "demo", "--port", str(port), "--worker-base-port",
        str(free_port_block(2)), "--workers", "2", "--qps", "10", "--stream-interval", "0.5",
        "--data-dir", str(tmp / "data")], tmp / "demo.log")
    base = f"http://127.0.0.1:{port}"

    def queries_ran() -> bool:
        process.assert_running()
        return get_json(f"{base}/api/overview")["total_queries"] > 5

    try:
        wait_for(queries_ran, 90, "demo queries", on_timeout=process.log_tail)
        yield base, process
    finally:
        stop_process(process, timeout=30)


def test_demo_holds_the_spec_under_fuzzing(demo, tmp_path):
    base, process = demo
    fuzzed = fuzz("demo", base, tmp_path, DEMO, examples=25)
    assert_holds(fuzzed)
    assert set(fuzzed.by_operation("POST", "/api/v1/events")) == {404}  # absent in the demo, as declared
    assert fuzzed.by_operation("GET", "/api/workers/worker-1")[200] > 0
    assert fuzzed.by_operation("GET", "/api/stream")[200] > 0
    process.assert_running()
    assert "Traceback" not in process.log_path.read_text(errors="replace")


# --------------------------------------------------------------------------- serve mode with auth

def post_events(base: str, events: list[dict[str, Any]]) -> int:
    request = urllib.request.Request(f"{base}/api/v1/events", data=json.dumps(events).encode(),
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def authorized(base: str, path: str) -> Any:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def serve(name: str, tmp: Path, config: dict[str, Any]) -> Process:
    path = tmp / f"{name}.yml"
    path.write_text(yaml.safe_dump(config))
    return start_process(name, [PYTHON, "-m", "bytedb_exporter.cli", "serve", "--config", str(path)],
                         tmp / f"{name}.log")


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory):
    """A coordinator with bearer and basic auth and ingest, polling a live worker exporter (worker-1)
    and a dead address (worker-2, offline), plus a pushed worker (worker-3) with a query behind it."""
    tmp = tmp_path_factory.mktemp("fuzz-serve")
    worker_port, port = free_port(), free_port()
    worker = serve("worker-1", tmp, {"role": "worker", "node_id": "worker-1", "listen": {"port": worker_port},
                                     "process": {"pid": os.getpid(), "sample_interval_seconds": 0.5}})
    coordinator = serve("coordinator", tmp, {
        "role": "coordinator", "node_id": "fuzz-coordinator", "listen": {"port": port},
        "workers": [{"id": "worker-1", "url": f"http://127.0.0.1:{worker_port}"},
                    {"id": "worker-2", "url": f"http://127.0.0.1:{free_port()}"}],
        "poll": {"interval_seconds": 1, "timeout_seconds": 0.5}, "stream_interval_seconds": 0.5,
        "ingest": {"enabled": True},
        "auth": {"bearer_token": TOKEN, "basic": {"username": USER, "password": PASSWORD}},
        "limits": {"max_workers": 8, "max_open_queries": 50, "max_body_bytes": 65536, "max_batch_events": 100}})
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        coordinator.assert_running()
        worker.assert_running()
        return authorized(base, "/api/cluster")["worker_statuses"].get("worker-1") == "healthy"

    try:
        wait_for(ready, 30, "the coordinator polling worker-1", on_timeout=coordinator.log_tail)
        assert post_events(base, [
            {"type": "heartbeat", "worker_id": "worker-3"},
            {"type": "query_start", "query_id": "q-1", "sql": "SELECT region, sum(amount) FROM sales GROUP BY region"},
            {"type": "query_end", "query_id": "q-1", "duration_ms": 12.5, "rows": 10,
             "phases": {"planning_ms": 1.0, "execution_ms": 10.0}}]) == 200
        yield base, coordinator
    finally:
        stop_process(coordinator)
        stop_process(worker)


def test_serve_mode_with_bearer_token_holds_the_spec_under_fuzzing(coordinator, tmp_path):
    base, process = coordinator
    fuzzed = fuzz("serve-bearer", base, tmp_path, INGEST + BEARER, examples=25)
    assert_holds(fuzzed)
    ran = fuzzed.checks_run()
    assert ran["ignored_auth"] > 20 and ran["positive_data_acceptance"] > 20, ran
    statuses = fuzzed.statuses()
    assert statuses[200] > 100 and statuses[401] > 20, statuses  # the token opens; no or wrong credentials do not
    assert {200, 400} <= set(fuzzed.by_operation("POST", "/api/v1/events")), fuzzed.summary()
    assert fuzzed.by_operation("GET", "/api/stream")[200] > 0
    assert fuzzed.by_operation("GET", "/metrics")[200] > 0
    process.assert_running()
    assert "Traceback" not in process.log_path.read_text(errors="replace")


def test_serve_mode_with_basic_auth_holds_the_spec_under_fuzzing(coordinator, tmp_path):
    base, process = coordinator
    fuzzed = fuzz("serve-basic", base, tmp_path, INGEST + BASIC, examples=5)
    assert_holds(fuzzed)
    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    opened = {urlsplit(i["request"]["uri"]).path for i in fuzzed.interactions
              if i["request"]["headers"].get("Authorization") == [basic] and i["response"]["status"]["code"] == "200"}
    assert {"/", "/api/overview", "/api/workers", "/api/queries", "/api/stream", "/api/v1/events"} <= opened, opened
    process.assert_running()
