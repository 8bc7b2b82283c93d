"""The exposition bytes, built at most once per `max_age` seconds and by one thread at a time.

Prometheus HA pairs scrape the same exporter twice per interval, and concurrent scrapes of a large
cluster would each pay the whole build: every scrape within `max_age` of the last build gets its
bytes (0 builds on every scrape). While one thread builds, the others asking for the same format
wait for its result instead of building too; requests that do not scrape (/healthz) are not held.

A build pauses Python's cyclic garbage collector. The families it builds (a tuple and a dict per sample,
hundreds of thousands with 1000 workers) survive the young generations while it runs, so they set off
full collections over the whole heap, each holding the GIL for 70-90 ms at 1000 workers: the stalls other
requests saw during a scrape. Freed by reference counting once the bytes exist, they leave no work behind.
"""
from __future__ import annotations

import contextlib
import gc
import gzip
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

DEFAULT_MAX_AGE_SECONDS = 1.0

_pause_lock = threading.Lock()
_pauses = 0
_resume = False


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic garbage collection in this process while any thread is inside this block (a collector that
    was disabled before stays disabled)."""
    global _pauses, _resume
    with _pause_lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()


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
                with collection_paused():
                    body = encoder(self.registry)
                cached = self._built[content_type] = Exposition(body, content_type, started)
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
