"""Typed, problem-noting reads of the YAML config's sections into config_models dataclasses."""
from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, overload
from urllib.parse import urlsplit

from bytedb_exporter.config.models import CARDINALITY_LEVELS, AuthConfig, Limits, ProcessConfig, RemoteWorker
from bytedb_exporter.metrics.text import is_encodable
from bytedb_exporter.rules.health import Thresholds

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
ID_EXPECT = "an id of letters, digits, _ . : - (at most 64)"
ENV = {"host": "BYTEDB_EXPORTER_HOST", "port": "BYTEDB_EXPORTER_PORT", "token": "BYTEDB_EXPORTER_BEARER_TOKEN",
       "password": "BYTEDB_EXPORTER_BASIC_PASSWORD", "poll_token": "BYTEDB_EXPORTER_POLL_TOKEN"}


class Section:
    """Typed reads from one mapping of the file; every problem is noted with its dotted key."""

    def __init__(self, data: Any, path: str, problems: list[str]):
        if data is not None and not isinstance(data, dict):
            problems.append(f"{path or 'top level'}: expected a mapping, got {_kind(data)}")
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        self.path, self.problems = path, problems
        self.known: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        self.known.add(name)
        return self.data.get(name) is not None

    def get(self, name: str, kind: type, default: Any = None, check: Callable[[Any], object] | None = None,
            expect: str = "") -> Any:
        """The value, or the default when absent; a wrong type or failed check is noted."""
        self.known.add(name)
        value = self.data.get(name)
        if value is None:
            return default
        expect = expect or {str: "a non-empty string of valid UTF-8", int: "an integer", float: "a number",
                            bool: "true or false"}[kind]
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if kind is str and ok and isinstance(value, str) and (not value.strip() or not _clean_text(value)):
            ok = False
        if kind is float and ok and isinstance(value, float) and not math.isfinite(value):
            ok = False
        if not ok or (check is not None and not check(value)):
            self.problems.append(f"{self.key(name)}: expected {expect}, got {value!r}")
            return default
        return value

    def required(self, name: str, kind: type, check: Callable[[Any], object], expect: str, missing: str) -> Any:
        """Like get without a default; an absent key is noted as missing."""
        value = self.get(name, kind, None, check, expect)
        if value is None and not self.has(name):
            self.problems.append(f"{self.key(name)}: missing; expected {missing}")
        return value

    def positive(self, name: str, default: float, high: float = 10 ** 9) -> float:
        return self.get(name, float, default, lambda v: 0 < v <= high, f"a number above 0, at most {high:g}")

    @overload
    def count(self, name: str, default: int, low: int = 1, high: int = 10 ** 9) -> int: ...

    @overload
    def count(self, name: str, default: None, low: int = 1, high: int = 10 ** 9) -> int | None: ...

    def count(self, name: str, default: int | None, low: int = 1, high: int = 10 ** 9) -> int | None:
        return self.get(name, int, default, lambda v: low <= v <= high, f"an integer from {low} to {high}")

    def section(self, name: str) -> Section:
        self.known.add(name)
        return Section(self.data.get(name), self.key(name), self.problems)

    def finish(self, *allowed_later: str) -> None:
        """Note every key nobody read (typos, keys of another version)."""
        for name in sorted(set(self.data) - self.known - set(allowed_later), key=str):
            expected = ", ".join(sorted(self.known)) or "no keys"
            self.problems.append(f"{self.key(str(name))}: unknown key; expected one of {expected}")


def _clean_text(value: str) -> bool:
    """Valid UTF-8 (no lone surrogate, as a YAML escape can write) and no NUL."""
    return is_encodable(value) and "\x00" not in value


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def env_port(text: str, problems: list[str], default: int) -> int:
    """The port from the environment override, else `default` (a bad value is noted)."""
    if text.isdigit() and 1 <= int(text) <= 65535:
        return int(text)
    problems.append(f"environment {ENV['port']}: expected a port from 1 to 65535, got {text!r}")
    return default


def read_secret(section: Section, name: str, problems: list[str], override: str | None = None) -> str | None:
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


def read_thresholds(section: Section, problems: list[str]) -> Thresholds:
    """Health thresholds; unset keys keep their defaults."""
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


def read_process(top: Section, role: str | None) -> ProcessConfig | None:
    """The sampled process of a worker (None for a coordinator)."""
    section = top.section("process")
    if role == "coordinator" and top.data.get("process") is not None:
        top.problems.append("process: only for role worker (a coordinator watches remote workers)")
    pid = section.count("pid", None, 1, 2 ** 22)
    pid_file = section.get("pid_file", str)
    name = section.get("name", str)
    interval = section.positive("sample_interval_seconds", ProcessConfig.sample_interval_seconds)
    section.finish()
    chosen = [key for key, value in (("pid", pid), ("pid_file", pid_file), ("name", name)) if value is not None]
    if role == "worker" and len(chosen) != 1 and not any(p.startswith("process.") for p in top.problems):
        top.problems.append(f"process: expected exactly one of pid, pid_file or name, got "
                            f"{', '.join(chosen) or 'none'}")
    return ProcessConfig(pid, pid_file, name, interval) if role == "worker" and len(chosen) == 1 else None


def read_data_path(top: Section, role: str | None) -> str | None:
    """A worker's data directory, if given."""
    path = top.get("data_path", str)
    if path is not None and role == "coordinator":
        top.problems.append("data_path: only for role worker")
    elif path is not None and not Path(path).is_dir():
        top.problems.append(f"data_path: expected an existing directory, got {path!r}")
    return path


def read_workers(top: Section, role: str | None, max_workers: int) -> tuple[RemoteWorker, ...]:
    """The worker exporters a coordinator polls."""
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
    found: list[RemoteWorker] = []
    for index, item in enumerate(raw):
        section = Section(item, f"workers[{index}]", top.problems)
        wid = section.get("id", str, None, ID_PATTERN.match, ID_EXPECT)
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


def read_auth(section: Section, env: Mapping[str, str], problems: list[str]) -> AuthConfig:
    """Credentials of the auth section, environment overrides first."""
    token = read_secret(section, "bearer_token", problems, env.get(ENV["token"]))
    basic = section.section("basic")
    username = basic.get("username", str)
    password = read_secret(basic, "password", problems, env.get(ENV["password"]))
    basic.finish()
    if bool(username) != bool(password):
        problems.append("auth.basic: expected both username and password")
    protect = section.get("protect_metrics", bool, False)
    section.finish()
    if protect and not (token or password):
        problems.append("auth.protect_metrics: expected a bearer_token or basic credentials to protect with")
    return AuthConfig(token, username, password if username else None, protect)


def read_limits(section: Section) -> Limits:
    """Caps of the limits section; unset keys keep the Limits defaults."""
    limits = Limits(max_workers=section.count("max_workers", Limits.max_workers, 1, 10000),
                    max_open_queries=section.count("max_open_queries", Limits.max_open_queries, 1, 10 ** 6),
                    open_query_timeout_seconds=section.positive("open_query_timeout_seconds",
                                                                Limits.open_query_timeout_seconds),
                    max_body_bytes=section.count("max_body_bytes", Limits.max_body_bytes, 1024, 64 * 1024 * 1024),
                    max_batch_events=section.count("max_batch_events", Limits.max_batch_events, 1, 10 ** 6),
                    max_streams=section.count("max_streams", Limits.max_streams, 1, 100000),
                    cardinality=section.get("cardinality", str, Limits.cardinality, CARDINALITY_LEVELS.__contains__,
                                            "one of " + ", ".join(CARDINALITY_LEVELS)))
    section.finish()
    return limits
