"""Opt-in Prometheus export of the top K statements by total time (cardinality bounded by K)."""
from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bytedb_exporter.query.statements import StatementStats

MAX_QUERY_LABEL = 200  # characters of the normalized text on bytedb_statement_info


class StatementCollector(Collector):
    """At scrape time: bytedb_statement_* of the `k` statements with the largest total time."""

    def __init__(self, top: Callable[[int], list[StatementStats]], k: int):
        self._top, self.k = top, k

    def describe(self) -> list[Metric]:
        return []  # the series depend on the table: collected at scrape time only

    def collect(self) -> Iterator[Metric]:
        rows = self._top(self.k)
        info = GaugeMetricFamily("bytedb_statement_info", "A statement's normalized SQL text (truncated to "
                                 f"{MAX_QUERY_LABEL} characters), value 1.", labels=["fingerprint", "query"])
        calls = CounterMetricFamily("bytedb_statement_calls", "Finished calls of a statement since its "
                                    "stats_since.", labels=["fingerprint"])
        errors = CounterMetricFamily("bytedb_statement_errors", "Failed calls of a statement.", labels=["fingerprint"])
        seconds = CounterMetricFamily("bytedb_statement_seconds", "Total duration of a statement's calls.",
                                      labels=["fingerprint"], unit="seconds")
        rows_total = CounterMetricFamily("bytedb_statement_rows", "Rows processed by a statement's calls.",
                                         labels=["fingerprint"])
        for row in rows:
            info.add_metric([row.fingerprint, row.query[:MAX_QUERY_LABEL]], 1.0)
            calls.add_metric([row.fingerprint], row.calls)
            errors.add_metric([row.fingerprint], row.errors)
            seconds.add_metric([row.fingerprint], row.total_seconds)
            rows_total.add_metric([row.fingerprint], row.rows)
        yield from (info, calls, errors, seconds, rows_total)
