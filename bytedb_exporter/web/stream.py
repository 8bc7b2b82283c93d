"""Server-Sent Events: one snapshot per tick, shared by every listening client, at most max_clients at once."""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Generator
from typing import Any

from bytedb_exporter.metrics.registry import MetricsRegistry

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 10  # what a refused client is told to wait (Retry-After); the page backs off further


class ClientStream:
    """One client's SSE text; close() (the WSGI server calls it when the client goes) frees its slot once,
    whether or not iteration ever started."""

    def __init__(self, events: Generator[str, None, None], release: Callable[[], None]):
        self._events = events
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> ClientStream:
        return self

    def __next__(self) -> str:
        return next(self._events)

    def close(self) -> None:
        """Stop the events and give the slot back (idempotent)."""
        release, self._release = self._release, None
        if release is not None:
            try:
                self._events.close()
            finally:
                release()


class SnapshotHub:
    """Builds the live snapshot once per interval while a client listens, and hands the same JSON to at most
    `max_clients` clients; while none listens it builds nothing and only calls `sample` (e.g. a chart point)."""

    def __init__(self, build: Callable[[], dict[str, Any]], registry: MetricsRegistry, interval: float = 2.0,
                 keepalive: float = 15.0, max_clients: int = 200, sample: Callable[[], object] | None = None):
        if interval <= 0:
            raise ValueError("stream interval must be positive")
        if max_clients < 1:
            raise ValueError("max_clients must be at least 1")
        self._build = build
        self._sample = sample
        self.interval = interval
        self.keepalive = keepalive
        self.max_clients = max_clients
        self._condition = threading.Condition()
        self._sequence = 0
        self._payload: str | None = None
        self._stale_through = 0  # snapshots up to this one were built before the last idle spell
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.clients = 0
        self._open_gauge = registry.gauge("stream_clients", "Open /api/stream connections (live dashboard clients).")
        self._refused = registry.counter("stream_refused_total", "Requests to /api/stream refused with 503 because "
                                         "limits.max_streams streams were open.")

    def start(self) -> None:
        """Start ticking in a daemon thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bytedb-snapshot-hub", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop ticking and release every waiting client."""
        self._stop.set()
        self._wake.set()
        with self._condition:
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.clients:
                self.tick()
            else:
                self.sample()
            self._wake.wait(self.interval)
            self._wake.clear()

    def sample(self) -> None:
        """What an idle tick does: the `sample` callback alone (a failure is logged and skipped)."""
        if self._sample is not None:
            try:
                self._sample()
            except Exception:
                log.exception("sampling while no stream client listens failed")

    def tick(self) -> None:
        """Build one snapshot and wake the clients; a failing build is logged and skipped."""
        try:
            payload = json.dumps(self._build(), allow_nan=False)
        except Exception:  # keep the stream alive whatever one snapshot does
            log.exception("building the live snapshot failed")
            return
        with self._condition:
            self._sequence += 1
            self._payload = payload
            self._condition.notify_all()

    @property
    def ticks(self) -> int:
        """Snapshots built so far."""
        return self._sequence

    def latest(self) -> str | None:
        """The JSON of the newest snapshot, if any."""
        with self._condition:
            return self._payload

    def cap(self, most: int) -> None:
        """Lower max_clients to `most` (at least 1), e.g. to what a server's threads can carry."""
        self.max_clients = max(1, min(self.max_clients, most))

    def open(self) -> ClientStream | None:
        """A slot and the stream for one new client, or None (counted as refused) when max_clients are open."""
        with self._condition:
            if self.clients >= self.max_clients:
                self._refused.inc()
                return None
            self.clients += 1
            self._open_gauge.inc()
            if self.clients == 1:
                self._wake.set()  # the first client after an idle spell gets a fresh snapshot at once
        return ClientStream(self._events(), self._release)

    def _release(self) -> None:
        with self._condition:
            self.clients -= 1
            self._open_gauge.dec()
            if not self.clients:
                self._stale_through = self._sequence

    def _events(self) -> Generator[str, None, None]:
        """SSE text: the latest snapshot at once, then each new one; comments keep it alive."""
        yield f"retry: {int(self.interval * 1000)}\n\n"
        with self._condition:
            seen = self._stale_through
        while not self._stop.is_set():
            with self._condition:
                if self._sequence == seen:
                    self._condition.wait(self.keepalive)
                sequence, payload = self._sequence, self._payload
            if sequence != seen and payload is not None:
                seen = sequence
                yield f"id: {sequence}\ndata: {payload}\n\n"
            else:
                yield ": keepalive\n\n"
