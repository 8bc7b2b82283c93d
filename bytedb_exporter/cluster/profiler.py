"""Profiling sessions: what really finished while a profile ran, plus sampled process resources."""
from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from bytedb_exporter.cluster.sampling import ProcessSampler
from bytedb_exporter.metrics.jsonutil import to_jsonable
from bytedb_exporter.metrics.stats import exact_percentile, percent
from bytedb_exporter.query.models import QueryMetrics
from bytedb_exporter.query.monitor import QueryMonitor

log = logging.getLogger(__name__)
MAX_DURATIONS = 100_000
MAX_SAMPLES = 3_600


@dataclass
class ProfileSample:
    """One resource reading taken during a profile."""

    timestamp: datetime
    metrics: dict[str, float]


@dataclass
class ProfileSummary:
    """Aggregates of a finished profile."""

    total_queries: int
    average_latency: timedelta
    p95_latency: timedelta
    error_rate: float
    throughput_qps: float
    resource_usage: dict[str, float]


@dataclass
class ProfileData:
    """A finished profile: its window, samples and summary."""

    profile_id: str
    start_time: datetime
    end_time: datetime
    duration: timedelta
    samples: list[ProfileSample]
    summary: ProfileSummary

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@dataclass
class _Session:
    profile_id: str
    start_time: datetime
    started: float
    durations: list[float] = field(default_factory=list)
    queries: int = 0
    errors: int = 0
    samples: list[ProfileSample] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    listener: Callable[[QueryMetrics], None] | None = None


class PerformanceProfiler:
    """Runs named profiles over a QueryMonitor; each samples this process every `sample_interval` s."""

    def __init__(self, query_monitor: QueryMonitor, sample_interval: float = 1.0, pid: int | None = None):
        self.query_monitor = query_monitor
        self.sample_interval = sample_interval
        self._sampler = ProcessSampler(pid)
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def start_profile(self, profile_id: str) -> None:
        """Begin profile `profile_id`; a running profile of that id raises ValueError."""
        session = _Session(profile_id, datetime.now(timezone.utc), time.monotonic())
        with self._lock:
            if profile_id in self._sessions:
                raise ValueError(f"profile {profile_id!r} is already running")
            self._sessions[profile_id] = session
        self._sampler.sample()  # primes the CPU reading: the next one covers the profile
        session.listener = functools.partial(self._on_query, session)
        self.query_monitor.add_listener(session.listener)
        session.thread = threading.Thread(target=self._sample_loop, args=(session,),
                                          name=f"profile-{profile_id}", daemon=True)
        session.thread.start()

    def active_profiles(self) -> list[str]:
        """Ids of the profiles that are running."""
        with self._lock:
            return list(self._sessions)

    def stop_profile(self, profile_id: str) -> ProfileData:
        """End profile `profile_id` and summarize it; unknown or stopped ids raise KeyError."""
        with self._lock:
            session = self._sessions.pop(profile_id, None)
        if session is None:
            raise KeyError(f"no running profile {profile_id!r}")
        session.stop_event.set()
        if session.thread is not None:
            session.thread.join()
        if session.listener is not None:
            self.query_monitor.remove_listener(session.listener)
        self._take_sample(session)
        elapsed = time.monotonic() - session.started
        end_time = session.start_time + timedelta(seconds=elapsed)
        return ProfileData(profile_id, session.start_time, end_time, timedelta(seconds=elapsed),
                           session.samples, summarize(session, elapsed))

    def _on_query(self, session: _Session, metrics: QueryMetrics) -> None:
        with self._lock:
            session.queries += 1
            session.errors += metrics.error_occurred
            if len(session.durations) < MAX_DURATIONS:
                session.durations.append(metrics.total_seconds)

    def _sample_loop(self, session: _Session) -> None:
        while not session.stop_event.wait(self.sample_interval):
            self._take_sample(session)

    def _take_sample(self, session: _Session) -> None:
        sample = self._sampler.sample()
        if not sample.ok:
            log.warning("profile %s: cannot sample process %s: %s", session.profile_id, sample.pid, sample.status)
            return
        figures = {"cpu_percent": sample.cpu_percent, "memory_rss_bytes": sample.memory_bytes,
                   "memory_percent": sample.memory_percent, "threads": sample.threads}
        reading = {key: float(value) for key, value in figures.items() if value is not None}  # None: not read
        with self._lock:
            reading["queries_finished"] = float(session.queries)
            if len(session.samples) < MAX_SAMPLES:
                session.samples.append(ProfileSample(datetime.now(timezone.utc), reading))


def summarize(session: _Session, elapsed: float) -> ProfileSummary:
    """The summary of a profile from its recorded queries and samples."""
    durations = session.durations
    usage: dict[str, float] = {}
    for key in ("cpu_percent", "memory_rss_bytes", "memory_percent", "threads"):
        values = [sample.metrics[key] for sample in session.samples if key in sample.metrics]
        if values:
            usage[f"average_{key}"] = sum(values) / len(values)
            usage[f"max_{key}"] = max(values)
    average = sum(durations) / len(durations) if durations else 0.0
    p95 = exact_percentile(durations, 0.95) if durations else 0.0
    return ProfileSummary(
        total_queries=session.queries,
        average_latency=timedelta(seconds=average),
        p95_latency=timedelta(seconds=p95),
        error_rate=percent(session.errors, session.queries),
        throughput_qps=session.queries / elapsed if elapsed > 0 else 0.0,
        resource_usage=usage,
    )
