"""SQLite persistence of the slow-query log, so it survives a restart; bounded by count and age."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any


class SlowQueryStore:
    """Entries as JSON rows in one table; at most `max_rows`, none older than `retention_seconds`."""

    def __init__(self, path: str | Path, max_rows: int = 1000, retention_seconds: float = 7 * 86400.0):
        self.path, self.max_rows, self.retention_seconds = str(path), max_rows, retention_seconds
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS slow_queries (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "stored_at REAL NOT NULL, entry TEXT NOT NULL)")
        self.prune()

    def add(self, entry: dict[str, Any]) -> None:
        """Store one entry, then drop the oldest beyond the bounds."""
        with self._lock:
            self._db.execute("INSERT INTO slow_queries (stored_at, entry) VALUES (?, ?)",
                             (time.time(), json.dumps(entry)))
            self._prune_locked()

    def prune(self) -> None:
        with self._lock:
            self._prune_locked()

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
        with self._lock:
            self._db.close()
