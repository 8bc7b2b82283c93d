"""Prometheus config, alerting and recording rules: promtool checks plus structural rules."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml
from support import require_binary

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "rules"
RULE_FILES = sorted(RULES.glob("*.yml"))
TEST_FILES = sorted((RULES / "tests").glob("*.yml"))

EXPECTED_ALERTS = {
    "BytedbExporterDown", "BytedbWorkerOffline", "BytedbClusterDegraded", "BytedbClusterCritical",
    "BytedbHighCPU", "BytedbHighMemory", "BytedbLowCacheHitRate", "BytedbHighQueryFailureRate",
    "BytedbPoorLoadBalance", "BytedbSlowQueries", "BytedbWorkerProcessDown",
}
SEVERITIES = {"critical", "warning", "info"}


def promtool(*args: str) -> subprocess.CompletedProcess:
    binary = require_binary("promtool", "prometheus")
    result = subprocess.run([binary, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        f"promtool {' '.join(args)} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result


def load_rules() -> list[dict]:
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(group["rules"])
    return rules


def test_rule_files_exist():
    assert {p.name for p in RULE_FILES} >= {"bytedb-alerts.yml", "bytedb-recording.yml"}
    assert TEST_FILES, "no promtool unit tests in rules/tests/"


def test_promtool_check_rules():
    promtool("check", "rules", *(str(p.relative_to(ROOT)) for p in RULE_FILES))


def test_promtool_test_rules():
    promtool("test", "rules", *(str(p.relative_to(ROOT)) for p in TEST_FILES))


def test_promtool_check_config():
    result = promtool("check", "config", "prometheus.yml")
    # The rule_files glob must actually pick the rule files up.
    for path in RULE_FILES:
        assert path.name in result.stdout + result.stderr


def test_prometheus_yml_targets():
    config = yaml.safe_load((ROOT / "prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == "5s"
    assert "rules/*.yml" in config["rule_files"]
    roles = {}
    for job in config["scrape_configs"]:
        assert job["job_name"].startswith("bytedb"), "BytedbExporterDown matches job=~\"bytedb.*\""
        assert job.get("metrics_path", "/metrics") == "/metrics"
        for static in job["static_configs"]:
            for target in static["targets"]:
                roles[target] = static["labels"]["role"]
                assert static["labels"]["node"]
    assert roles == {"127.0.0.1:8091": "coordinator", "127.0.0.1:9101": "worker",
                     "127.0.0.1:9102": "worker", "127.0.0.1:9103": "worker"}
    assert "# authorization:" in (ROOT / "prometheus.yml").read_text()


def test_alerts_are_complete():
    alerts = [r for r in load_rules() if "alert" in r]
    assert {a["alert"] for a in alerts} == EXPECTED_ALERTS
    for alert in alerts:
        name = alert["alert"]
        assert alert.get("for"), f"{name} has no for:"
        assert alert.get("labels", {}).get("severity") in SEVERITIES, name
        annotations = alert.get("annotations", {})
        assert annotations.get("summary"), f"{name} has no summary"
        assert len(annotations.get("description", "")) > 80, f"{name}: description should say what to do"


def test_expected_severities():
    severity = {r["alert"]: r["labels"]["severity"] for r in load_rules() if "alert" in r}
    assert severity["BytedbHighCPU"] == "warning"
    assert severity["BytedbHighMemory"] == "warning"
    assert severity["BytedbLowCacheHitRate"] == "info"
    assert severity["BytedbHighQueryFailureRate"] == "critical"


def test_recording_rule_names_and_rate_windows():
    for rule in load_rules():
        if "record" in rule:
            assert re.fullmatch(r"bytedb:[a-z0-9_]+(:[a-z0-9_]+)?", rule["record"]), rule["record"]
        # Rules use fixed windows; $__rate_interval is a Grafana-only variable.
        assert "$__" not in rule["expr"]


def _unit_tests() -> list[dict]:
    tests = []
    for path in TEST_FILES:
        tests.extend(yaml.safe_load(path.read_text())["tests"])
    return tests


def test_every_alert_is_unit_tested_firing_and_quiet():
    firing, quiet = set(), set()
    for case in _unit_tests():
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert EXPECTED_ALERTS <= firing, f"never tested firing: {EXPECTED_ALERTS - firing}"
    assert EXPECTED_ALERTS <= quiet, f"never tested quiet/resolved: {EXPECTED_ALERTS - quiet}"


def test_every_recording_rule_is_unit_tested():
    records = {r["record"] for r in load_rules() if "record" in r}
    tested_text = " ".join(check["expr"] for case in _unit_tests()
                           for check in case.get("promql_expr_test", []))
    tested = set(re.findall(r"bytedb:[a-z0-9_:]+", tested_text))
    assert records <= tested, f"recording rules without a promql_expr_test: {sorted(records - tested)}"
