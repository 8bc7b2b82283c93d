"""Serve-mode configuration: YAML (safe_load) validated into dataclasses; errors name file, key and expectation."""
from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from bytedb_exporter.config.models import AuthConfig, Config, ConfigError, Limits, ProcessConfig, RemoteWorker
from bytedb_exporter.config.sections import (
    ENV,
    ID_EXPECT,
    ID_PATTERN,
    Section,
    env_port,
    read_auth,
    read_data_path,
    read_limits,
    read_process,
    read_secret,
    read_thresholds,
    read_workers,
)

# The dataclasses live in config_models and are re-exported here for existing importers.
__all__ = ["AuthConfig", "Config", "ConfigError", "Limits", "ProcessConfig", "RemoteWorker",
           "example_config", "load_config", "parse_config"]

ROLES = ("coordinator", "worker")
DEFAULT_PORTS = {"coordinator": 8091, "worker": 9101}


def example_config(role: str) -> str:
    """The commented example configuration of a role (coordinator or worker), shipped inside the package."""
    if role not in ROLES:
        raise ValueError(f"no example configuration for role {role!r}; expected one of {', '.join(ROLES)}")
    return (resources.files("bytedb_exporter.config") / "examples" / f"{role}.yml").read_text(encoding="utf-8")


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
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
    problems: list[str] = []
    top = Section(data, "", problems)
    role = top.required("role", str, lambda v: v in ROLES, "coordinator or worker", "coordinator or worker")
    node_id = top.required("node_id", str, ID_PATTERN.match, ID_EXPECT, "the id of this node, e.g. worker-1")
    listen = top.section("listen")
    host = env.get(ENV["host"]) or listen.get("host", str, Config.host)
    port = listen.count("port", DEFAULT_PORTS.get(role or "", Config.port), 1, 65535)
    if env.get(ENV["port"]):
        port = env_port(env[ENV["port"]], problems, port)
    listen.finish()
    history = top.section("history")
    values: dict[str, Any] = dict(
        history_minutes=history.positive("minutes", Config.history_minutes, 1440),
        query_history=history.count("queries", Config.query_history),
        failed_query_history=history.count("failed_queries", Config.failed_query_history),
        top_queries=history.count("top_queries", Config.top_queries),
        slow_query_seconds=history.positive("slow_query_seconds", Config.slow_query_seconds),
        slow_queries=history.count("slow_queries", Config.slow_queries),
        slow_query_db=history.get("slow_query_db", str, None, lambda v: Path(v).parent.is_dir(),
                                  "a non-empty string of valid UTF-8: a file path in an existing directory"),
        export_statements=history.count("export_statements", Config.export_statements, 0, 1000),
        slow_query_retention_days=history.positive("slow_query_retention_days", Config.slow_query_retention_days,
                                                    3650),
        error_history=history.count("worker_errors", Config.error_history))
    history.finish()
    poll = top.section("poll")
    values.update(poll_interval_seconds=poll.positive("interval_seconds", Config.poll_interval_seconds),
                  poll_timeout_seconds=poll.positive("timeout_seconds", Config.poll_timeout_seconds),
                  poll_bearer_token=read_secret(poll, "bearer_token", problems, env.get(ENV["poll_token"])))
    poll.finish()
    if values["poll_timeout_seconds"] > values["poll_interval_seconds"]:
        problems.append(f"poll.timeout_seconds: expected at most poll.interval_seconds "
                        f"({values['poll_interval_seconds']}), got {values['poll_timeout_seconds']}")
    limits = read_limits(top.section("limits"))
    ingest = top.section("ingest")
    values["ingest_enabled"] = ingest.get("enabled", bool, Config.ingest_enabled)
    ingest.finish()
    api = top.section("api")
    values["allow_unauthenticated_reset"] = api.get("allow_unauthenticated_reset", bool,
                                                    Config.allow_unauthenticated_reset)
    api.finish()
    config = Config(
        role=role or "worker", node_id=node_id or "unknown", host=host, port=port,
        thresholds=read_thresholds(top.section("thresholds"), problems),
        stream_interval_seconds=top.positive("stream_interval_seconds", Config.stream_interval_seconds),
        scrape_cache_seconds=top.get("scrape_cache_seconds", float, Config.scrape_cache_seconds,
                                     lambda v: 0 <= v <= 60, "a number of seconds from 0 to 60"),
        process=read_process(top, role), data_path=read_data_path(top, role),
        workers=read_workers(top, role, limits.max_workers), auth=read_auth(top.section("auth"), env, problems),
        limits=limits, source=source, **values)
    top.finish()
    if problems:
        raise ConfigError(source, problems)
    return config
