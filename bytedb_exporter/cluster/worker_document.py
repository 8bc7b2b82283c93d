"""Validation of a polled /api/worker document (the shape of WorkerStats.to_dict) before it is trusted."""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bytedb_exporter.cluster.worker_metrics import SEVERITIES
from bytedb_exporter.rules.health import WORKER_STATES

__all__ = ["DocumentError", "check_worker_document"]

# Documented maxima (docs/metrics.md, "Remote polling"): every conversion of a value in range is exact or finite.
MAX_PERCENT = 100.0
MAX_CPU_PERCENT = 100.0 * 4096  # percent of one core, on up to 4096 cores
MAX_MB = float(2 ** 40)  # 1 EiB in MiB: x MIB still fits an int64
MAX_COUNT = 2 ** 53  # counts and byte totals: exact as a float
MAX_RATE = float(2 ** 53)  # per-second rates, throughput, load
MAX_MS = 100 * 365.25 * 24 * 3600 * 1000.0  # a century: far inside timedelta
MAX_SECONDS = MAX_MS / 1000.0
MAX_WORKER_ID = 64
MAX_SHORT_TEXT = 64  # status words, process status, ISO times
MAX_MESSAGE = 4096  # status message, an issue, an error text
MAX_QUERY = 100_000
MAX_ISSUES = 100
MAX_ERRORS = 1000

Check = Callable[[str, Any], None]


class DocumentError(ValueError):
    """The document is unusable: `field` (a dotted path) says where; `reason` is invalid_document or wrong_worker."""

    def __init__(self, field: str, problem: str, reason: str = "invalid_document"):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.reason = reason


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except (RecursionError, ValueError):
        text = f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def _in_range(value: float, high: float) -> bool:
    """0 <= value <= high and finite; an int is compared exactly (math.isfinite would overflow on a huge one)."""
    return (isinstance(value, int) or math.isfinite(value)) and 0 <= value <= high


def _number(high: float, integer: bool = False, nullable: bool = False) -> Check:
    """A finite number from 0 to `high` (an integer when `integer`; null allowed when `nullable`)."""
    def check(field: str, value: Any) -> None:
        if value is None and nullable:
            return
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if not ok or isinstance(value, bool) or not _in_range(value, high):
            kind = "an integer" if integer else "a finite number"
            raise DocumentError(field, f"expected {kind} from 0 to {high:g}{' or null' if nullable else ''}, "
                                       f"got {_short(value)}")
    return check


def _text(limit: int, empty: bool = True) -> Check:
    """A string of valid UTF-8 and at most `limit` characters."""
    def check(field: str, value: Any) -> None:
        if not isinstance(value, str) or len(value) > limit or (not empty and not value):
            raise DocumentError(field, f"expected a string of at most {limit} characters, got {_short(value)}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise DocumentError(field, f"not valid UTF-8 (a lone surrogate at character {error.start})") from None
    return check


def _one_of(values: tuple[str, ...]) -> Check:
    def check(field: str, value: Any) -> None:
        if not isinstance(value, str) or value not in values:
            raise DocumentError(field, f"expected one of {', '.join(values)}, got {_short(value)}")
    return check


def _time(field: str, value: Any) -> None:
    _text(MAX_SHORT_TEXT, empty=False)(field, value)
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DocumentError(field, f"expected an ISO 8601 time, got {_short(value)}") from None


def _list(item: Check, limit: int) -> Check:
    def check(field: str, value: Any) -> None:
        if not isinstance(value, list) or len(value) > limit:
            raise DocumentError(field, f"expected a list of at most {limit} items, got {_short(value)}")
        for index, element in enumerate(value):
            item(f"{field}[{index}]", element)
    return check


def _object(fields: Mapping[str, Check], optional: frozenset[str] = frozenset()) -> Check:
    """An object with every key of `fields` (but those in `optional`), each checked; other keys are ignored."""
    def check(field: str, value: Any) -> None:
        if not isinstance(value, dict):
            raise DocumentError(field or "document", f"expected an object, got {_short(value)}")
        for key, check_value in fields.items():
            path = f"{field}.{key}" if field else key
            if key not in value:
                if key in optional:
                    continue
                raise DocumentError(path, "missing")
            check_value(path, value[key])
    return check


PERCENT, MB, COUNT, RATE, MS = (_number(MAX_PERCENT), _number(MAX_MB), _number(MAX_COUNT, integer=True),
                                _number(MAX_RATE), _number(MAX_MS))
# Resource readings may be null: a reading the worker could not take is absent, not zero.
READING_PERCENT, READING_MB, READING_COUNT = (_number(MAX_PERCENT, nullable=True), _number(MAX_MB, nullable=True),
                                              _number(MAX_COUNT, integer=True, nullable=True))
MESSAGE = _text(MAX_MESSAGE)

DOCUMENT = _object({
    "worker_id": _text(MAX_WORKER_ID, empty=False),
    "status": _object({"status": _one_of(WORKER_STATES), "last_check": _time, "message": MESSAGE,
                       "uptime_ms": MS, "issues": _list(MESSAGE, MAX_ISSUES),
                       "seconds_since_heartbeat": _number(MAX_SECONDS)}),
    "performance": _object({"queries_per_second": RATE, "average_response_time_ms": MS, "throughput_mbps": RATE,
                            "latency_p50_ms": _number(MAX_MS, nullable=True),
                            "latency_p95_ms": _number(MAX_MS, nullable=True),
                            "latency_p99_ms": _number(MAX_MS, nullable=True)}),
    "resource_utilization": _object({
        "cpu_usage_percent": _number(MAX_CPU_PERCENT, nullable=True), "memory_usage_mb": READING_MB,
        "memory_usage_percent": READING_PERCENT, "disk_usage_mb": READING_MB, "disk_usage_percent": READING_PERCENT,
        "active_connections": READING_COUNT, "open_file_descriptors": READING_COUNT, "threads": READING_COUNT,
        "process_status": _text(MAX_SHORT_TEXT, empty=False)}),
    "query_stats": _object({"total_queries": COUNT, "active_queries": COUNT, "successful_queries": COUNT,
                            "failed_queries": COUNT, "success_rate_percent": PERCENT, "rows_processed": COUNT,
                            "bytes_processed": COUNT, "unmatched_ends": COUNT}),
    "cache_stats": _object({"cache_hits": COUNT, "cache_misses": COUNT, "hit_rate_percent": PERCENT,
                            "cache_size_mb": MB, "eviction_count": COUNT}),
    "network_stats": _object({"bytes_received": COUNT, "bytes_sent": COUNT, "requests_received": COUNT,
                              "responses_sent": COUNT, "network_latency_ms": MS, "latency_samples": COUNT,
                              "bytes_per_second": RATE}),
    "recent_errors": _list(_object({"timestamp": _time, "error": MESSAGE, "query": _text(MAX_QUERY),
                                    "severity": _one_of(SEVERITIES)}), MAX_ERRORS),
    "load": _number(MAX_RATE, nullable=True),
}, optional=frozenset({"load"}))


def check_worker_document(document: Any, worker_id: str) -> Mapping[str, Any]:
    """`document` when all its values are typed, finite and in range and it is worker_id's; else DocumentError."""
    DOCUMENT("", document)
    if document["worker_id"] != worker_id:
        raise DocumentError("worker_id", f"answered as worker {document['worker_id']!r}, expected {worker_id!r}",
                            "wrong_worker")
    return document
