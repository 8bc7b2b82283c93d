"""LRU result cache with a byte budget and a time to live, keyed by normalized SQL."""
from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")
_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\s+|[^\s'\"]+")


def normalize_sql(sql: str) -> str:
    """SQL with whitespace collapsed, case folded outside string literals and no trailing semicolon."""
    parts = []
    for token in _TOKEN.findall(sql.strip().rstrip(";").strip()):
        if token.isspace():
            parts.append(" ")
        elif token.startswith("'"):
            parts.append(token)
        else:
            parts.append(token.lower())
    return "".join(parts)


@dataclass(frozen=True)
class CacheStats:
    """Counters and size of a cache at one moment."""

    hits: int
    misses: int
    evictions: int
    expirations: int
    entries: int
    size_bytes: int
    max_bytes: int


class LRUCache(Generic[V]):
    """Thread-safe LRU cache bounded by total bytes, with per-entry TTL."""

    def __init__(self, max_bytes: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        """Cache holding at most `max_bytes` of values, each for at most `ttl_seconds`."""
        self.max_bytes = max(0, int(max_bytes))
        self.ttl_seconds = float(ttl_seconds)
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[V, int, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = 0
        self.hits = self.misses = self.evictions = self.expirations = 0

    def get(self, key: Hashable) -> V | None:
        """The value for `key` (counted as a hit), or None (counted as a miss)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self._clock() - entry[2] > self.ttl_seconds:
                self._drop(key)
                self.expirations += 1
                entry = None
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: Hashable, value: V, size_bytes: int) -> int:
        """Store `value`; evict least recently used entries to fit; return how many were evicted."""
        size_bytes = max(1, int(size_bytes))
        with self._lock:
            if key in self._entries:
                self._drop(key)
            if size_bytes > self.max_bytes:
                return 0
            evicted = 0
            while self._size + size_bytes > self.max_bytes and self._entries:
                self._drop(next(iter(self._entries)))
                evicted += 1
            self._entries[key] = (value, size_bytes, self._clock())
            self._size += size_bytes
            self.evictions += evicted
            return evicted

    def _drop(self, key: Hashable) -> None:
        """Remove one entry (lock held)."""
        _, size, _ = self._entries.pop(key)
        self._size -= size

    @property
    def size_bytes(self) -> int:
        """Bytes currently held."""
        return self._size

    def stats(self) -> CacheStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return CacheStats(self.hits, self.misses, self.evictions, self.expirations,
                              len(self._entries), self._size, self.max_bytes)
