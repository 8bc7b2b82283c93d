import math
import random
import statistics
import threading

import pytest
from prometheus_client import generate_latest

from bytedb_exporter.query.monitor import QueryMonitor
from bytedb_exporter.query.sqltext import normalize_sql
from bytedb_exporter.query.statements import OTHER, StatementStats, StatementTable, fingerprint

TEMPLATES = [
    "SELECT * FROM orders WHERE id = {}",
    "SELECT count(*) FROM lineitem WHERE qty > {}",
    "SELECT name FROM customer WHERE nation = '{}'",
    "UPDATE part SET price = {} WHERE id = 7",
    "SELECT o.id FROM orders o JOIN customer c ON o.c = c.id WHERE c.id = {}",
]


def finish(monitor, sql, seconds, error=None, rows=0, nbytes=0):
    execution = monitor.start_query_monitoring("q", sql)
    execution.set_data_info(rows, nbytes)
    if error:
        execution.set_error(RuntimeError(error))
    return execution.finish(total_seconds=seconds)


def test_1000_queries_from_5_templates_give_exact_statement_statistics():
    monitor = QueryMonitor()
    rng = random.Random(7)
    durations: dict[str, list[float]] = {}
    for i in range(1000):
        template = TEMPLATES[i % 5]
        seconds = rng.uniform(0.001, 2.0) * (1 + i % 5)
        durations.setdefault(normalize_sql(template.format(i)), []).append(seconds)
        finish(monitor, template.format(i), seconds, error="boom" if i % 50 == 0 else None, rows=i)
    rows = monitor.get_statement_stats(100)
    assert len(rows) == 5 and sum(row.calls for row in rows) == 1000
    for row in rows:
        values = durations[row.query]
        assert row.fingerprint == fingerprint(row.query)
        assert row.calls == len(values) == 200
        assert row.mean == pytest.approx(statistics.fmean(values), rel=1e-12)
        assert row.stddev == pytest.approx(statistics.pstdev(values), rel=1e-9)
        assert row.min_seconds == min(values) and row.max_seconds == max(values)
        assert row.total_seconds == pytest.approx(math.fsum(values), rel=1e-12)
    assert sum(row.errors for row in rows) == 20 and sum(row.rows for row in rows) == sum(range(1000))
    assert [row.total_seconds for row in rows] == sorted((row.total_seconds for row in rows), reverse=True)

    gone = rows[2].fingerprint
    assert monitor.reset_statement_stats(gone) == 1
    left = monitor.get_statement_stats(100)
    assert len(left) == 4 and gone not in {row.fingerprint for row in left}
    assert {row.calls for row in left} == {200}
    assert monitor.reset_statement_stats("0123456789abcdef") == 0
    assert monitor.reset_statement_stats() == 4 and monitor.get_statement_stats(100) == []


def test_sorting_by_calls_mean_errors_and_rows():
    monitor = QueryMonitor()
    for _ in range(5):
        finish(monitor, "SELECT a FROM t", 0.01, rows=1)
    finish(monitor, "SELECT b FROM t", 3.0, error="x", rows=0)
    finish(monitor, "SELECT b FROM t", 1.0, error="x", rows=0)
    finish(monitor, "SELECT c FROM t", 0.5, rows=10_000)
    first = {sort: monitor.get_statement_stats(1, sort)[0].query
             for sort in ("total", "mean", "calls", "errors", "rows")}
    assert first == {"total": "SELECT b FROM t", "mean": "SELECT b FROM t", "calls": "SELECT a FROM t",
                     "errors": "SELECT b FROM t", "rows": "SELECT c FROM t"}
    row = monitor.get_statement_stats(1, "mean")[0].to_dict()
    assert row["mean_seconds"] == 2.0 and row["stddev_seconds"] == 1.0 and row["errors"] == 2
    assert set(row) >= {"fingerprint", "query", "calls", "errors", "total_seconds", "mean_seconds",
                        "stddev_seconds", "min_seconds", "max_seconds", "rows", "bytes", "first_seen",
                        "last_seen", "stats_since"}


def test_a_full_table_folds_evicted_statements_into_other_exactly():
    table = StatementTable(3, now=0.0)
    values = {f"q{i}": [0.1 * (i + 1) * (k + 1) for k in range(i + 1)] for i in range(10)}
    for key, seconds in values.items():
        for value in seconds:
            table.add(key, value, False, 1, 2, False, 1.0)
    kept = {row.query for row in table.rows()}
    assert len(table) == 3 and kept == {"q7", "q8", "q9"}
    evicted = [v for key, seconds in values.items() if key not in kept for v in seconds]
    other = table.other
    assert other.fingerprint == OTHER and other.calls == len(evicted)
    assert other.mean == pytest.approx(statistics.fmean(evicted), rel=1e-12)
    assert other.stddev == pytest.approx(statistics.pstdev(evicted), rel=1e-9)
    assert other.min_seconds == min(evicted) and other.max_seconds == max(evicted)
    assert sum(row.calls for row in table.rows()) + other.calls == sum(len(v) for v in values.values())


def test_merge_of_an_empty_row_changes_nothing():
    row = StatementStats("f", "q", 0.0)
    row.add(1.0, False, 0, 0, True, 5.0)
    row.merge(StatementStats("g", "r", 0.0))
    assert (row.calls, row.mean, row.cache_hits, row.first_seen) == (1, 1.0, 1, 5.0)


def test_readers_run_while_writers_record():
    monitor = QueryMonitor(top_queries_size=50)
    stop = threading.Event()
    errors: list[BaseException] = []

    def read():
        while not stop.is_set():
            try:
                monitor.get_top_queries(10)
                monitor.get_statement_stats(10, "calls")
            except BaseException as error:  # noqa: BLE001 - the assertion below reports it
                errors.append(error)
                return

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(3000):
        finish(monitor, f"SELECT c{i % 200} FROM t", 0.001 * (i % 7))
    stop.set()
    reader.join()
    assert errors == []
    total = sum(row.calls for row in monitor.get_statement_stats(100)) + monitor.statement_other().calls
    assert total == 3000


def test_the_top_k_statements_are_exported_only_when_asked():
    quiet = QueryMonitor()
    finish(quiet, "SELECT a FROM t", 1.0)
    assert b"bytedb_statement_" not in generate_latest(quiet.registry.collector_registry)
    monitor = QueryMonitor(export_statements=2)
    for i in range(5):
        for _ in range(i + 1):
            finish(monitor, f"SELECT c{i} FROM t WHERE x = 1", 0.5, error="e" if i == 4 else None)
    text = generate_latest(monitor.registry.collector_registry).decode()
    infos = [line for line in text.splitlines() if line.startswith("bytedb_statement_info{")]
    assert len(infos) == 2 and 'query="SELECT c4 FROM t WHERE x = ?"' in "".join(infos)
    top = monitor.get_statement_stats(1)[0]
    assert f'bytedb_statement_calls_total{{fingerprint="{top.fingerprint}"}} 5.0' in text
    assert f'bytedb_statement_errors_total{{fingerprint="{top.fingerprint}"}} 5.0' in text
    assert f'bytedb_statement_seconds_total{{fingerprint="{top.fingerprint}"}} 2.5' in text
    assert sum(line.startswith("bytedb_statement_calls_total{") for line in text.splitlines()) == 2
