"""The configs in deploy/: alertmanager.yml (amtool accepts it, routes by severity, groups by cluster,
inhibits worker alerts) and the Prometheus variants (promtool accepts them, `cluster` external labels).

Needs amtool (Debian package `prometheus-alertmanager`) and promtool (`prometheus`): skipped without
them, failed with CI=true.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from support import require_binary

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "deploy" / "alertmanager.yml"
ALERTS = ROOT / "rules" / "bytedb-alerts.yml"


def amtool(*args: str) -> str:
    binary = require_binary("amtool", "prometheus-alertmanager")
    result = subprocess.run([binary, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"amtool {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


def test_amtool_check_config_accepts_it() -> None:
    out = amtool("check-config", str(CONFIG))
    assert "SUCCESS" in out and "2 inhibit rules" in out, out


@pytest.mark.parametrize(("labels", "receiver"), [
    (("severity=critical", "alertname=BytedbWorkerOffline", "cluster=a"), "bytedb-pager"),
    (("severity=warning", "alertname=BytedbHighCPU", "cluster=a"), "bytedb-team"),
    (("severity=info", "alertname=BytedbLowCacheHitRate", "cluster=a"), "bytedb-team"),
])
def test_routes_by_severity(labels: tuple[str, ...], receiver: str) -> None:
    out = amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert out.strip() == receiver, out


def test_every_severity_of_the_shipped_alerts_has_a_route() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    severities = {rule["labels"]["severity"] for group in yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
                  for rule in group["rules"]}
    routed = " ".join(m for route in config["route"]["routes"] for m in route["matchers"])
    assert severities and all(s in routed for s in severities), (severities, routed)
    assert config["route"]["group_by"] == ["cluster"]
    for rule in config["inhibit_rules"]:
        assert rule["source_matchers"] == ['alertname="BytedbClusterCritical"'] and rule["equal"] == ["cluster"]


@pytest.mark.parametrize("name", ["prometheus-http-sd.yml", "prometheus-federation.yml", "prometheus-remote-write.yml"])
def test_shipped_prometheus_configs_pass_promtool_and_label_their_cluster(name: str) -> None:
    binary = require_binary("promtool", "prometheus")
    path = ROOT / "deploy" / name
    result = subprocess.run([binary, "check", "config", str(path)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    labels = yaml.safe_load(path.read_text(encoding="utf-8"))["global"]["external_labels"]
    # Per-cluster servers name their cluster; the global one must not (it keeps the federated ones).
    assert ("cluster" in labels) == (name != "prometheus-federation.yml"), labels
