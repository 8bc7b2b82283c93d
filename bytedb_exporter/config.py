"""Serve-mode configuration: YAML (safe_load) validated into dataclasses; errors name file, key and expectation."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import yaml

from .config_models import AuthConfig, Config, ConfigError, Limits, ProcessConfig, RemoteWorker
from .config_sections import (ENV, ID_PATTERN, Section, env_port, read_auth, read_data_path, read_limits,
                              read_process, read_secret, read_thresholds, read_workers)

# The dataclasses live in config_models and are re-exported here for existing importers.
__all__ = ["AuthConfig", "Config", "ConfigError", "Limits", "ProcessConfig", "RemoteWorker",
           "load_config", "parse_config"]

ROLES = ("coordinator", "worker")
DEFAULT_PORTS = {"coordinator": 8091, "worker": 9101}


def load_config(path: str | Path, env: Optional[Mapping[str, str]] = None) -> Config:
    """Read, parse and validate one YAML file (ConfigError names every problem)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(source, [f"cannot read the file: {error.strerror or error}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(source, [f"not valid YAML: {error}"]) from None
    return parse_config(data, source, os.environ if env is None else env)


def parse_config(data: Any, source: str = "<config>", env: Mapping[str, str] = {}) -> Config:
    """Validate a loaded YAML document plus environment overrides."""
    problems: List[str] = []
    top = Section(data, "", problems)
    role = top.get("role", str, None, lambda v: v in ROLES, "coordinator or worker")
    if role is None and not top.has("role"):
        problems.append("role: missing; expected coordinator or worker")
    node_id = top.get("node_id", str, None, ID_PATTERN.match, "an id of letters, digits, _ . : - (at most 64)")
    if node_id is None and not top.has("node_id"):
        problems.append("node_id: missing; expected the id of this node, e.g. worker-1")
    listen = top.section("listen")
    host = env.get(ENV["host"]) or listen.get("host", str, "127.0.0.1")
    port = listen.count("port", DEFAULT_PORTS.get(role or "", 8091), 1, 65535)
    if env.get(ENV["port"]):
        port = env_port(env[ENV["port"]], problems, port)
    listen.finish()
    history = top.section("history")
    values: Dict[str, Any] = dict(
        history_minutes=history.positive("minutes", 15.0), query_history=history.count("queries", 1000),
        failed_query_history=history.count("failed_queries", 200), top_queries=history.count("top_queries", 500),
        error_history=history.count("worker_errors", 100))
    history.finish()
    poll = top.section("poll")
    values.update(poll_interval_seconds=poll.positive("interval_seconds", 5.0),
                  poll_timeout_seconds=poll.positive("timeout_seconds", 2.0),
                  poll_bearer_token=read_secret(poll, "bearer_token", problems, env.get(ENV["poll_token"])))
    poll.finish()
    if values["poll_timeout_seconds"] > values["poll_interval_seconds"]:
        problems.append(f"poll.timeout_seconds: expected at most poll.interval_seconds "
                        f"({values['poll_interval_seconds']}), got {values['poll_timeout_seconds']}")
    limits = read_limits(top.section("limits"))
    ingest = top.section("ingest")
    values["ingest_enabled"] = ingest.get("enabled", bool, True)
    ingest.finish()
    config = Config(
        role=role or "worker", node_id=node_id or "unknown", host=host, port=port,
        thresholds=read_thresholds(top.section("thresholds"), problems),
        stream_interval_seconds=top.positive("stream_interval_seconds", 2.0),
        process=read_process(top, role), data_path=read_data_path(top, role),
        workers=read_workers(top, role, limits.max_workers), auth=read_auth(top.section("auth"), env, problems),
        limits=limits, source=source, **values)
    top.finish()
    if problems:
        raise ConfigError(source, problems)
    return config
