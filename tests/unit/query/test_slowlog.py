import csv
import io
import json
import sqlite3

import pytest

from bytedb_exporter.query.monitor import QueryMonitor
from bytedb_exporter.query.slowlog import CSV_COLUMNS, SlowQueryLog, render
from bytedb_exporter.query.slowstore import QUEUE_SIZE, SlowQueryStore


def finish(monitor, query_id, seconds, sql="SELECT * FROM t WHERE a = 1", error=None):
    execution = monitor.start_query_monitoring(query_id, sql)
    execution.set_plan("Scan t\n  Gather, \"quoted\"")
    execution.record_fragment("worker-1", seconds / 4, rows=3)
    execution.record_fragment("worker-2", seconds / 2, rows=4)
    if error:
        execution.set_error(error)
    return execution.finish(total_seconds=seconds)


def test_only_queries_over_the_threshold_are_kept_newest_first_and_bounded():
    monitor, log = QueryMonitor(), SlowQueryLog(0.3, size=3)
    monitor.add_listener(log)
    finish(monitor, "fast", 0.3)
    for i in range(5):
        finish(monitor, f"slow-{i}", 0.5 + i)
    assert [e["query_id"] for e in log.entries()] == ["slow-4", "slow-3", "slow-2"]
    entry = log.entries(1)[0]
    assert entry["fragment_count"] == 2 and entry["skew_ratio"] == pytest.approx(2 / 1.5)
    assert entry["plan"].startswith("Scan t") and entry["fragments"][0]["worker_id"] == "worker-1"


def test_csv_is_rfc4180_with_a_header_and_parses_back():
    monitor, log = QueryMonitor(), SlowQueryLog(0.1)
    monitor.add_listener(log)
    finish(monitor, "q1", 1.0, sql="SELECT 'a,b\nc' FROM t", error="bad, \"very\" bad")
    text = render(log.entries(), "csv")
    assert text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(rows[0]) == list(CSV_COLUMNS) and len(rows) == 1
    assert rows[0]["sql"] == "SELECT 'a,b\nc' FROM t" and rows[0]["error_message"] == 'bad, "very" bad'
    assert json.loads(rows[0]["fragments"])[1]["seconds"] == 0.5 and rows[0]["status"] == "failed"
    ndjson = render(log.entries(), "ndjson").splitlines()
    assert [json.loads(line)["query_id"] for line in ndjson] == ["q1"]
    assert json.loads(render(log.entries(), "json"))[0]["total_seconds"] == 1.0


def test_the_sqlite_store_survives_a_restart_within_its_bounds(tmp_path):
    path = tmp_path / "slow.sqlite"
    store = SlowQueryStore(path, max_rows=3)
    monitor, log = QueryMonitor(), SlowQueryLog(0.1, 10, store.add)
    monitor.add_listener(log)
    for i in range(5):
        finish(monitor, f"q{i}", 1.0 + i)
    store.close()
    reopened = SlowQueryStore(path, max_rows=3)
    restored = SlowQueryLog(0.1, 10, reopened.add, reopened.load(10))
    assert [e["query_id"] for e in restored.entries()] == ["q4", "q3", "q2"]
    reopened.close()
    aged = SlowQueryStore(path, max_rows=3, retention_seconds=0.0)
    assert aged.load(10) == []
    aged.close()


def test_a_locked_store_never_blocks_or_breaks_a_finishing_query(tmp_path):
    """Another process holds the file locked: entries are counted failed (and logged), the queries finish and
    the in-memory log keeps them; with the writer stuck, a full queue drops entries instead of blocking."""
    path = tmp_path / "slow.sqlite"
    results = []
    store = SlowQueryStore(path, max_rows=3, count=results.append)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    monitor, log = QueryMonitor(), SlowQueryLog(0.1, 10, store.add)
    monitor.add_listener(log)
    finish(monitor, "q1", 1.0)
    store.flush()
    assert results == ["failed"] and [e["query_id"] for e in log.entries()] == ["q1"]
    with store._lock:  # the writer is stuck behind a slow disk
        for _ in range(QUEUE_SIZE + 10):
            store.add({"query_id": "x"})
        assert results.count("dropped") >= 5
    locker.execute("ROLLBACK")
    store.flush()
    finish(monitor, "q2", 1.0)
    store.close()
    assert results[-1] == "written"
