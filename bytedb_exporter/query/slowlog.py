"""The slow-query log: queries over a threshold with their plan and fragments, bounded, in three formats."""
from __future__ import annotations

import csv
import io
import json
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from bytedb_exporter.query.fragments import fragment_skew
from bytedb_exporter.query.models import QueryMetrics

FORMATS = {"json": "application/json", "ndjson": "application/x-ndjson", "csv": "text/csv"}
CSV_COLUMNS = ("query_id", "start_time", "end_time", "total_seconds", "query_type", "status", "rows_processed",
               "bytes_transferred", "workers_used", "fragment_count", "skew_ratio", "error_message", "sql", "plan",
               "fragments")


def slow_entry(metrics: QueryMetrics) -> dict[str, Any]:
    """One slow query as a flat JSON-able record (times ISO, durations seconds, fragments as objects)."""
    data = metrics.to_dict()
    return {
        "query_id": metrics.query_id,
        "start_time": data["start_time"],
        "end_time": data["end_time"],
        "total_seconds": metrics.total_seconds,
        "query_type": metrics.query_type,
        "status": "failed" if metrics.error_message else "success",
        "rows_processed": metrics.rows_processed,
        "bytes_transferred": metrics.bytes_transferred,
        "workers_used": metrics.workers_used,
        "fragment_count": len(metrics.fragments),
        "skew_ratio": fragment_skew(metrics.fragments),
        "error_message": metrics.error_message or None,
        "sql": metrics.sql,
        "plan": metrics.plan or None,
        "fragments": [fragment.to_dict() for fragment in metrics.fragments],
    }


class SlowQueryLog:
    """The newest `size` queries that took more than `threshold_seconds`; `persist` (if given) is called
    with each new entry (e.g. SlowQueryStore.add) after it is kept in memory."""

    def __init__(self, threshold_seconds: float = 0.3, size: int = 200,
                 persist: Callable[[dict[str, Any]], None] | None = None, initial: Iterable[dict[str, Any]] = ()):
        if size < 1 or threshold_seconds < 0:
            raise ValueError("the slow-query log needs a size of at least 1 and a threshold not below 0")
        self.threshold_seconds = threshold_seconds
        self._entries: deque[dict[str, Any]] = deque(initial, maxlen=size)
        self._persist = persist
        self._lock = threading.Lock()

    def __call__(self, metrics: QueryMetrics) -> None:
        """A QueryMonitor listener: keep `metrics` when it is slow."""
        if metrics.total_seconds <= self.threshold_seconds:
            return
        entry = slow_entry(metrics)
        with self._lock:
            self._entries.append(entry)
        if self._persist is not None:
            self._persist(entry)

    def entries(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The kept entries, newest first."""
        with self._lock:
            newest = list(self._entries)[::-1]
        return newest if limit is None else newest[:limit]


def render(entries: list[dict[str, Any]], fmt: str) -> str:
    """json (an array), ndjson (one object a line) or RFC 4180 CSV with a header row (fragments as JSON)."""
    if fmt == "json":
        return json.dumps(entries)
    if fmt == "ndjson":
        return "".join(json.dumps(entry) + "\n" for entry in entries)
    if fmt != "csv":
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow([json.dumps(entry["fragments"]) if key == "fragments" else
                         "" if entry[key] is None else entry[key] for key in CSV_COLUMNS])
    return out.getvalue()
