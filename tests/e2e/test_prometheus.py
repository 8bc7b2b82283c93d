"""Proof with a real Prometheus: the demo cluster, scraped with the shipped prometheus.yml and rules.

One module-scoped stack: `bytedb-exporter demo` (3 SQLite worker processes, the coordinator
exporter and 3 worker exporters) and a Prometheus 2.x started from a copy of prometheus.yml with
the real ports and 1 s scrape/evaluation intervals. Then, against that Prometheus:

* every target is up, and the alert and recording rules load with health ok;
* every Grafana panel query and every dashboard variable returns data;
* every recording rule returns data (worker rules: one series per worker, i.e. deduplicated);
* the load balance score computed in PromQL equals the exporter's;
* `promtool check metrics` has nothing to say about any exporter's /metrics.

Needs the Debian package `prometheus` (prometheus + promtool): skipped without it, failed with CI=true.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from processes import ROOT, Process, free_port_block, http_get, http_post, start_process, stop_process, wait_for
from prometheus_stack import PrometheusAPI, PromQLError, finite_values, load_module, prometheus_test_config
from support import free_port, require_binary

generate = load_module(ROOT / "grafana" / "generate.py", "_bytedb_grafana_generate")

pytestmark = pytest.mark.e2e

WORKERS = 3
WORKER_IDS = {f"worker-{i}" for i in range(1, WORKERS + 1)}  # the demo numbers its workers from 1
COORDINATOR_JOB = "bytedb-coordinator"
RECORDING_RULES = ROOT / "rules" / "bytedb-recording.yml"
RULE_FILES = sorted((ROOT / "rules").glob("*.yml"))
DATA_TIMEOUT = 60  # seconds to wait for series to appear
# What Grafana would substitute: every worker / query type selected, a rate window that holds
# plenty of 1 s scrapes.
GRAFANA_VALUES = {"$__rate_interval": "30s", "$__interval": "1s", "$worker": ".*", "$query_type": ".*"}

# Panel queries that may legitimately return nothing against a healthy demo, keyed by
# (dashboard uid, panel title, refId), with the reason.
MAY_BE_EMPTY = {
    ("bytedb-cluster-overview", "Active alerts (exporter)", "A"):
        "`> 0` keeps only alerts the coordinator raises; a balanced, healthy demo raises none",
    ("bytedb-cluster-overview", "Firing Prometheus alerts", "A"):
        "ALERTS{alertstate=\"firing\"} exists only while an alert fires; none should in a healthy demo",
}


# --------------------------------------------------------------------------- the stack

class Stack:
    def __init__(self, demo: Process, prometheus: Process, api: PrometheusAPI, coordinator_port: int,
                 worker_ports: list[int], config_path: Path) -> None:
        self.demo, self.prometheus, self.api = demo, prometheus, api
        self.coordinator_port, self.worker_ports, self.config_path = coordinator_port, worker_ports, config_path

    @property
    def exporter_urls(self) -> dict[str, str]:
        urls = {"coordinator": f"http://127.0.0.1:{self.coordinator_port}/metrics"}
        urls.update({f"worker-{i}": f"http://127.0.0.1:{port}/metrics" for i, port in enumerate(self.worker_ports, 1)})
        return urls

    def logs(self) -> str:
        return f"{self.demo.log_tail()}\n{self.prometheus.log_tail()}"

    def assert_running(self) -> None:
        self.demo.assert_running()
        self.prometheus.assert_running()


def _answers(url: str) -> bool:
    return http_get(url, timeout=2).status == 200


@pytest.fixture(scope="module")
def binaries() -> dict[str, str]:
    return {"prometheus": require_binary("prometheus", "prometheus"),
            "promtool": require_binary("promtool", "prometheus")}


@pytest.fixture(scope="module")
def stack(binaries: dict[str, str], tmp_path_factory: pytest.TempPathFactory,
          request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The demo and a Prometheus scraping it; both always stopped at the end."""
    tmp = tmp_path_factory.mktemp("prometheus-e2e")
    started: list[Process] = []

    def stop_all() -> None:
        # Prometheus first (it has nothing to scrape afterwards), via the lifecycle API, then signals.
        for process in reversed(started):
            if process.name == "prometheus" and process.popen.poll() is None:
                try:
                    http_post(f"{api.base_url}/-/quit", timeout=2)
                    process.popen.wait(timeout=10)
                except Exception:  # noqa: BLE001, S110 - the signals below stop it anyway
                    pass
            stop_process(process)

    request.addfinalizer(stop_all)

    coordinator_port = free_port()
    worker_base = free_port_block(WORKERS)
    worker_ports = [worker_base + i for i in range(WORKERS)]
    demo = start_process("demo", [
        sys.executable, "-m", "bytedb_exporter.cli", "demo",
        "--port", str(coordinator_port), "--worker-base-port", str(worker_base),
        "--workers", str(WORKERS), "--qps", "15",
        # A safety net: the demo ends by itself even if this process is killed before the finalizer.
        "--duration", "600", "--data-dir", str(tmp / "data"),
    ], tmp / "demo.log", cwd=ROOT)
    started.append(demo)

    config = prometheus_test_config(ROOT / "prometheus.yml", coordinator_port, worker_ports)
    config_path = tmp / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    check = subprocess.run([binaries["promtool"], "check", "config", str(config_path)],
                           capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr

    prometheus_port = free_port()
    api = PrometheusAPI(f"http://127.0.0.1:{prometheus_port}")
    prometheus = start_process("prometheus", [
        binaries["prometheus"], "--config.file", str(config_path),
        "--storage.tsdb.path", str(tmp / "tsdb"),
        "--web.listen-address", f"127.0.0.1:{prometheus_port}", "--web.enable-lifecycle",
        "--enable-feature=exemplar-storage",
    ], tmp / "prometheus.log", cwd=tmp)
    started.append(prometheus)

    def up() -> bool:
        demo.assert_running()
        prometheus.assert_running()
        return all(_answers(url) for url in
                   [f"http://127.0.0.1:{coordinator_port}/metrics",
                    *(f"http://127.0.0.1:{p}/healthz" for p in worker_ports)]) and api.ready()

    stack = Stack(demo, prometheus, api, coordinator_port, worker_ports, config_path)
    wait_for(up, 60, "the demo exporters and Prometheus to answer", on_timeout=stack.logs)

    def warm() -> bool:
        # 3 scrapes of every target: any rate() then has 2 samples, and the rules ran after them.
        stack.assert_running()
        scrapes = [float(s["value"][1]) for s in api.query('count_over_time(up{job=~"bytedb.*"}[1m])')]
        return len(scrapes) == 1 + WORKERS and min(scrapes) >= 3

    wait_for(warm, 30, "3 scrapes of every target", on_timeout=stack.logs)
    yield stack


# --------------------------------------------------------------------------- helpers

def has_data(result: list[dict[str, Any]]) -> bool:
    """A finite value; for per-worker results, a finite value for every worker of the demo."""
    finite = [s for s in result if math.isfinite(float(s["value"][1]))]
    workers = {s["metric"]["worker_id"] for s in finite if "worker_id" in s["metric"]}
    per_worker = any("worker_id" in s["metric"] for s in result)
    return bool(finite) and (not per_worker or workers == WORKER_IDS)


def poll_until_all_have_data(stack: Stack, exprs: dict[Any, str], optional: set[Any] = frozenset(),
                             timeout: float = DATA_TIMEOUT,
                             complete: dict[Any, Callable[[list[dict[str, Any]]], bool]] | None = None,
                             ) -> dict[Any, list[dict[str, Any]]]:
    """Query every expression until each non-optional one `has_data` (and passes its `complete`
    check, if any); return the last results."""
    results: dict[Any, list[dict[str, Any]]] = {}
    errors: dict[Any, str] = {}
    extra = complete or {}

    def ok(key: Any) -> bool:
        result = results.get(key, [])
        return has_data(result) and extra.get(key, lambda r: True)(result)

    def done() -> bool:
        stack.assert_running()
        for key, expr in exprs.items():
            if key in results and ok(key):
                continue  # once there, stays there (counters and gauges keep their series)
            try:
                results[key] = stack.api.query(expr)
                errors.pop(key, None)
            except PromQLError as error:
                errors[key] = str(error)
        if errors:
            raise AssertionError("PromQL errors:\n" + "\n".join(f"{k}: {v}" for k, v in errors.items()))
        return all(ok(key) for key in exprs if key not in optional)

    try:
        wait_for(done, timeout, "data for every expression", interval=1.0)
    except AssertionError:
        empty = [f"{key}: {exprs[key]!r} -> {results.get(key)}" for key in exprs
                 if key not in optional and not ok(key)]
        if not empty:
            raise
        pytest.fail(f"{len(empty)} of {len(exprs)} expressions lack data (a finite value, for every worker "
                    f"where per worker) after {timeout}s:\n"
                    + "\n".join(empty) + f"\n{stack.logs()}")
    return results


def recording_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RECORDING_RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "record" in rule]


# --------------------------------------------------------------------------- tests

def test_every_target_is_up(stack: Stack) -> None:
    expected = {f"127.0.0.1:{stack.coordinator_port}"} | {f"127.0.0.1:{p}" for p in stack.worker_ports}

    def all_up() -> list[dict[str, Any]]:
        stack.assert_running()
        targets = stack.api.targets()
        return targets if {t["labels"]["instance"] for t in targets if t["health"] == "up"} == expected else []

    try:
        targets = wait_for(all_up, 30, "every target to be up")
    except AssertionError:
        pytest.fail(f"targets: {[(t['labels'], t['health'], t['lastError']) for t in stack.api.targets()]}")
    assert len(targets) == len(expected)
    roles = {t["labels"]["instance"]: (t["labels"]["job"], t["labels"]["role"]) for t in targets}
    assert roles[f"127.0.0.1:{stack.coordinator_port}"] == (COORDINATOR_JOB, "coordinator")
    assert {roles[f"127.0.0.1:{p}"][1] for p in stack.worker_ports} == {"worker"}
    # prometheus.yml labels each worker target with node = the worker_id that exporter serves.
    worker_series = stack.api.query('bytedb_worker_load{role="worker"}')
    assert sorted((s["metric"]["node"], s["metric"]["worker_id"]) for s in worker_series) == \
        [(w, w) for w in sorted(WORKER_IDS)], worker_series
    # The BytedbExporterDown alert selects exactly these targets.
    up = stack.api.query('up{job=~"bytedb.*"}')
    assert len(up) == len(expected) and all(float(s["value"][1]) == 1 for s in up)


def test_rules_load_with_health_ok(stack: Stack) -> None:
    expected: dict[str, set[str]] = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            expected[group["name"]] = {r.get("record") or r.get("alert") for r in group["rules"]}

    def evaluated() -> list[dict[str, Any]]:
        stack.assert_running()
        groups = stack.api.rule_groups()
        ready = {g["name"] for g in groups} == set(expected) and all(
            r["health"] != "unknown" for g in groups for r in g["rules"])
        return groups if ready else []

    groups = wait_for(evaluated, 30, "every rule group to load and be evaluated once")
    for group in groups:
        assert {r["name"] for r in group["rules"]} == expected[group["name"]], group["name"]
        assert Path(group["file"]).resolve() in [p.resolve() for p in RULE_FILES]
        bad = [(r["name"], r["health"], r.get("lastError")) for r in group["rules"] if r["health"] != "ok"]
        assert not bad, f"group {group['name']}: {bad}"
    alerts = {r["name"]: r for g in groups for r in g["rules"] if r["type"] == "alerting"}
    assert alerts, "no alerting rules loaded"
    # Every target is up, so the exporter-down alert must not even be pending.
    assert alerts["BytedbExporterDown"]["state"] == "inactive"


def test_every_recording_rule_returns_data(stack: Stack) -> None:
    rules = recording_rules()
    assert len(rules) >= 20
    def all_workers_counted(result: list[dict[str, Any]]) -> bool:
        return sum(float(s["value"][1]) for s in result) == WORKERS

    results = poll_until_all_have_data(stack, {r["record"]: r["record"] for r in rules},
                                       complete={"bytedb:workers_by_state:count": all_workers_counted})
    # Worker-level rules dedup the two scrape paths: exactly one series per worker.
    per_worker = {name for name, result in results.items() if any("worker_id" in s["metric"] for s in result)}
    assert {"bytedb:worker_load:max", "bytedb:worker_queries:rate5m"} <= per_worker, per_worker
    for name in per_worker:
        ids = sorted(s["metric"].get("worker_id", "") for s in results[name])
        assert ids == sorted(WORKER_IDS), f"{name}: {ids}"
    by_state = {s["metric"]["state"]: float(s["value"][1]) for s in results["bytedb:workers_by_state:count"]}
    assert sum(by_state.values()) == WORKERS, by_state
    score = finite_values(results["bytedb:cluster_load_balance_score"])
    assert len(score) == 1 and 0 <= score[0] <= 100


def test_every_dashboard_panel_returns_data(stack: Stack) -> None:
    queries = generate.panel_queries()
    assert len(queries) > 50
    exprs = {(pq.dashboard_uid, pq.panel_title, pq.ref_id): pq.rendered(GRAFANA_VALUES) for pq in queries}
    assert not [e for e in exprs.values() if "$" in e], "a Grafana variable was left unsubstituted"
    assert set(MAY_BE_EMPTY) <= set(exprs), "MAY_BE_EMPTY names a panel that no longer exists"
    poll_until_all_have_data(stack, exprs, optional=set(MAY_BE_EMPTY))


def test_every_dashboard_variable_has_values(stack: Stack) -> None:
    for uid, name, definition in generate.variable_queries():
        match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", definition)
        assert match, f"{uid} ${name}: unsupported variable query {definition!r}"
        metric, label = match.groups()
        values = wait_for(lambda label=label, metric=metric: stack.api.label_values(label, metric),
                          DATA_TIMEOUT, f"{uid} ${name} values")
        if label == "worker_id":
            assert set(values) == WORKER_IDS, values


def test_load_balance_score_matches_the_exporter(stack: Stack) -> None:
    """The recording rule's PromQL over the coordinator's worker loads = the coordinator's own score.

    Both come from the same coordinator scrape (one timestamp), and within one scrape every
    collector shares one reading of each worker (bytedb_exporter.metrics.scrape), so at every evaluation
    time they agree to floating point precision. Compared at 1 s steps over 20 s (about 20 scrapes).
    """
    rule = next(r for r in recording_rules() if r["record"] == "bytedb:cluster_load_balance_score")
    restricted, count = re.subn(r"\bbytedb_worker_load\b(?!\{)", f'bytedb_worker_load{{job="{COORDINATOR_JOB}"}}',
                                rule["expr"])
    assert count >= 3, rule["expr"]
    exporter = f'bytedb_cluster_load_balance_score{{job="{COORDINATOR_JOB}"}}'
    window = 20

    def enough_history() -> bool:
        stack.assert_running()
        series = stack.api.query(f"count_over_time({exporter}[1m])")
        return bool(series) and float(series[0]["value"][1]) >= window + 5

    wait_for(enough_history, DATA_TIMEOUT, f"{window + 5} coordinator scrapes")
    end = time.time() - 2  # not the scrape being written right now
    promql = stack.api.query_range(restricted, end - window, end, 1)
    ours = stack.api.query_range(exporter, end - window, end, 1)
    assert len(promql) == 1 and len(ours) == 1, (promql, ours)
    promql_points = {t: float(v) for t, v in promql[0]["values"]}
    ours_points = {t: float(v) for t, v in ours[0]["values"]}
    assert promql_points.keys() == ours_points.keys() and len(ours_points) > window, (promql, ours)
    assert all(0 <= v <= 100 for v in [*ours_points.values(), *promql_points.values()])
    differ = {t: (promql_points[t], v) for t, v in ours_points.items()
              if not math.isclose(promql_points[t], v, rel_tol=1e-9, abs_tol=1e-6)}
    assert not differ, f"{len(differ)} of {len(ours_points)} points differ (PromQL, exporter): {differ}"
    loads = stack.api.query_range(f'bytedb_worker_load{{job="{COORDINATOR_JOB}"}}', end - window, end, 1)
    assert {s["metric"]["worker_id"] for s in loads} == WORKER_IDS
    print(f"load balance score: {len(ours_points) - len(differ)} of {len(ours_points)} points equal; "
          f"differing (PromQL, exporter): {differ}")


def test_promtool_check_metrics_is_silent_for_every_exporter(stack: Stack, binaries: dict[str, str]) -> None:
    for name, url in stack.exporter_urls.items():
        status, _, body = http_get(url, timeout=10)
        assert status == 200, f"{name}: HTTP {status}"
        assert b"bytedb_worker_" in body, name
        result = subprocess.run([binaries["promtool"], "check", "metrics"], input=body,
                                capture_output=True, timeout=60, check=False)
        output = (result.stdout + result.stderr).decode(errors="replace").strip()
        assert result.returncode == 0 and output == "", f"{name} ({url}): rc={result.returncode}\n{output}"


def test_duration_exemplars_lead_back_to_a_query_the_exporter_knows(stack: Stack) -> None:
    """Prometheus (exemplar storage on) scraped OpenMetrics with `query_id` exemplars on the duration buckets,
    and /api/queries/<query_id> of the coordinator answers for such an id."""
    found: list[dict[str, Any]] = []

    def exemplars() -> bool:
        stack.assert_running()
        end = time.time()
        data = stack.api.get("/api/v1/query_exemplars", query="bytedb_query_duration_seconds_bucket",
                             start=f"{end - 300:.3f}", end=f"{end:.3f}")
        found[:] = [e for series in data for e in series["exemplars"] if e["labels"].get("query_id")]
        return bool(found)

    wait_for(exemplars, DATA_TIMEOUT, "query_id exemplars in Prometheus", on_timeout=stack.logs)
    assert all(float(e["value"]) >= 0 for e in found)
    base = f"http://127.0.0.1:{stack.coordinator_port}"
    statuses = [http_get(f"{base}/api/queries/{e['labels']['query_id']}", timeout=5).status for e in found[-20:]]
    assert 200 in statuses, statuses


def test_the_demo_serves_fragments_per_worker_and_a_csv_slow_query_log(stack: Stack) -> None:
    """On the running demo: a distributed query's /api/queries/<id> lists a fragment per worker it ran on,
    and /api/slow-queries?format=csv parses with the csv module."""
    base = f"http://127.0.0.1:{stack.coordinator_port}"
    recent = json.loads(http_get(f"{base}/api/queries?limit=200", timeout=5).body)["recent"]
    distributed = [q for q in recent if q["workers_used"] == WORKERS and not q["error_occurred"]]
    assert distributed, "no query of the demo ran on every worker"
    detail = json.loads(http_get(f"{base}/api/queries/{distributed[0]['query_id']}", timeout=5).body)
    assert {f["worker_id"] for f in detail["fragments"]} == WORKER_IDS
    assert len(detail["fragments"]) == detail["fragments_executed"] and detail["plan"]
    response = http_get(f"{base}/api/slow-queries?format=csv", timeout=5)
    assert response.status == 200 and response.content_type.startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.body.decode("utf-8"), newline="")))
    assert rows[0][:3] == ["query_id", "start_time", "end_time"]
    assert all(len(row) == len(rows[0]) for row in rows)
