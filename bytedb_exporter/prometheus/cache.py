"""The exposition bytes, built at most once per `max_age` seconds and by one thread at a time.

Prometheus HA pairs scrape the same exporter twice per interval, and concurrent scrapes of a large
cluster would each pay the whole build: every scrape within `max_age` of the last build gets its
bytes (0 builds on every scrape). While one thread builds, the others asking for the same format
wait for its result instead of building too; requests that do not scrape (/healthz) are not held.
"""
from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

DEFAULT_MAX_AGE_SECONDS = 1.0


@dataclass(frozen=True)
class Exposition:
    """One built exposition: its text, the same gzipped (made on first ask), and its content type."""

    body: bytes
    content_type: str
    built_at: float


class ExpositionCache:
    """The exposition of `registry` per format, reused while younger than `max_age` seconds."""

    def __init__(self, registry: CollectorRegistry, max_age: float = DEFAULT_MAX_AGE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        if max_age < 0:
            raise ValueError("scrape cache max_age must not be negative")
        self.registry = registry
        self.max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._built: dict[str, Exposition] = {}
        self._gzipped: dict[str, tuple[float, bytes]] = {}
        self.builds = 0

    def get(self, accept: str) -> Exposition:
        """The exposition in the format `accept` asks for (OpenMetrics or text 0.0.4), built anew when stale."""
        encoder, content_type = choose_encoder(accept)
        cached = self._fresh(content_type)
        if cached is not None:
            return cached
        with self._lock:  # one build at a time; whoever waited here finds it built
            cached = self._fresh(content_type)
            if cached is None:
                started = self._clock()
                cached = self._built[content_type] = Exposition(encoder(self.registry), content_type, started)
                self.builds += 1
            return cached

    def gzipped(self, exposition: Exposition) -> bytes:
        """`exposition`'s body gzipped, compressed once per build."""
        held = self._gzipped.get(exposition.content_type)
        if held is not None and held[0] == exposition.built_at:
            return held[1]
        body = gzip.compress(exposition.body, compresslevel=6)
        self._gzipped[exposition.content_type] = (exposition.built_at, body)
        return body

    def _fresh(self, content_type: str) -> Exposition | None:
        cached = self._built.get(content_type)
        if cached is not None and self._clock() - cached.built_at < self.max_age:
            return cached
        return None
