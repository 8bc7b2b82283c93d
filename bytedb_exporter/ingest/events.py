"""Ingest event batches: every event validated against a state snapshot before any is applied."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bytedb_exporter.cluster.worker_metrics import SEVERITIES
from bytedb_exporter.config.sections import ID_EXPECT, ID_PATTERN
from bytedb_exporter.query.execution import MAX_FRAGMENTS, PHASES
from bytedb_exporter.query.sqltext import QUERY_TYPES

__all__ = ["REFUSALS", "Event", "EventError", "IngestContext", "refused", "validate_batch"]

QUERY_EVENTS = ("query_start", "query_update", "query_end")
WORKER_EVENTS = ("worker_query_start", "worker_query_end", "cache_hit", "cache_miss", "cache_eviction",
                 "cache_size", "worker_error", "network", "heartbeat")
FACTS = ("phases", "rows", "bytes", "workers", "fragments", "optimization_applied", "original_cost",
         "optimized_cost", "cache_hit_rate", "network_latency_ms", "error", "fragment_timings", "plan")
QUERY_FIELDS: dict[str, tuple[str, ...]] = {
    "query_start": ("query_id", "sql", "query_type") + FACTS,
    "query_update": ("query_id",) + FACTS,
    "query_end": ("query_id", "duration_ms") + FACTS,
}
WORKER_FIELDS: dict[str, tuple[str, ...]] = {
    "worker_query_start": ("query_id",), "worker_query_end": ("query_id", "success", "rows", "bytes"),
    "cache_hit": ("count",), "cache_miss": ("count",), "cache_eviction": ("count",), "cache_size": ("size_bytes",),
    "worker_error": ("error", "query", "severity"), "network": ("bytes_received", "bytes_sent", "latency_ms"),
    "heartbeat": (),
}
EVENT_FIELDS: dict[str, tuple[str, ...]] = {**QUERY_FIELDS, **WORKER_FIELDS}
# Codes of events that are well formed but refused by a limit or by where they were sent (HTTP 422).
REFUSALS = ("unknown_query_type", "cardinality_limit", "too_many_open_queries", "too_many_fragments",
            "wrong_exporter")
# Longest strings (characters): query ids, worker ids (a label value), error texts, SQL texts.
MAX_ID = 128
MAX_WORKER_ID = 64
MAX_ERROR = 4096
MAX_TEXT = 100_000
MAX_COUNT = 10_000
FRAGMENT_KEYS = ("worker_id", "duration_ms", "rows", "bytes", "queued_ms")
MAX_AMOUNT = 2 ** 53
MAX_MS = 7 * 24 * 3600 * 1000.0
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class EventError:
    """Why the event at `index` of the batch was rejected."""

    index: int
    code: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "code": self.code, "reason": self.reason}


def refused(errors: Sequence[EventError]) -> bool:
    """True when every error is a refusal (HTTP 422), none a malformed event (HTTP 400)."""
    return all(error.code in REFUSALS for error in errors)


@dataclass(frozen=True)
class Event:
    """One valid event: its type, the query or worker it is about, and its checked values."""

    type: str
    query_id: str = ""
    worker_id: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """query or worker."""
        return "query" if self.type in QUERY_EVENTS else "worker"


@dataclass(frozen=True)
class IngestContext:
    """What validation needs to know of the current state (a snapshot, taken under the ingest lock)."""

    accepts_queries: bool
    open_queries: frozenset[str] = frozenset()
    fragments_kept: Mapping[str, int] = field(default_factory=dict)  # fragments already held by each open query
    max_open_queries: int = 10000
    known_workers: frozenset[str] = frozenset()
    foreign_workers: Mapping[str, str] = field(default_factory=dict)
    default_worker: str | None = None
    new_worker_slots: int = 0
    new_worker_refusal: str = "limits.max_workers reached"
    worker_active: Mapping[str, int] = field(default_factory=dict)


class Invalid(Exception):
    """One rule an event broke."""

    def __init__(self, reason: str, code: str = "invalid"):
        super().__init__(reason)
        self.code = code


def _in_range(value: float, high: float) -> bool:
    """0 <= value <= high and finite; an int is compared exactly (math.isfinite would overflow on a huge one)."""
    return (isinstance(value, int) or math.isfinite(value)) and 0 <= value <= high


def _amount(name: str, value: Any, high: float = MAX_AMOUNT, integer: bool = True) -> Any:
    """A finite number from 0 to `high` (an integer unless `integer` is False; -0.0 becomes 0.0)."""
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or not _in_range(value, high):
        kind = "an integer" if integer else "a finite number"
        raise Invalid(f"{name}: expected {kind} from 0 to {high:g}, got {_short(value)}")
    return value if integer else float(value) + 0.0


def _text(name: str, value: Any, limit: int = MAX_TEXT, identifier: bool = False) -> str:
    """A non-empty string of valid UTF-8 and at most `limit` characters; an identifier has no control characters."""
    if not isinstance(value, str) or not value or len(value) > limit:
        raise Invalid(f"{name}: expected a non-empty string of at most {limit} characters, got {_short(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise Invalid(f"{name}: not valid UTF-8 (a lone surrogate at character {error.start})") from None
    control = CONTROL.search(value) if identifier else None
    if control is not None:
        raise Invalid(f"{name}: control character {control.group()!r} at character {control.start()} in an id")
    return value


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # nested too deeply to print, or an int too long to print
        text = f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def _facts(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The query facts present in an event, checked; phases in seconds."""
    out: dict[str, Any] = {}
    if "phases" in raw:
        phases = raw["phases"]
        allowed = {f"{phase}_ms": phase for phase in PHASES}
        if not isinstance(phases, dict) or not phases or set(phases) - set(allowed):
            raise Invalid(f"phases: expected an object with keys among {', '.join(allowed)}, got {_short(phases)}")
        out["phases"] = {allowed[k]: _amount(f"phases.{k}", v, MAX_MS, False) / 1000.0 for k, v in phases.items()}
    for name in ("rows", "bytes", "workers", "fragments"):
        if name in raw:
            out[name] = _amount(name, raw[name])
    if "optimization_applied" in raw or "original_cost" in raw or "optimized_cost" in raw:
        applied = raw.get("optimization_applied", True)
        if not isinstance(applied, bool) or "original_cost" not in raw or "optimized_cost" not in raw:
            raise Invalid("optimization_applied, original_cost, optimized_cost: expected both costs (numbers) and "
                          "optionally optimization_applied (true or false)")
        out["cost"] = (applied, _amount("original_cost", raw["original_cost"], integer=False),
                       _amount("optimized_cost", raw["optimized_cost"], integer=False))
    if "cache_hit_rate" in raw:
        out["cache_hit_rate"] = _amount("cache_hit_rate", raw["cache_hit_rate"], 100, False)
    if "network_latency_ms" in raw:
        out["network_latency"] = _amount("network_latency_ms", raw["network_latency_ms"], MAX_MS, False) / 1000.0
    if "error" in raw:
        out["error"] = _text("error", raw["error"], MAX_ERROR)
    if "fragment_timings" in raw:
        out["fragment_timings"] = _fragments(raw["fragment_timings"])
    if "plan" in raw:
        out["plan"] = _text("plan", raw["plan"])
    return out


def _fragments(raw: Any) -> list[tuple[str, float, int, int, float]]:
    """fragment_timings: up to MAX_FRAGMENTS objects {worker_id, duration_ms, rows?, bytes?, queued_ms?}."""
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_FRAGMENTS:
        raise Invalid(f"fragment_timings: expected an array of 1 to {MAX_FRAGMENTS} objects, got {_short(raw)}")
    out = []
    for i, item in enumerate(raw):
        name = f"fragment_timings[{i}]"
        if not isinstance(item, dict) or "worker_id" not in item or "duration_ms" not in item \
                or set(item) - set(FRAGMENT_KEYS):
            raise Invalid(f"{name}: expected an object with worker_id and duration_ms, and optionally rows, bytes "
                          f"and queued_ms, got {_short(item)}")
        worker_id = item["worker_id"]
        if not isinstance(worker_id, str) or not ID_PATTERN.match(worker_id):
            raise Invalid(f"{name}.worker_id: expected {ID_EXPECT}, got {_short(worker_id)}")
        out.append((worker_id, _amount(f"{name}.duration_ms", item["duration_ms"], MAX_MS, False) / 1000.0,
                    _amount(f"{name}.rows", item.get("rows", 0)), _amount(f"{name}.bytes", item.get("bytes", 0)),
                    _amount(f"{name}.queued_ms", item.get("queued_ms", 0), MAX_MS, False) / 1000.0))
    return out


def _query_event(kind: str, raw: Mapping[str, Any], ctx: IngestContext, open_ids: set[str],
                 fragment_counts: dict[str, int]) -> Event:
    if not ctx.accepts_queries:
        raise Invalid("query events go to the coordinator's exporter, not a worker's", "wrong_exporter")
    query_id = _text("query_id", raw.get("query_id"), MAX_ID, identifier=True)
    values = _facts(raw)
    if kind == "query_start":
        values["sql"] = _text("sql", raw.get("sql"))
        if "query_type" in raw:
            query_type = raw["query_type"]
            if not isinstance(query_type, str) or query_type.upper() not in QUERY_TYPES:
                raise Invalid(f"query_type: {_short(query_type)} is not one of {', '.join(QUERY_TYPES)}; unknown "
                              "types are refused rather than becoming new label values", "unknown_query_type")
            values["query_type"] = query_type.upper()
        if query_id in open_ids:
            raise Invalid(f"query_id: query {query_id!r} was already started and has not ended")
        if len(open_ids) >= ctx.max_open_queries:
            raise Invalid(f"{len(open_ids)} queries are open, the limit is {ctx.max_open_queries}",
                          "too_many_open_queries")
        open_ids.add(query_id)
        fragment_counts[query_id] = 0
    elif query_id not in open_ids:
        raise Invalid(f"query_id: no open query {query_id!r} (send query_start first)")
    if "fragment_timings" in values:
        kept, more = fragment_counts.get(query_id, ctx.fragments_kept.get(query_id, 0)), len(values["fragment_timings"])
        if kept + more > MAX_FRAGMENTS:
            raise Invalid(f"fragment_timings: query {query_id!r} holds {kept} fragments, {more} more would pass the "
                          f"{MAX_FRAGMENTS} kept per query", "too_many_fragments")
        fragment_counts[query_id] = kept + more
    if kind == "query_end":
        if "duration_ms" in raw:
            values["duration"] = _amount("duration_ms", raw["duration_ms"], MAX_MS, False) / 1000.0
        open_ids.discard(query_id)
    return Event(kind, query_id=query_id, values=values)


def _worker_event(kind: str, raw: Mapping[str, Any], ctx: IngestContext, new_ids: set[str],
                  active_counts: dict[str, int]) -> Event:
    worker_id = raw.get("worker_id", ctx.default_worker)
    worker_id = _text("worker_id", worker_id, MAX_WORKER_ID, identifier=True)
    values: dict[str, Any] = {}
    if "query_id" in WORKER_FIELDS[kind]:
        values["query_id"] = _text("query_id", raw.get("query_id"), MAX_ID, identifier=True)
    if kind == "worker_query_end":
        success = raw.get("success", True)
        if not isinstance(success, bool):
            raise Invalid(f"success: expected true or false, got {_short(success)}")
        values.update(success=success, rows=_amount("rows", raw.get("rows", 0)),
                      bytes=_amount("bytes", raw.get("bytes", 0)))
    elif kind in ("cache_hit", "cache_miss", "cache_eviction"):
        values["count"] = _amount("count", raw.get("count", 1), MAX_COUNT)
    elif kind == "cache_size":
        values["size_bytes"] = _amount("size_bytes", raw.get("size_bytes"))
    elif kind == "worker_error":
        severity = raw.get("severity", "error")
        if not isinstance(severity, str) or severity not in SEVERITIES:
            raise Invalid(f"severity: expected one of {', '.join(SEVERITIES)}, got {_short(severity)}")
        values.update(error=_text("error", raw.get("error"), MAX_ERROR), severity=severity,
                      query=_text("query", raw["query"]) if "query" in raw else "")
    elif kind == "network":
        values.update(received=_amount("bytes_received", raw.get("bytes_received", 0)),
                      sent=_amount("bytes_sent", raw.get("bytes_sent", 0)))
        if "latency_ms" in raw:
            values["latency"] = _amount("latency_ms", raw["latency_ms"], MAX_MS, False) / 1000.0
    if worker_id in ctx.foreign_workers:
        raise Invalid(ctx.foreign_workers[worker_id], "wrong_exporter")
    if worker_id not in ctx.known_workers and worker_id not in new_ids:
        if len(new_ids) >= ctx.new_worker_slots:
            raise Invalid(f"worker_id: {worker_id!r} refused as a new label value: {ctx.new_worker_refusal}",
                          "cardinality_limit")
        new_ids.add(worker_id)
    if kind == "worker_query_start":
        active = active_counts.get(worker_id, ctx.worker_active.get(worker_id, 0))
        if active >= ctx.max_open_queries:
            raise Invalid(f"worker {worker_id!r} has {active} open queries, the limit is {ctx.max_open_queries}",
                          "too_many_open_queries")
        active_counts[worker_id] = active + 1
    elif kind == "worker_query_end":
        active_counts[worker_id] = max(0, active_counts.get(worker_id, ctx.worker_active.get(worker_id, 0)) - 1)
    return Event(kind, worker_id=worker_id, values=values)


def validate_batch(raw_events: Sequence[Any], ctx: IngestContext) -> tuple[list[Event], list[EventError]]:
    """Typed events and the error of every bad one; state is only read through `ctx`."""
    events: list[Event] = []
    errors: list[EventError] = []
    open_ids: set[str] = set(ctx.open_queries)
    fragment_counts: dict[str, int] = {}
    new_ids: set[str] = set()
    active_counts: dict[str, int] = {}
    for index, raw in enumerate(raw_events):
        try:
            if not isinstance(raw, dict):
                raise Invalid(f"expected an object, got {type(raw).__name__}")
            kind = raw.get("type")
            if not isinstance(kind, str) or kind not in EVENT_FIELDS:
                raise Invalid(f"type: expected one of {', '.join(QUERY_EVENTS + WORKER_EVENTS)}, got {_short(kind)}")
            fields = EVENT_FIELDS[kind]
            allowed = set(fields) | {"type"} | ({"worker_id"} if kind in WORKER_FIELDS else set())
            unknown = sorted(set(raw) - allowed)
            if unknown:
                names = ", ".join(map(_short, unknown[:10]))
                raise Invalid(f"unknown field(s) {names} for {kind}; expected {', '.join(sorted(allowed))}")
            if kind in QUERY_FIELDS:
                events.append(_query_event(kind, raw, ctx, open_ids, fragment_counts))
            else:
                events.append(_worker_event(kind, raw, ctx, new_ids, active_counts))
        except Invalid as error:
            errors.append(EventError(index, error.code, str(error)))
    return events, errors
