"""Server-Sent Events: one snapshot per tick, shared by every listening client."""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)


class SnapshotHub:
    """Builds the live snapshot once per interval and hands the same JSON to all clients."""

    def __init__(self, build: Callable[[], dict[str, Any]], interval: float = 2.0, keepalive: float = 15.0):
        if interval <= 0:
            raise ValueError("stream interval must be positive")
        self._build = build
        self.interval = interval
        self.keepalive = keepalive
        self._condition = threading.Condition()
        self._sequence = 0
        self._payload: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.clients = 0

    def start(self) -> None:
        """Start ticking in a daemon thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bytedb-snapshot-hub", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop ticking and release every waiting client."""
        self._stop.set()
        with self._condition:
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

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

    def events(self) -> Iterator[str]:
        """SSE text for one client: the latest snapshot at once, then each new one; comments keep it alive."""
        with self._condition:
            self.clients += 1
        try:
            yield f"retry: {int(self.interval * 1000)}\n\n"
            seen = 0
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
        finally:
            with self._condition:
                self.clients -= 1
