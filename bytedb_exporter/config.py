"""Serve-mode configuration: YAML (safe_load) validated into dataclasses; errors name file, key and expectation."""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

import yaml

from .health import Thresholds

ROLES = ("coordinator", "worker")
DEFAULT_PORTS = {"coordinator": 8091, "worker": 9101}
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
ENV = {"host": "BYTEDB_EXPORTER_HOST", "port": "BYTEDB_EXPORTER_PORT", "token": "BYTEDB_EXPORTER_BEARER_TOKEN",
       "password": "BYTEDB_EXPORTER_BASIC_PASSWORD", "poll_token": "BYTEDB_EXPORTER_POLL_TOKEN"}


class ConfigError(ValueError):
    """Every problem of one configuration file, one per line."""

    def __init__(self, source: str, problems: List[str]):
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))
        self.source = source
        self.problems = problems


@dataclass(frozen=True)
class ProcessConfig:
    """The ByteDB process a worker exporter samples: exactly one of pid, pid_file, name."""

    pid: Optional[int] = None
    pid_file: Optional[str] = None
    name: Optional[str] = None
    sample_interval_seconds: float = 5.0


@dataclass(frozen=True)
class RemoteWorker:
    """A worker exporter the coordinator polls."""

    id: str
    url: str


@dataclass(frozen=True)
class AuthConfig:
    """Bearer token and/or basic auth; /metrics and /healthz only when protect_metrics."""

    bearer_token: Optional[str] = None
    basic_username: Optional[str] = None
    basic_password: Optional[str] = None
    protect_metrics: bool = False

    @property
    def enabled(self) -> bool:
        """True when any credential is configured."""
        return bool(self.bearer_token or self.basic_password)


@dataclass(frozen=True)
class Limits:
    """Caps on label values and on what ingest may hold."""

    max_workers: int = 64
    max_open_queries: int = 10000
    open_query_timeout_seconds: float = 600.0
    max_body_bytes: int = 1024 * 1024
    max_batch_events: int = 10000


@dataclass(frozen=True)
class Config:
    """One exporter's settings; `source` is the file they came from."""

    role: str
    node_id: str
    host: str = "127.0.0.1"
    port: int = 8091
    thresholds: Thresholds = field(default_factory=Thresholds)
    stream_interval_seconds: float = 2.0
    history_minutes: float = 15.0
    query_history: int = 1000
    failed_query_history: int = 200
    top_queries: int = 500
    error_history: int = 100
    process: Optional[ProcessConfig] = None
    data_path: Optional[str] = None
    workers: Tuple[RemoteWorker, ...] = ()
    poll_interval_seconds: float = 5.0
    poll_timeout_seconds: float = 2.0
    poll_bearer_token: Optional[str] = None
    ingest_enabled: bool = True
    auth: AuthConfig = field(default_factory=AuthConfig)
    limits: Limits = field(default_factory=Limits)
    source: str = "<config>"


class Section:
    """Typed reads from one mapping of the file; every problem is noted with its dotted key."""

    def __init__(self, data: Any, path: str, problems: List[str]):
        if data is not None and not isinstance(data, dict):
            problems.append(f"{path or 'top level'}: expected a mapping, got {_kind(data)}")
        self.data: Dict[str, Any] = data if isinstance(data, dict) else {}
        self.path, self.problems, self.known = path, problems, set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        self.known.add(name)
        return self.data.get(name) is not None

    def get(self, name: str, kind: type, default: Any = None, check: Optional[Callable[[Any], bool]] = None,
            expect: str = "") -> Any:
        """The value, or the default when absent; a wrong type or failed check is noted."""
        self.known.add(name)
        value = self.data.get(name)
        if value is None:
            return default
        expect = expect or {str: "a string", int: "an integer", float: "a number", bool: "true or false"}[kind]
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if kind is str and ok and not value.strip():
            ok = False
        if not ok or (check is not None and not check(value)):
            self.problems.append(f"{self.key(name)}: expected {expect}, got {value!r}")
            return default
        return value

    def positive(self, name: str, default: float) -> float:
        return self.get(name, float, default, lambda v: v > 0, "a positive number")

    def count(self, name: str, default: int, low: int = 1, high: int = 10 ** 9) -> int:
        return self.get(name, int, default, lambda v: low <= v <= high, f"an integer from {low} to {high}")

    def section(self, name: str) -> "Section":
        self.known.add(name)
        return Section(self.data.get(name), self.key(name), self.problems)

    def finish(self, *allowed_later: str) -> None:
        """Note every key nobody read (typos, keys of another version)."""
        for name in sorted(set(self.data) - self.known - set(allowed_later), key=str):
            expected = ", ".join(sorted(self.known)) or "no keys"
            self.problems.append(f"{self.key(str(name))}: unknown key; expected one of {expected}")


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
        port = _env_port(env[ENV["port"]], problems, port)
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
                  poll_bearer_token=_secret(poll, "bearer_token", problems, env.get(ENV["poll_token"])))
    poll.finish()
    if values["poll_timeout_seconds"] > values["poll_interval_seconds"]:
        problems.append(f"poll.timeout_seconds: expected at most poll.interval_seconds "
                        f"({values['poll_interval_seconds']}), got {values['poll_timeout_seconds']}")
    limits = _limits(top.section("limits"))
    ingest = top.section("ingest")
    values["ingest_enabled"] = ingest.get("enabled", bool, True)
    ingest.finish()
    config = Config(
        role=role or "worker", node_id=node_id or "unknown", host=host, port=port,
        thresholds=_thresholds(top.section("thresholds"), problems),
        stream_interval_seconds=top.positive("stream_interval_seconds", 2.0),
        process=_process(top, role), data_path=_data_path(top, role),
        workers=_workers(top, role, limits.max_workers), auth=_auth(top.section("auth"), env, problems),
        limits=limits, source=source, **values)
    top.finish()
    if problems:
        raise ConfigError(source, problems)
    return config


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _env_port(text: str, problems: List[str], default: int) -> int:
    if text.isdigit() and 1 <= int(text) <= 65535:
        return int(text)
    problems.append(f"environment {ENV['port']}: expected a port from 1 to 65535, got {text!r}")
    return default


def _secret(section: Section, name: str, problems: List[str], override: Optional[str] = None) -> Optional[str]:
    """The environment's override, else an inline secret or the content of `<name>_file` (not both)."""
    inline = section.get(name, str)
    path = section.get(f"{name}_file", str)
    if inline and path:
        problems.append(f"{section.key(name)}: expected either {name} or {name}_file, not both")
    if override:
        return override
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip() or None
        except OSError as error:
            problems.append(f"{section.key(name + '_file')}: expected a readable file, got {path!r} "
                            f"({error.strerror or error})")
    return inline


def _thresholds(section: Section, problems: List[str]) -> Thresholds:
    values = {}
    for f in dataclasses.fields(Thresholds):
        kind = int if f.type in (int, "int") else float
        value = section.get(f.name, kind, None, lambda v: v >= 0,
                            "an integer not below 0" if kind is int else "a number not below 0")
        if value is not None:
            values[f.name] = value
    section.finish()
    try:
        return Thresholds(**values)
    except ValueError as error:
        problems.append(f"thresholds: expected consistent limits: {error}")
        return Thresholds()


def _process(top: Section, role: Optional[str]) -> Optional[ProcessConfig]:
    section = top.section("process")
    if role == "coordinator" and top.data.get("process") is not None:
        top.problems.append("process: only for role worker (a coordinator watches remote workers)")
    pid = section.count("pid", None, 1, 2 ** 22)
    pid_file = section.get("pid_file", str)
    name = section.get("name", str)
    interval = section.positive("sample_interval_seconds", 5.0)
    section.finish()
    chosen = [key for key, value in (("pid", pid), ("pid_file", pid_file), ("name", name)) if value is not None]
    if role == "worker" and len(chosen) != 1 and not any(p.startswith("process.") for p in top.problems):
        top.problems.append(f"process: expected exactly one of pid, pid_file or name, got "
                            f"{', '.join(chosen) or 'none'}")
    return ProcessConfig(pid, pid_file, name, interval) if role == "worker" and len(chosen) == 1 else None


def _data_path(top: Section, role: Optional[str]) -> Optional[str]:
    path = top.get("data_path", str)
    if path is not None and role == "coordinator":
        top.problems.append("data_path: only for role worker")
    elif path is not None and not Path(path).is_dir():
        top.problems.append(f"data_path: expected an existing directory, got {path!r}")
    return path


def _workers(top: Section, role: Optional[str], max_workers: int) -> Tuple[RemoteWorker, ...]:
    top.known.add("workers")
    raw = top.data.get("workers")
    if raw is None:
        return ()
    if role == "worker":
        top.problems.append("workers: only for role coordinator")
        return ()
    if not isinstance(raw, list):
        top.problems.append(f"workers: expected a list of {{id, url}}, got {_kind(raw)}")
        return ()
    found: List[RemoteWorker] = []
    for index, item in enumerate(raw):
        section = Section(item, f"workers[{index}]", top.problems)
        wid = section.get("id", str, None, ID_PATTERN.match, "an id of letters, digits, _ . : - (at most 64)")
        url = section.get("url", str, None, _http_url, "an http:// or https:// URL of a worker exporter")
        section.finish()
        if wid is None or url is None:
            if isinstance(item, dict) and (item.get("id") is None or item.get("url") is None):
                top.problems.append(f"workers[{index}]: expected both id and url")
            continue
        if any(w.id == wid for w in found):
            top.problems.append(f"workers[{index}].id: expected a unique id, got {wid!r} twice")
        found.append(RemoteWorker(wid, url.rstrip("/")))
    if len(found) > max_workers:
        top.problems.append(f"workers: expected at most limits.max_workers ({max_workers}) workers, got {len(found)}")
    return tuple(found)


def _http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _auth(section: Section, env: Mapping[str, str], problems: List[str]) -> AuthConfig:
    token = _secret(section, "bearer_token", problems, env.get(ENV["token"]))
    basic = section.section("basic")
    username = basic.get("username", str)
    password = _secret(basic, "password", problems, env.get(ENV["password"]))
    basic.finish()
    if bool(username) != bool(password):
        problems.append("auth.basic: expected both username and password")
    protect = section.get("protect_metrics", bool, False)
    section.finish()
    if protect and not (token or password):
        problems.append("auth.protect_metrics: expected a bearer_token or basic credentials to protect with")
    return AuthConfig(token, username, password if username else None, protect)


def _limits(section: Section) -> Limits:
    limits = Limits(max_workers=section.count("max_workers", 64, 1, 10000),
                    max_open_queries=section.count("max_open_queries", 10000, 1, 10 ** 6),
                    open_query_timeout_seconds=section.positive("open_query_timeout_seconds", 600.0),
                    max_body_bytes=section.count("max_body_bytes", 1024 * 1024, 1024, 64 * 1024 * 1024),
                    max_batch_events=section.count("max_batch_events", 10000, 1, 10 ** 6))
    section.finish()
    return limits
