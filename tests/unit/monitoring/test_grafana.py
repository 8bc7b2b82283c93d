"""Generated Grafana dashboards: up to date, importable, and only using metrics that exist."""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
GRAFANA = ROOT / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
EXPECTED_FILES = {"bytedb-cluster-overview.json", "bytedb-query-performance.json", "bytedb-workers.json"}
KNOWN_UNITS = {"s", "ms", "bytes", "Bps", "percent", "percentunit", "reqps", "short", "none"}
PANEL_TYPES = {"row", "timeseries", "stat", "gauge", "table"}
ALLOWED_DATASOURCE_UIDS = {"${datasource}", "-- Grafana --"}


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


generate = _load("bytedb_grafana_generate", GRAFANA / "generate.py")
metric_names = _load("bytedb_grafana_metric_names", GRAFANA / "metric_names.py")


def recording_rules() -> set[str]:
    names = set()
    for path in (ROOT / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names.update(r["record"] for r in group["rules"] if "record" in r)
    return names


@pytest.fixture(scope="module", params=[p.name for p in DASHBOARD_FILES] or ["<none>"])
def dashboard(request) -> dict:
    return json.loads((GRAFANA / "dashboards" / request.param).read_text())


def panels_of(dashboard: dict) -> list[dict]:
    result = []
    for panel in dashboard["panels"]:
        result.append(panel)
        result.extend(panel.get("panels", []))  # collapsed rows hold their panels
    return result


def strip_strings(expr: str) -> str:
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)


def test_files_present():
    assert {p.name for p in DASHBOARD_FILES} == EXPECTED_FILES


def test_generated_files_are_up_to_date():
    result = subprocess.run([sys.executable, str(GRAFANA / "generate.py"), "--check"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{result.stdout}{result.stderr}"


def test_check_detects_stale_files(tmp_path):
    assert generate.main(["--out", str(tmp_path)]) == 0
    (tmp_path / "bytedb-workers.json").write_text("{}")
    assert generate.main(["--check", "--out", str(tmp_path)]) == 1


def test_dashboard_structure(dashboard):
    assert dashboard["uid"].startswith("bytedb-")
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["id"] is None
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_uids_unique():
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARD_FILES]
    assert len(set(uids)) == len(uids)


def test_panels(dashboard):
    panels = panels_of(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert all(isinstance(i, int) and i > 0 for i in ids)
    for panel in panels:
        assert panel["type"] in PANEL_TYPES, panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["fieldConfig"]["defaults"]["unit"] in KNOWN_UNITS, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        for target in panel["targets"]:
            assert target["expr"].strip(), f"{panel['title']}: target without expr"
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_no_hard_coded_datasource_uid(dashboard):
    def walk(node):
        if isinstance(node, dict):
            if "uid" in node and node is not dashboard:
                assert node["uid"] in ALLOWED_DATASOURCE_UIDS, f"hard-coded uid {node['uid']!r}"
            if isinstance(node.get("datasource"), str):
                pytest.fail(f"datasource given by name: {node['datasource']!r}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(dashboard)
    assert "${DS_PROMETHEUS}" not in json.dumps(dashboard["panels"]), "breaks provisioning"


def test_rates_use_rate_interval(dashboard):
    for panel in panels_of(dashboard):
        for target in panel.get("targets", []):
            windows = re.findall(r"\[([^\]]+)\]", target["expr"])
            assert all(w == "$__rate_interval" for w in windows), (panel["title"], windows)


def test_brackets_balanced(dashboard):
    pairs = {")": "(", "]": "[", "}": "{"}
    for panel in panels_of(dashboard):
        for target in panel.get("targets", []):
            stack = []
            for char in strip_strings(target["expr"]):
                if char in "([{":
                    stack.append(char)
                elif char in pairs:
                    assert stack and stack.pop() == pairs[char], (panel["title"], target["expr"])
            assert not stack, (panel["title"], target["expr"])


def test_metric_names_exist(dashboard):
    records = recording_rules()
    for panel in panels_of(dashboard):
        for target in panel.get("targets", []):
            expr = strip_strings(target["expr"])
            for name in re.findall(r"bytedb_[a-z_]+", expr):
                assert metric_names.series_family(name), f"{panel['title']}: unknown metric {name}"
            for name in re.findall(r"bytedb:[a-z0-9_:]+", expr):
                assert name in records, f"{panel['title']}: no recording rule {name}"


def test_rules_use_only_contract_metrics():
    for path in (ROOT / "rules").glob("*.yml"):
        exprs = [r["expr"] for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]
        assert exprs, path
        for name in re.findall(r"bytedb_[a-z_]+", " ".join(strip_strings(e) for e in exprs)):
            assert metric_names.series_family(name), f"{path.name}: unknown metric {name}"


def test_worker_dashboard():
    data = json.loads((GRAFANA / "dashboards" / "bytedb-workers.json").read_text())
    worker = {v["name"]: v for v in data["templating"]["list"]}["worker"]
    assert worker["definition"] == "label_values(bytedb_worker_cpu_usage_percent, worker_id)"
    assert worker["multi"] and worker["includeAll"]
    for panel in panels_of(data):
        for target in panel.get("targets", []):
            if "bytedb_worker_" in target["expr"]:
                assert 'worker_id=~"$worker"' in target["expr"], panel["title"]
                assert "by (worker_id" in target["expr"], f"{panel['title']}: dedup by worker_id"


def test_overview_has_the_essentials():
    data = json.loads((GRAFANA / "dashboards" / "bytedb-cluster-overview.json").read_text())
    exprs = " ".join(t["expr"] for p in panels_of(data) for t in p.get("targets", []))
    for needle in ("bytedb_cluster_health", "bytedb_cluster_workers", "bytedb_queries_total",
                   "histogram_quantile(0.5,", "histogram_quantile(0.95,", "histogram_quantile(0.99,",
                   "bytedb_cluster_load_balance_score", "bytedb_cluster_utilization_percent",
                   "bytedb_cluster_alerts_active", "ALERTS{"):
        assert needle in exprs, needle


def test_panel_queries_api():
    queries = generate.panel_queries()
    on_disk = sum(len(p.get("targets", [])) for f in DASHBOARD_FILES
                  for p in panels_of(json.loads(f.read_text())))
    assert len(queries) == on_disk
    for query in queries:
        rendered = query.rendered()
        assert "$" not in rendered, rendered
        assert "datasource" in query.variables
    workers = [q for q in queries if q.dashboard_uid == "bytedb-workers"]
    assert workers and all("worker" in q.variables for q in workers)
    assert generate.render_expr('x{worker_id=~"$worker"}[$__rate_interval]', {"$worker": "w1"}) == \
        'x{worker_id=~"w1"}[1m]'
    assert all(query.startswith("label_values(") for _, _, query in generate.variable_queries())


def test_provisioning():
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "bytedb.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["url"].startswith("http")
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "bytedb.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]


def test_contract_list_matches_catalog():
    """grafana/metric_names.py must not drift from docs/metrics.md (the owner of the names)."""
    catalog = {}
    for line in (ROOT / "docs" / "metrics.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0].startswith("bytedb_"):
            catalog[cells[0]] = cells[1]
    assert set(metric_names.CONTRACT_METRICS) == set(catalog)
    for name, kind in metric_names.CONTRACT_METRICS.items():
        # The catalog lists the state-sets (one series per state, 0/1) as gauges.
        assert catalog[name] == ("gauge" if kind == "stateset" else kind), name
