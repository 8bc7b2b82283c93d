"""deploy/alertmanager.yml with a real Prometheus and Alertmanager over the demo.

The demo runs with --restart-workers; Prometheus (the shipped prometheus.yml, 1 s scrapes and
evaluations, a `cluster` external label) evaluates a copy of the shipped BytedbWorkerProcessDown
rule with a 2 s `for:` and sends to an Alertmanager started from a copy of deploy/alertmanager.yml
whose webhook URLs point at an http.server in this test and whose group timings are 1 s. Killing
worker-2's process makes the alert reach the critical (pager) receiver, grouped by cluster; once the
demo has restarted the worker, the same alert arrives resolved. Alerts posted to Alertmanager's API
show the inhibition: a worker alert is held back while its cluster is critical, not in another cluster.

Needs the Debian packages `prometheus` and `prometheus-alertmanager`: skipped without them, failed with CI=true.
"""
from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from alerting_stack import Webhook, start_alertmanager, webhook
from processes import ROOT, get_json, stop_process, wait_for
from prometheus_stack import prometheus_test_config, start_demo, start_prometheus, stop_prometheus, write_config
from support import require_binary

pytestmark = pytest.mark.e2e

SHIPPED = ROOT / "deploy" / "alertmanager.yml"
ALERT = "BytedbWorkerProcessDown"
CLUSTER = "bytedb-e2e"
# Seconds: the demo's --restart-workers; it restarts no sooner after the kill (room for a loaded machine).
RESTART_AFTER = 20


def alertmanager_test_config(receiver_url: str) -> dict[str, Any]:
    """The shipped config with the webhooks at `receiver_url` (paths kept) and 1 s group timings."""
    config = copy.deepcopy(yaml.safe_load(SHIPPED.read_text(encoding="utf-8")))
    for route in [config["route"], *config["route"]["routes"]]:  # sub-routes without timings inherit the root's
        route.update({key: "1s" for key in ("group_wait", "group_interval") if key in route})
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = receiver_url + urllib.parse.urlsplit(hook["url"]).path
    return config


def rule_copy(path: Path) -> Path:
    """The shipped rule for a dead worker process, with `for: 2s`."""
    groups = yaml.safe_load((ROOT / "rules" / "bytedb-alerts.yml").read_text(encoding="utf-8"))["groups"]
    (rule,) = [r for g in groups for r in g["rules"] if r.get("alert") == ALERT]
    path.write_text(yaml.safe_dump({"groups": [{"name": "e2e", "rules": [{**rule, "for": "2s"}]}]}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    prometheus_bin = require_binary("prometheus", "prometheus")
    promtool = require_binary("promtool", "prometheus")
    alertmanager_bin = require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    amtool = require_binary("amtool", "prometheus-alertmanager")
    tmp = tmp_path_factory.mktemp("alerting")
    parts: dict[str, Any] = {"tmp": tmp}
    with webhook() as receiver:
        parts["webhook"] = receiver
        try:
            am_config = tmp / "alertmanager.yml"
            am_config.write_text(yaml.safe_dump(alertmanager_test_config(receiver.url)), encoding="utf-8")
            check = subprocess.run([amtool, "check-config", str(am_config)], capture_output=True, text=True,
                                   timeout=60, check=False)
            assert check.returncode == 0, check.stdout + check.stderr
            parts["alertmanager"], parts["am_url"] = start_alertmanager(alertmanager_bin, am_config, tmp)
            demo = parts["demo"] = start_demo(tmp, workers=3, qps=5,
                                              extra=["--restart-workers", str(RESTART_AFTER)])
            ports = [int(u.rsplit(":", 1)[1]) for u in demo.worker_urls.values()]
            config = prometheus_test_config(ROOT / "prometheus.yml", int(demo.url.rsplit(":", 1)[1]), ports)
            config["global"]["external_labels"]["cluster"] = CLUSTER
            config["rule_files"] = [str(rule_copy(tmp / "rule.yml"))]
            config["alerting"] = {"alertmanagers": [{"static_configs": [
                {"targets": [parts["am_url"].removeprefix("http://")]}]}]}
            path = write_config(config, tmp / "prometheus.yml", promtool)
            parts["prometheus"], parts["api"] = start_prometheus(prometheus_bin, path, tmp,
                                                                 extra=["--rules.alert.resend-delay=1s"])
            yield parts
        finally:
            if "prometheus" in parts:
                stop_prometheus(parts["prometheus"], parts["api"])
            if "demo" in parts:
                stop_process(parts["demo"].process)
            if "alertmanager" in parts:
                stop_process(parts["alertmanager"])


def worker_process(demo_pid: int, shard: str) -> psutil.Process:
    """The demo's worker process that has `shard` (its SQLite file) open."""
    for child in psutil.Process(demo_pid).children(recursive=True):
        try:
            if any(Path(f.path).name == shard for f in child.open_files()):
                return child
        except psutil.NoSuchProcess:
            continue
    raise AssertionError(f"no demo worker process has {shard} open")


def notifications(receiver: Webhook, status: str) -> list[tuple[str, dict[str, Any]]]:
    """Notifications about ALERT in CLUSTER whose group status is `status`."""
    return [(path, body) for path, body in receiver.received()
            if body["status"] == status and body["groupLabels"] == {"cluster": CLUSTER}
            and any(a["labels"]["alertname"] == ALERT for a in body["alerts"])]


def test_a_killed_worker_pages_and_resolves_once_restarted(stack: dict[str, Any]) -> None:
    demo, receiver, api = stack["demo"], stack["webhook"], stack["api"]
    wait_for(lambda: api.query('min by (worker_id) (bytedb_worker_process_up) == 1'), 30, "process_up scraped")
    assert not notifications(receiver, "firing")
    victim = worker_process(demo.process.popen.pid, "shard_1.sqlite")  # worker-2's shard
    os.kill(victim.pid, signal.SIGKILL)
    killed_at = time.monotonic()

    (path, body), *_ = wait_for(lambda: notifications(receiver, "firing"), RESTART_AFTER, "the firing notification",
                                on_timeout=lambda: f"{receiver.received()}\n{stack['prometheus'].log_tail()}")
    fired_after = time.monotonic() - killed_at
    assert path == "/bytedb/critical", path  # severity=critical goes to the pager receiver
    (alert,) = [a for a in body["alerts"] if a["labels"]["alertname"] == ALERT]
    assert alert["status"] == "firing"
    assert alert["labels"] == {"alertname": ALERT, "worker_id": "worker-2", "severity": "critical",
                               "cluster": CLUSTER, "monitor": "bytedb"}, alert
    assert alert["annotations"]["summary"] == "ByteDB worker process worker-2 is not running"
    # Fired while the worker was down: the demo restarts it RESTART_AFTER s after it noticed, at the earliest.
    assert fired_after < RESTART_AFTER, fired_after

    (path, body), *_ = wait_for(lambda: notifications(receiver, "resolved"), 60, "the resolved notification",
                                on_timeout=lambda: f"{receiver.received()}\n{demo.process.log_tail()}")
    assert path == "/bytedb/critical"
    assert [(a["labels"]["worker_id"], a["status"]) for a in body["alerts"]] == [("worker-2", "resolved")]
    assert worker_process(demo.process.popen.pid, "shard_1.sqlite").pid != victim.pid  # a new process
    # Back in the cluster view once the demo's next heartbeat (every 2 s) has reached it.
    wait_for(lambda: get_json(f"{demo.url}/api/workers")["worker-2"]["status"]["status"] != "offline", 15,
             "worker-2 online again", on_timeout=lambda: str(get_json(f"{demo.url}/api/workers")["worker-2"]))


def post_alerts(am_url: str, alerts: list[dict[str, str]]) -> None:
    body = json.dumps([{"labels": labels} for labels in alerts]).encode()
    request = urllib.request.Request(f"{am_url}/api/v2/alerts", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def test_worker_alerts_are_inhibited_while_their_cluster_is_critical(stack: dict[str, Any]) -> None:
    am_url = stack["am_url"]
    post_alerts(am_url, [
        {"alertname": "BytedbClusterCritical", "severity": "critical", "cluster": "down"},
        {"alertname": "BytedbWorkerOffline", "severity": "critical", "cluster": "down", "worker_id": "worker-1"},
        {"alertname": "BytedbHighCPU", "severity": "warning", "cluster": "down", "worker_id": "worker-2"},
        {"alertname": "BytedbWorkerOffline", "severity": "critical", "cluster": "fine", "worker_id": "worker-1"},
    ])

    def states() -> dict[tuple[str, str], list[str]]:
        found = get_json(f"{am_url}/api/v2/alerts")
        return {(a["labels"]["cluster"], a["labels"]["alertname"]): a["status"]["inhibitedBy"] for a in found
                if a["labels"].get("cluster") in ("down", "fine")}

    got = wait_for(lambda: (s := states()) and len(s) == 4 and s[("down", "BytedbWorkerOffline")] and s, 15,
                   "the inhibition to apply", on_timeout=lambda: str(states()))
    assert got[("down", "BytedbHighCPU")] and not got[("down", "BytedbClusterCritical")]
    assert not got[("fine", "BytedbWorkerOffline")]
    # What reaches the receivers: for "down" only the cluster alert, for "fine" the worker alert.
    def sent() -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for _, body in stack["webhook"].received():
            for alert in body["alerts"]:
                out.setdefault(alert["labels"].get("cluster", ""), set()).add(alert["labels"]["alertname"])
        return out

    wait_for(lambda: "down" in sent() and "fine" in sent(), 15, "both notifications", on_timeout=lambda: str(sent()))
    time.sleep(2)  # another group interval: an inhibited alert would have been sent by now
    assert sent()["down"] == {"BytedbClusterCritical"} and sent()["fine"] == {"BytedbWorkerOffline"}, sent()
