"""Serve-mode configuration: every error names the file, the key and what was expected."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bytedb_exporter.cli import main
from bytedb_exporter.config.loader import ConfigError, load_config, parse_config

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
WORKER = {"role": "worker", "node_id": "worker-1", "process": {"pid": 1}}
COORDINATOR = {"role": "coordinator", "node_id": "coordinator", "workers": [{"id": "worker-1", "url": "http://h:9101"}]}


def problems(data, env=None):
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "cfg.yml", env or {})
    text = str(caught.value)
    assert all(line.startswith("cfg.yml: ") for line in text.splitlines()), text
    return caught.value.problems


def one_problem(data, env=None):
    found = problems(data, env)
    assert len(found) == 1, found
    return found[0]


def test_minimal_worker_and_coordinator_defaults():
    worker = parse_config(WORKER, "w.yml")
    assert (worker.role, worker.host, worker.port, worker.process.pid) == ("worker", "127.0.0.1", 9101, 1)
    coordinator = parse_config(COORDINATOR, "c.yml")
    assert coordinator.port == 8091 and coordinator.workers[0].url == "http://h:9101"
    assert coordinator.limits.max_body_bytes == 1024 * 1024 and not coordinator.auth.enabled
    assert coordinator.limits.cardinality == "default"
    assert parse_config({**WORKER, "limits": {"cardinality": "low"}}).limits.cardinality == "low"


@pytest.mark.parametrize("name", ["bytedb-exporter.yml", "bytedb-exporter-worker.yml"])
def test_example_files_are_valid(name, tmp_path):
    config = load_config(EXAMPLES / name, env={})
    assert config.role in ("coordinator", "worker")
    assert main(["check-config", str(EXAMPLES / name)]) == 0


@pytest.mark.parametrize("data, expected", [
    ({**WORKER, "role": "worker-ish"}, "role: expected coordinator or worker, got 'worker-ish'"),
    ({k: v for k, v in WORKER.items() if k != "role"}, "role: missing; expected coordinator or worker"),
    ({k: v for k, v in WORKER.items() if k != "node_id"}, "node_id: missing"),
    ({**WORKER, "node_id": "has space"}, "node_id: expected an id of letters"),
    ({**WORKER, "node_id": 7}, "node_id: expected an id of letters"),
    ({**WORKER, "colour": "blue"}, "colour: unknown key; expected one of"),
    ({**WORKER, "listen": {"prot": 1}}, "listen.prot: unknown key; expected one of host, port"),
    ({**WORKER, "listen": {"port": "9101"}}, "listen.port: expected an integer from 1 to 65535, got '9101'"),
    ({**WORKER, "listen": {"port": 0}}, "listen.port: expected an integer from 1 to 65535, got 0"),
    ({**WORKER, "listen": {"port": True}}, "listen.port: expected an integer from 1 to 65535, got True"),
    ({**WORKER, "listen": "0.0.0.0:9101"}, "listen: expected a mapping, got str"),
    ({**WORKER, "listen": {"host": ""}}, "listen.host: expected a non-empty string of valid UTF-8, got ''"),
    ({**WORKER, "thresholds": {"offline_after_secs": 3}}, "thresholds.offline_after_secs: unknown key"),
    ({**WORKER, "thresholds": {"degraded_cpu_percent": -5}},
     "thresholds.degraded_cpu_percent: expected a number not below 0"),
    ({**WORKER, "thresholds": {"alert_min_queries": 2.5}},
     "thresholds.alert_min_queries: expected an integer not below 0"),
    ({**WORKER, "thresholds": {"degraded_cpu_percent": 99}},
     "thresholds: expected consistent limits: unhealthy_cpu_percent"),
    ({**WORKER, "thresholds": {"offline_after_seconds": 0}},
     "thresholds: expected consistent limits: offline_after_seconds"),
    ({**WORKER, "stream_interval_seconds": 0}, "stream_interval_seconds: expected a number above 0, at most 1e+09"),
    ({**WORKER, "history": {"queries": 0}}, "history.queries: expected an integer from 1 to"),
    ({**WORKER, "history": {"minutes": "15"}}, "history.minutes: expected a number above 0, at most 1440, got '15'"),
    ({**WORKER, "process": None}, "process: expected exactly one of pid, pid_file or name, got none"),
    ({**WORKER, "process": {"pid": 1, "name": "bytedb"}},
     "process: expected exactly one of pid, pid_file or name, got pid, name"),
    ({**WORKER, "process": {"pid": -3}}, "process.pid: expected an integer from 1 to"),
    ({**WORKER, "process": {"pid": 1, "sample_interval_seconds": -1}},
     "process.sample_interval_seconds: expected a number above 0"),
    ({**COORDINATOR, "process": {"pid": 1}}, "process: only for role worker"),
    ({**WORKER, "data_path": "/no/such/dir"}, "data_path: expected an existing directory, got '/no/such/dir'"),
    ({**COORDINATOR, "data_path": "/"}, "data_path: only for role worker"),
    ({**WORKER, "workers": []}, "workers: only for role coordinator"),
    ({**COORDINATOR, "workers": {"worker-1": "http://h"}}, "workers: expected a list of {id, url}, got dict"),
    ({**COORDINATOR, "workers": ["http://h"]}, "workers[0]: expected a mapping, got str"),
    ({**COORDINATOR, "workers": [{"id": "w1"}]}, "workers[0]: expected both id and url"),
    ({**COORDINATOR, "workers": [{"id": "w1", "url": "h:9101"}]},
     "workers[0].url: expected an http:// or https:// URL"),
    ({**COORDINATOR, "workers": [{"id": "w1", "url": "http://h", "token": "x"}]}, "workers[0].token: unknown key"),
    ({**COORDINATOR, "workers": [{"id": "w1", "url": "http://a"}, {"id": "w1", "url": "http://b"}]},
     "workers[1].id: expected a unique id, got 'w1' twice"),
    ({**COORDINATOR, "limits": {"max_workers": 1}, "workers": [{"id": "a", "url": "http://a"}, {"id": "b", "url": "http://b"}]},
     "workers: expected at most limits.max_workers (1) workers, got 2"),
    ({**COORDINATOR, "poll": {"interval_seconds": 1, "timeout_seconds": 2}},
     "poll.timeout_seconds: expected at most poll.interval_seconds (1.0), got 2.0"),
    ({**COORDINATOR, "poll": {"interval_seconds": 0}}, "poll.interval_seconds: expected a number above 0"),
    ({**WORKER, "scrape_cache_seconds": float("nan")}, "scrape_cache_seconds: expected a number of seconds from 0"),
    ({**WORKER, "history": {"slow_query_seconds": float("inf")}}, "history.slow_query_seconds: expected a"),
    ({**WORKER, "thresholds": {"degraded_cpu_percent": float("nan")}},
     "thresholds.degraded_cpu_percent: expected a number not below 0"),
    ({**WORKER, "history": {"slow_query_retention_days": 1e308}},
     "history.slow_query_retention_days: expected a number above 0, at most 3650"),
    ({**WORKER, "history": {"minutes": 1e6}}, "history.minutes: expected a number above 0, at most 1440"),
    ({**WORKER, "history": {"slow_query_db": "/tmp/\udc80.db"}}, "history.slow_query_db: expected a non-empty string"),
    ({**WORKER, "history": {"slow_query_db": "/no/such/dir/slow.db"}},
     "history.slow_query_db: expected a non-empty string of valid UTF-8: a file path in an existing directory"),
    ({**WORKER, "api": {"allow_unauthenticated_reset": "yes"}}, "api.allow_unauthenticated_reset: expected true or"),
    ({**WORKER, "ingest": {"enabled": "yes"}}, "ingest.enabled: expected true or false, got 'yes'"),
    ({**WORKER, "limits": {"max_body_bytes": 10}}, "limits.max_body_bytes: expected an integer from 1024 to"),
    ({**WORKER, "limits": {"max_cardinality": 10}}, "limits.max_cardinality: unknown key"),
    ({**WORKER, "limits": {"cardinality": "medium"}},
     "limits.cardinality: expected one of low, default, high, got 'medium'"),
    ({**WORKER, "auth": {"basic": {"username": "u"}}}, "auth.basic: expected both username and password"),
    ({**WORKER, "auth": {"protect_metrics": True}},
     "auth.protect_metrics: expected a bearer_token or basic credentials"),
    ({**WORKER, "auth": {"bearer_token": "a", "bearer_token_file": "/etc/hostname"}},
     "auth.bearer_token: expected either bearer_token or bearer_token_file, not both"),
    ({**WORKER, "auth": {"bearer_token_file": "/no/such/token"}}, "auth.bearer_token_file: expected a readable file"),
    ({**WORKER, "auth": {"token": "a"}}, "auth.token: unknown key"),
])
def test_each_error_names_key_and_expectation(data, expected):
    found = problems(data)
    assert any(expected in problem for problem in found), found


def test_every_problem_is_reported_at_once():
    found = problems({"role": "x", "node_id": "", "listen": {"port": -1}, "extra": 1})
    assert [p.split(":")[0] for p in found] == ["role", "node_id", "listen.port", "extra"]


def test_top_level_must_be_a_mapping():
    assert "top level: expected a mapping, got list" in problems([1, 2])


def test_environment_overrides_listen_and_secrets(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    data = {**WORKER, "auth": {"bearer_token_file": str(token_file), "basic": {"username": "u", "password": "p"}}}
    assert parse_config(data).auth.bearer_token == "from-file"
    env = {"BYTEDB_EXPORTER_HOST": "0.0.0.0", "BYTEDB_EXPORTER_PORT": "9200",
           "BYTEDB_EXPORTER_BEARER_TOKEN": "env-token", "BYTEDB_EXPORTER_BASIC_PASSWORD": "env-pass",
           "BYTEDB_EXPORTER_POLL_TOKEN": "poll"}
    config = parse_config(data, "w.yml", env)
    assert (config.host, config.port, config.auth.bearer_token, config.auth.basic_password) == \
        ("0.0.0.0", 9200, "env-token", "env-pass")
    assert config.poll_bearer_token == "poll"
    assert one_problem(WORKER, {"BYTEDB_EXPORTER_PORT": "http"}) == \
        "environment BYTEDB_EXPORTER_PORT: expected a port from 1 to 65535, got 'http'"


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("role: worker\n  node_id: [\n")
    with pytest.raises(ConfigError, match=rf"^{bad}: not valid YAML"):
        load_config(bad, env={})
    with pytest.raises(ConfigError, match=r"missing.yml: cannot read the file"):
        load_config(tmp_path / "missing.yml", env={})
    typo = tmp_path / "typo.yml"
    typo.write_text(yaml.safe_dump({**WORKER, "procces": {"pid": 1}}))
    with pytest.raises(ConfigError) as caught:
        load_config(typo, env={})
    assert f"{typo}: procces: unknown key; expected one of" in str(caught.value)


def test_yaml_is_loaded_safely(tmp_path):
    unsafe = tmp_path / "unsafe.yml"
    unsafe.write_text("role: !!python/object/apply:os.system ['true']\nnode_id: w\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(unsafe, env={})


def test_check_config_command_exit_codes(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({**WORKER, "listen": {"port": 70000}}))
    result = subprocess.run([sys.executable, "-m", "bytedb_exporter.cli", "check-config", str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"{bad}: listen.port: expected an integer from 1 to 65535, got 70000" in result.stderr
    good = tmp_path / "good.yml"
    good.write_text(yaml.safe_dump(WORKER))
    result = subprocess.run([sys.executable, "-m", "bytedb_exporter.cli", "check-config", str(good)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "ok (worker worker-1" in result.stdout
