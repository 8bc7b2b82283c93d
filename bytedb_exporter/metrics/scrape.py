"""One reading of each worker per scrape, so every family in one exposition agrees.

The cluster collector (score, states) and the worker collector (per-worker load) each read the
workers; inside `consistent_scrape()` they share the first reading instead of taking two.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_readings: ContextVar[dict[int, Any] | None] = ContextVar("bytedb_scrape_readings", default=None)


@contextlib.contextmanager
def consistent_scrape() -> Iterator[None]:
    """Within this block (one thread), `scrape_vitals(monitor)` reads each monitor once."""
    token = _readings.set({}) if _readings.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _readings.reset(token)


def scrape_vitals(monitor: Any) -> Any:
    """`monitor.vitals()`, memoized for the current scrape when one is open."""
    readings = _readings.get()
    if readings is None:
        return monitor.vitals()
    reading = readings.get(id(monitor))
    if reading is None:
        reading = readings[id(monitor)] = monitor.vitals()
    return reading
