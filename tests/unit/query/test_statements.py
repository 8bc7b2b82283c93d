import heapq
import math
import random
import statistics
import threading
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest

from bytedb_exporter.query import statements
from bytedb_exporter.query.monitor import QueryMonitor
from bytedb_exporter.query.sqltext import normalize_sql
from bytedb_exporter.query.statements import (
    LEADERS,
    OTHER,
    StatementStats,
    StatementTable,
    fingerprint,
    top_statements,
)

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
    assert (row.calls, row.mean, row.cached_calls, row.first_seen) == (1, 1.0, 1, 5.0)


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


def check_leaders(table: StatementTable) -> None:
    """The leaders are the table's largest totals, and the top by total read from them is a brute-force sort's."""
    by_total = sorted((row.total_seconds for row in table.rows()), reverse=True)
    leaders = table.candidates(statements.LEADERS)
    assert sorted((row.total_seconds for row in leaders), reverse=True) == by_total[:statements.LEADERS]
    for limit in {1, min(10, statements.LEADERS), statements.LEADERS}:
        top = top_statements(leaders, limit)
        assert [row.total_seconds for row in top] == by_total[:limit]


# A step: ("add", text, seconds), rarer ("drop", text) resets one fingerprint, rarest ("reset",) the table.
SECONDS = st.one_of(st.sampled_from([0.0, 0.001, 0.5, 2.0]), st.floats(0.0, 10.0))


def step(kind: int, text: str, seconds: float) -> tuple:
    return ("reset",) if kind == 0 else ("drop", text) if kind < 4 else ("add", text, seconds)


def steps(texts: int, full: int = 0) -> st.SearchStrategy[list[tuple]]:
    """Random steps on `texts` texts, after adds that fill a table of `full` rows."""
    fill = st.lists(SECONDS, min_size=full, max_size=full).map(
        lambda seconds: [("add", f"q{i}", value) for i, value in enumerate(seconds)])
    text = st.integers(0, texts - 1).map("q{}".format)
    ops = st.lists(st.builds(step, st.integers(0, 99), text, SECONDS), max_size=300)
    return st.tuples(fill, ops).map(lambda pair: pair[0] + pair[1])


def replay(ops: list[tuple], size: int) -> None:
    """Run `ops` on a table and on a plain dict of (calls, total): the same rows, an eviction takes a
    smallest total into `other`, and the leaders are checked after every step."""
    table = StatementTable(size, now=0.0)
    model: dict[str, tuple[int, float]] = {}
    other_calls = 0
    for op in ops:
        if op[0] == "add":
            _, text, seconds = op
            full = text not in model and len(model) == size
            table.add(text, seconds, False, 1, 1, False, 1.0)
            if full:
                (evicted,) = set(model) - {row.query for row in table.rows()}
                gone_calls, gone_total = model.pop(evicted)
                assert gone_total <= min((total for _, total in model.values()), default=math.inf)
                other_calls += gone_calls
            calls, total = model.get(text, (0, 0.0))
            model[text] = (calls + 1, total + seconds)
        elif op[0] == "drop":
            assert table.reset(1.0, fingerprint(op[1])) == int(op[1] in model)
            model.pop(op[1], None)
        else:
            table.reset(1.0)
            model.clear()
            other_calls = 0
        assert {row.query: (row.calls, row.total_seconds) for row in table.rows()} == model
        assert table.other.calls == other_calls
        check_leaders(table)


@settings(max_examples=200, deadline=None)
@given(steps(texts=120, full=LEADERS + 16))
def test_the_leaders_are_the_largest_totals_after_any_adds_evictions_and_resets(ops):
    replay(ops, size=LEADERS + 16)


@settings(max_examples=300, deadline=None)
@given(steps(texts=12))
def test_a_few_leaders_in_a_small_table_churn_and_stay_the_largest(ops):
    with mock.patch.object(statements, "LEADERS", 3):
        replay(ops, size=7)


def test_equal_totals_evict_non_leaders_only():
    table = StatementTable(LEADERS + 4, now=0.0)
    for i in range(3 * (LEADERS + 4)):  # all tie at 0: the oldest row, a leader, is met first
        table.add(f"q{i}", 0.0, False, 1, 1, False, 1.0)
        check_leaders(table)
    kept = {row.query for row in table.rows()}
    assert {row.query for row in table.candidates(LEADERS)} <= kept and {f"q{i}" for i in range(LEADERS)} <= kept
    assert table.other.calls == 2 * (LEADERS + 4)


def test_get_top_queries_reads_the_leaders_and_equals_the_full_ranking():
    monitor = QueryMonitor(top_queries_size=3 * LEADERS)
    rng = random.Random(11)
    for step in range(6000):
        n = min(int(rng.paretovariate(0.8)), 5 * LEADERS)  # a long tail: more texts than the table holds
        finish(monitor, f"SELECT c{n} FROM t", rng.choice([0.0, 0.01, rng.uniform(0, 0.2)]))
        if step % 500 == 499:
            top = monitor.get_statement_stats(1)[0].fingerprint
            assert monitor.reset_statement_stats(top if step % 1000 == 999 else "0123456789abcdef") == \
                int(step % 1000 == 999)
        if step % 50 == 0:
            ranked = [row.total_seconds for row in monitor.get_statement_stats(10_000)]  # every row, sorted
            assert [row.total_seconds for row in monitor.get_statement_stats(LEADERS)] == ranked[:LEADERS]
            assert [t.total_seconds for t in monitor.get_top_queries(10)] == ranked[:10]


def test_the_top_rows_are_copies_that_later_calls_leave_alone():
    monitor = QueryMonitor(top_queries_size=2 * LEADERS)
    for i in range(2 * LEADERS):
        finish(monitor, f"SELECT c{i} FROM t", 0.01 * i)
    top = monitor.get_statement_stats(5)
    before = [(row.calls, row.total_seconds) for row in top]
    for row in top:
        finish(monitor, row.query, 1.0)
    assert [(row.calls, row.total_seconds) for row in top] == before
    assert [row.calls for row in monitor.get_statement_stats(5)] == [2] * 5


def test_top_statements_equals_heapq_nlargest_with_ties_on_few_rows_and_on_many():
    rng = random.Random(5)
    for count in (5, LEADERS, 3 * LEADERS):
        rows = [StatementStats(f"f{i}", f"q{i}", 0.0) for i in range(count)]
        for row in rows:
            for _ in range(rng.randint(1, 3)):
                row.add(rng.choice([0.5, 1.0, 1.5]), rng.random() < 0.3, rng.choice([0, 10]), 0, False, 1.0)
        for sort, attribute in statements.SORT_KEYS.items():
            for limit in (0, 1, 7, count):
                expected = heapq.nlargest(limit, rows, key=lambda row, a=attribute: getattr(row, a))
                assert top_statements(rows, limit, sort) == expected
