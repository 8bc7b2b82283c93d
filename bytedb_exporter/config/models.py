"""Serve-mode configuration as frozen dataclasses, and the error that lists a file's problems."""
from __future__ import annotations

from dataclasses import dataclass, field

from bytedb_exporter.rules.health import Thresholds


class ConfigError(ValueError):
    """Every problem of one configuration file, one per line."""

    def __init__(self, source: str, problems: list[str]):
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))
        self.source = source
        self.problems = problems


@dataclass(frozen=True)
class ProcessConfig:
    """The ByteDB process a worker exporter samples: exactly one of pid, pid_file, name."""

    pid: int | None = None
    pid_file: str | None = None
    name: str | None = None
    sample_interval_seconds: float = 5.0


@dataclass(frozen=True)
class RemoteWorker:
    """A worker exporter the coordinator polls."""

    id: str
    url: str


@dataclass(frozen=True)
class AuthConfig:
    """Bearer token and/or basic auth; /metrics and /healthz only when protect_metrics."""

    bearer_token: str | None = None
    basic_username: str | None = None
    basic_password: str | None = None
    protect_metrics: bool = False

    @property
    def enabled(self) -> bool:
        """True when any credential is configured."""
        return bool(self.bearer_token or self.basic_password)


CARDINALITY_LEVELS = ("low", "default", "high")
"""limits.cardinality: which per-worker label sets are exported (docs/scaling.md, "Cardinality levels")."""


@dataclass(frozen=True)
class Limits:
    """Caps on label values, on what ingest may hold and on open live streams."""

    max_workers: int = 64
    max_open_queries: int = 10000
    open_query_timeout_seconds: float = 600.0
    max_body_bytes: int = 1024 * 1024
    max_batch_events: int = 10000
    max_streams: int = 200  # open /api/stream clients; under gunicorn at most threads - 32
    cardinality: str = "default"  # one of CARDINALITY_LEVELS


@dataclass(frozen=True)
class Config:
    """One exporter's settings; `source` is the file they came from."""

    role: str
    node_id: str
    host: str = "127.0.0.1"
    port: int = 8091
    thresholds: Thresholds = field(default_factory=Thresholds)
    stream_interval_seconds: float = 2.0
    scrape_cache_seconds: float = 1.0  # a /metrics exposition is reused this long (0: built per scrape)
    history_minutes: float = 15.0
    query_history: int = 1000
    failed_query_history: int = 200
    top_queries: int = 500
    slow_query_seconds: float = 0.3  # queries over this go to the slow-query log
    slow_queries: int = 200  # slow queries kept in memory (and in slow_query_db)
    slow_query_db: str | None = None  # SQLite file keeping the slow-query log across restarts
    slow_query_retention_days: float = 7.0
    export_statements: int = 0  # top K statements exported as bytedb_statement_* (0: none)
    error_history: int = 100
    process: ProcessConfig | None = None
    data_path: str | None = None
    workers: tuple[RemoteWorker, ...] = ()
    poll_interval_seconds: float = 5.0
    poll_timeout_seconds: float = 2.0
    poll_bearer_token: str | None = None
    ingest_enabled: bool = True
    allow_unauthenticated_reset: bool = False  # POST /api/statements/reset with auth off
    auth: AuthConfig = field(default_factory=AuthConfig)
    limits: Limits = field(default_factory=Limits)
    source: str = "<config>"
