"""Statement statistics: exact per-fingerprint call counts and duration moments (Welford), bounded."""
from __future__ import annotations

import hashlib
import heapq
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from operator import attrgetter
from typing import Any

from bytedb_exporter.metrics.jsonutil import iso

OTHER = "other"
SORT_KEYS = {
    "total": "total_seconds",
    "mean": "mean",
    "calls": "calls",
    "errors": "errors",
    "rows": "rows",
}


def iso_timestamp(timestamp: float) -> str:
    """A Unix timestamp as ISO 8601 UTC."""
    return iso(datetime.fromtimestamp(timestamp, timezone.utc))


def fingerprint(normalized_sql: str) -> str:
    """A stable 16-hex-digit hash of a normalized SQL text."""
    return hashlib.sha256(normalized_sql.encode("utf-8")).hexdigest()[:16]


@dataclass(slots=True)
class StatementStats:
    """Running totals of one normalized statement; `m2` is Welford's sum of squared deviations."""

    fingerprint: str
    query: str
    stats_since: float
    calls: int = 0
    errors: int = 0
    total_seconds: float = 0.0
    mean: float = 0.0
    m2: float = 0.0
    min_seconds: float = math.inf
    max_seconds: float = 0.0
    rows: int = 0
    bytes: int = 0
    cached_calls: int = 0  # calls that reported a 100 % cache hit rate
    first_seen: float = 0.0
    last_seen: float = 0.0

    def add(self, seconds: float, failed: bool, rows: int, nbytes: int, cache_hit: bool, end: float) -> None:
        """Count one call (Welford's update of mean and m2)."""
        self.calls += 1
        delta = seconds - self.mean
        self.mean += delta / self.calls
        self.m2 += delta * (seconds - self.mean)
        self.total_seconds += seconds
        if seconds < self.min_seconds:
            self.min_seconds = seconds
        if seconds > self.max_seconds:
            self.max_seconds = seconds
        self.errors += failed
        self.rows += rows
        self.bytes += nbytes
        self.cached_calls += cache_hit
        if not self.first_seen:
            self.first_seen = end
        self.last_seen = end

    def merge(self, other: StatementStats) -> None:
        """Fold another statement's calls into this one (Chan et al.'s parallel combination)."""
        if not other.calls:
            return
        calls = self.calls + other.calls
        delta = other.mean - self.mean
        self.m2 += other.m2 + delta * delta * self.calls * other.calls / calls
        self.mean += delta * other.calls / calls
        self.calls = calls
        self.total_seconds += other.total_seconds
        self.min_seconds = min(self.min_seconds, other.min_seconds)
        self.max_seconds = max(self.max_seconds, other.max_seconds)
        self.errors += other.errors
        self.rows += other.rows
        self.bytes += other.bytes
        self.cached_calls += other.cached_calls
        self.first_seen = min(self.first_seen, other.first_seen) if self.first_seen else other.first_seen
        self.last_seen = max(self.last_seen, other.last_seen)

    @property
    def stddev(self) -> float:
        """Population standard deviation of the calls' durations."""
        return math.sqrt(self.m2 / self.calls) if self.calls else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The documented row of /api/statements (mean, stddev, min, max and times null before the first call)."""
        return {
            "fingerprint": self.fingerprint,
            "query": self.query,
            "calls": self.calls,
            "errors": self.errors,
            "total_seconds": self.total_seconds,
            "mean_seconds": self.mean if self.calls else None,
            "stddev_seconds": self.stddev if self.calls else None,
            "min_seconds": self.min_seconds if self.calls else None,
            "max_seconds": self.max_seconds if self.calls else None,
            "rows": self.rows,
            "bytes": self.bytes,
            "cached_calls": self.cached_calls,
            "first_seen": iso_timestamp(self.first_seen) if self.calls else None,
            "last_seen": iso_timestamp(self.last_seen) if self.calls else None,
            "stats_since": iso_timestamp(self.stats_since),
        }


LEADERS = 64  # the rows with the largest totals a StatementTable keeps apart (get_top_queries reads only them)


class StatementTable:
    """At most `size` statements; when full, a new one evicts the smallest total time into the `other` row.

    A lazy min-heap finds that one: every update pushes (total, seq, key) and only the newest push of a
    key counts; the heap is rebuilt when stale entries outnumber live ones 4 to 1 (amortized O(log n)).

    When `size` exceeds LEADERS, the LEADERS rows with the largest totals (the leaders) are kept apart too,
    so that the top by total of at most LEADERS rows reads only them. Totals only grow, so a leader stays
    one until a non-leader passes it: `add` compares a row's total with `_threshold`, a lower bound of the
    smallest leader total, and only a non-leader above it meets the leaders' min-heap of (total, key), whose
    totals are lower bounds refreshed when they reach the top (amortized O(log LEADERS)). Eviction never
    takes a leader (a non-leader ties with it); resetting one re-ranks the table (O(n)).
    Not thread-safe for writers: the monitor holds its lock around `add` and `reset`.
    """

    def __init__(self, size: int, now: float):
        if size < 1:
            raise ValueError("the statement table needs room for at least 1 statement")
        self.size = size
        self.stats_since = now
        self._rows: dict[str, StatementStats] = {}
        self._newest: dict[str, int] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        # The threshold while the leaders have room: every row enters, or none when all rows fit in LEADERS.
        self._open = -math.inf if size > LEADERS else math.inf
        self._set_leaders({})
        self.other = StatementStats(OTHER, "", now)

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, normalized: str, seconds: float, failed: bool, rows: int, nbytes: int, cache_hit: bool,
            end: float) -> None:
        """Count one finished call of a normalized SQL text (`seconds` >= 0: totals only grow)."""
        row = self._rows.get(normalized)
        if row is None:
            if len(self._rows) >= self.size:
                self._evict_smallest()
            row = self._rows[normalized] = StatementStats(fingerprint(normalized), normalized, end)
        row.add(seconds, failed, rows, nbytes, cache_hit, end)
        total = row.total_seconds
        if total > self._threshold and normalized not in self._leaders:
            self._promote(normalized, row)
        seq = self._seq = self._seq + 1
        self._newest[normalized] = seq
        heap = self._heap
        heapq.heappush(heap, (total, seq, normalized))
        if len(heap) > 4 * len(self._rows) + 16:
            self._heap = [(self._rows[k].total_seconds, seq, k) for k, seq in self._newest.items()]
            heapq.heapify(self._heap)

    def _promote(self, key: str, row: StatementStats) -> None:
        """Make a non-leader above the threshold a leader if there is room or it passes the smallest one."""
        leaders, heap = self._leaders, self._leader_heap
        if len(leaders) < LEADERS:
            leaders[key] = row
            heapq.heappush(heap, (row.total_seconds, key))
        elif row.total_seconds > self._smallest_leader():
            del leaders[heapq.heapreplace(heap, (row.total_seconds, key))[1]]
            leaders[key] = row
        if len(leaders) == LEADERS:
            self._threshold = heap[0][0]

    def _smallest_leader(self) -> float:
        """The smallest leader total: refresh the heap's top until its total is current."""
        heap, leaders = self._leader_heap, self._leaders
        while True:
            stored, key = heap[0]
            total = leaders[key].total_seconds
            if total == stored:
                return total
            heapq.heapreplace(heap, (total, key))

    def _set_leaders(self, leaders: dict[str, StatementStats]) -> None:
        self._leaders = leaders
        self._leader_heap = [(row.total_seconds, key) for key, row in leaders.items()]
        heapq.heapify(self._leader_heap)
        self._threshold = self._leader_heap[0][0] if len(leaders) == LEADERS else self._open

    def _evict_smallest(self) -> None:
        """Fold a row with the smallest total into `other`. A leader met first ties with every non-leader
        (the leaders hold the largest totals), so it goes behind them in the heap and a non-leader goes."""
        heap, newest = self._heap, self._newest
        while heap:
            total, seq, key = heapq.heappop(heap)
            if newest.get(key) != seq:
                continue
            if key in self._leaders:
                seq = newest[key] = self._seq = self._seq + 1
                heapq.heappush(heap, (total, seq, key))
                continue
            self.other.merge(self._rows.pop(key))
            del newest[key]
            return

    def rows(self) -> list[StatementStats]:
        """The kept rows (a shallow list; entries keep changing under writers)."""
        return list(self._rows.values())

    def candidates(self, limit: int, sort: str = "total") -> list[StatementStats]:
        """Rows among which are the `limit` largest by `sort` (a shallow list): the leaders for the top by
        total of at most LEADERS rows (O(LEADERS)), every row otherwise."""
        if sort == "total" and limit <= LEADERS and self.size > LEADERS:
            return list(self._leaders.values())
        return self.rows()

    def reset(self, now: float, fingerprint_: str | None = None) -> int:
        """Forget every statement (and the `other` row), or the one with this fingerprint; how many went."""
        if fingerprint_ is None:
            dropped = len(self._rows)
            self._rows, self._newest, self._heap = {}, {}, []
            self._set_leaders({})
            self.other = StatementStats(OTHER, "", now)
            self.stats_since = now
            return dropped
        if fingerprint_ == OTHER:
            dropped = int(self.other.calls > 0)
            self.other = StatementStats(OTHER, "", now)
            return dropped
        for key, row in self._rows.items():
            if row.fingerprint == fingerprint_:
                del self._rows[key], self._newest[key]
                if key in self._leaders:  # the largest non-leader takes its place: rank them all (O(n))
                    self._set_leaders(dict(heapq.nlargest(LEADERS, self._rows.items(),
                                                          key=lambda item: item[1].total_seconds)))
                return 1
        return 0


def top_statements(rows: list[StatementStats], limit: int, sort: str = "total") -> list[StatementStats]:
    """The `limit` largest rows by a SORT_KEYS key, largest first, ties in `rows` order (O(n log limit))."""
    key = attrgetter(SORT_KEYS[sort])
    if len(rows) <= LEADERS:  # the same rows: on so few, a sort in C beats heapq.nlargest's loop in Python
        return sorted(rows, key=key, reverse=True)[:max(limit, 0)]
    return heapq.nlargest(max(limit, 0), rows, key=key)
