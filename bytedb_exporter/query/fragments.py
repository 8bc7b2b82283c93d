"""Fragment skew of one query: the slowest fragment against the median one."""
from __future__ import annotations

import statistics
from collections.abc import Sequence

from bytedb_exporter.query.models import Fragment


def fragment_skew(fragments: Sequence[Fragment]) -> float | None:
    """max / median fragment seconds; None with fewer than 2 fragments or a zero median (not measurable)."""
    if len(fragments) < 2:
        return None
    seconds = [fragment.seconds for fragment in fragments]
    median = statistics.median(seconds)
    return max(seconds) / median if median > 0 else None
