"""SQLite persistence of the slow-query log, so it survives a restart; bounded by count and age.

Entries are written by one background thread from a bounded queue: a finishing query (on the engine's
thread, or an ingest request) never waits on the disk, and a locked or broken file is logged and counted,
never raised to the caller.
"""
from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
QUEUE_SIZE = 1000  # entries waiting for the writer; beyond, new entries are dropped (and counted)
BUSY_TIMEOUT_SECONDS = 1.0  # how long the writer waits for a file another process holds locked
RESULTS = ("written", "failed", "dropped")
_STOP = object()


class SlowQueryStore:
    """Entries as JSON rows in one table; at most `max_rows`, none older than `retention_seconds`.

    `count(result)` is called for each entry with its result (one of RESULTS): stored, refused by SQLite,
    or dropped on a full queue (the in-memory log keeps every entry all the same)."""

    def __init__(self, path: str | Path, max_rows: int = 1000, retention_seconds: float = 7 * 86400.0,
                 count: Callable[[str], None] = lambda result: None):
        self.path, self.max_rows, self.retention_seconds = str(path), max_rows, retention_seconds
        self._count = count
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=BUSY_TIMEOUT_SECONDS)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS slow_queries (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "stored_at REAL NOT NULL, entry TEXT NOT NULL)")
        with self._lock:
            self._prune_locked()
        self._queue: queue.Queue[Any] = queue.Queue(QUEUE_SIZE)
        self._writer = threading.Thread(target=self._write_loop, name="slow-query-store", daemon=True)
        self._writer.start()

    def add(self, entry: dict[str, Any]) -> None:
        """Queue one entry for the writer (never blocks; a full queue drops it)."""
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self._count("dropped")

    def flush(self) -> None:
        """Wait until every queued entry has been written (or has failed)."""
        self._queue.join()

    def _write_loop(self) -> None:
        while True:
            entry = self._queue.get()
            try:
                if entry is _STOP:
                    return
                self._store(entry)
            finally:
                self._queue.task_done()

    def _store(self, entry: dict[str, Any]) -> None:
        try:
            with self._lock:
                self._db.execute("INSERT INTO slow_queries (stored_at, entry) VALUES (?, ?)",
                                 (time.time(), json.dumps(entry)))
                self._prune_locked()
            self._count("written")
        except sqlite3.Error as error:
            self._count("failed")
            log.warning("slow-query store %s: entry %s not written: %s", self.path, entry.get("query_id"), error)

    def _prune_locked(self) -> None:
        self._db.execute("DELETE FROM slow_queries WHERE stored_at < ?", (time.time() - self.retention_seconds,))
        self._db.execute("DELETE FROM slow_queries WHERE id <= (SELECT id FROM slow_queries ORDER BY id DESC "
                         "LIMIT 1 OFFSET ?)", (self.max_rows,))

    def load(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` stored entries, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT entry FROM slow_queries ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [json.loads(row[0]) for row in reversed(rows)]

    def close(self) -> None:
        """Write what is queued, stop the writer and close the file."""
        self._queue.put(_STOP)
        self._writer.join()
        with self._lock:
            self._db.close()
