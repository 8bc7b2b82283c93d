"""Durations and times for the original's JSON: `<key>_ms` milliseconds, ISO UTC times; seconds of a duration."""
from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta, timezone
from typing import Any, overload


@overload
def iso(moment: datetime) -> str: ...


@overload
def iso(moment: None) -> None: ...


@overload
def iso(moment: datetime | None) -> str | None: ...


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z suffix."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def as_seconds(duration: float | timedelta) -> float:
    """Seconds of a duration given as seconds or as a timedelta."""
    return duration.total_seconds() if isinstance(duration, timedelta) else float(duration)


def milliseconds(duration: timedelta) -> float:
    """A duration as float milliseconds."""
    return duration.total_seconds() * 1000.0


def to_jsonable(value: Any) -> Any:
    """Dataclasses, dicts and lists made JSON-ready; timedelta keys gain `_ms`, NaN becomes None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(item, timedelta):
                out[f"{key}_ms"] = milliseconds(item)
            else:
                out[str(key)] = to_jsonable(item)
        return out
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, timedelta):
        return milliseconds(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value
