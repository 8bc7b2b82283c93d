"""Query insights: pure rules over statement statistics and fragment skews, with recommendations."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bytedb_exporter.rules.health import Thresholds


@dataclass(frozen=True)
class Insight:
    """One finding about a statement (`fingerprint`) or a query (`query_id`), with what to do about it."""

    id: str
    type: str  # slow_statement, error_prone_statement, skewed_fragments
    severity: str  # warning or critical
    subject: str
    message: str
    recommendation: str
    value: float
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def statement_insights(rows: Sequence[Mapping[str, Any]], t: Thresholds) -> list[Insight]:
    """Slow and error-prone statements among /api/statements rows."""
    found = []
    for row in rows:
        fingerprint, calls = row["fingerprint"], row["calls"]
        if calls and row["mean_seconds"] > t.slow_statement_seconds:
            mean = row["mean_seconds"]
            found.append(Insight(
                f"slow_statement:{fingerprint}", "slow_statement",
                "critical" if mean > t.critical_slow_statement_seconds else "warning", fingerprint,
                f"statement {fingerprint} takes {mean:.3g} s on average over {calls} calls "
                f"(limit thresholds.slow_statement_seconds = {t.slow_statement_seconds:g} s)",
                "Open one of its queries on /queries/<query_id> (or the slow-query log) to see which phase or "
                "fragment dominates; add an index or a filter that prunes shards, or cache its result.",
                mean, t.slow_statement_seconds))
        if calls >= t.statement_min_calls:
            rate = 100.0 * row["errors"] / calls
            if rate > t.statement_error_percent:
                found.append(Insight(
                    f"error_prone_statement:{fingerprint}", "error_prone_statement",
                    "critical" if rate > t.critical_statement_error_percent else "warning", fingerprint,
                    f"statement {fingerprint} failed {row['errors']} of {calls} calls ({rate:.3g} %, limit "
                    f"thresholds.statement_error_percent = {t.statement_error_percent:g} %)",
                    "Read the errors of its failed queries (GET /api/queries, failed) and fix the statement or the "
                    "workers it fails on.", rate, t.statement_error_percent))
    return found


def skew_insights(skews: Sequence[tuple[str, float]], t: Thresholds) -> list[Insight]:
    """One insight per query (query_id, skew ratio) above thresholds.fragment_skew_ratio."""
    return [Insight(
        f"skewed_fragments:{query_id}", "skewed_fragments",
        "critical" if ratio > t.critical_fragment_skew_ratio else "warning", query_id,
        f"query {query_id}: its slowest fragment took {ratio:.3g} x the median one (limit "
        f"thresholds.fragment_skew_ratio = {t.fragment_skew_ratio:g})",
        "Compare the fragments per worker on /queries/<query_id>: a worker that is always slowest is "
        "overloaded or holds a heavier shard; rebalance the data or that worker's load.", ratio,
        t.fragment_skew_ratio) for query_id, ratio in skews if ratio > t.fragment_skew_ratio]
