"""Unit tests of the demo engine: data set, planner, merge correctness, caches."""
from __future__ import annotations

import math
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bytedb_exporter.demo.cache import LRUCache, normalize_sql
from bytedb_exporter.demo.catalog import Catalog
from bytedb_exporter.demo.dataset import DatasetSpec, build_shards, build_single, generate_rows, split_rows
from bytedb_exporter.demo.engine import merge_answers
from bytedb_exporter.demo.planner import PlanError, classify, plan_query
from bytedb_exporter.demo.workload import INVALID, SHAPES, generate_queries

SPEC = DatasetSpec(employees=600, departments=12, sales=6000, seed=3)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """Three shards and one unsharded reference DB of the same small data set."""
    root = tmp_path_factory.mktemp("demo-data")
    return build_shards(root / "shards", 3, SPEC), build_single(root / "single.sqlite", SPEC)


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """All rows of `sql` on one SQLite file."""
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _same(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]]) -> bool:
    """Equal as multisets of rows, floats compared with a relative tolerance."""
    if len(got) != len(want):
        return False
    for a_row, b_row in zip(sorted(got, key=repr), sorted(want, key=repr), strict=False):
        for a, b in zip(a_row, b_row, strict=False):
            if isinstance(a, float) or isinstance(b, float):
                if a is None or b is None or not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6):
                    return False
            elif a != b:
                return False
    return True


def _distributed(paths: list[Path], catalog: Catalog, sql: str) -> tuple[list[str], list[tuple[Any, ...]], Any]:
    """Run the plan's fragments directly on the shard files and merge them (no processes)."""
    plan = plan_query(sql, catalog)
    parts = []
    for fragment in plan.fragments:
        conn = sqlite3.connect(str(paths[fragment.shard]))
        cursor = conn.execute(fragment.sql)
        parts.append((fragment.target, [d[0] for d in cursor.description], cursor.fetchall()))
        conn.close()
    columns, rows = merge_answers(plan, parts)
    return columns, rows, plan


def test_dataset_is_deterministic() -> None:
    assert generate_rows(SPEC) == generate_rows(SPEC)
    assert generate_rows(SPEC) != generate_rows(DatasetSpec(600, 12, 6000, seed=4))


def test_shards_partition_the_rows(shards: tuple[list[Path], Path]) -> None:
    paths, single = shards
    for table in ("employees", "sales"):
        union = sorted(row for path in paths for row in _rows(path, f"SELECT * FROM {table}"))
        assert union == sorted(_rows(single, f"SELECT * FROM {table}"))
        assert all(_rows(path, f"SELECT * FROM {table}") for path in paths)
    for path in paths:
        assert _rows(path, "SELECT * FROM departments") == _rows(single, "SELECT * FROM departments")
    parts = split_rows(generate_rows(SPEC), 3)
    assert all(row[0] % 3 == i for i, part in enumerate(parts) for row in part["employees"])
    assert all(row[1] % 3 == i for i, part in enumerate(parts) for row in part["sales"])


def test_classify() -> None:
    assert classify("SELECT id FROM employees") == "SELECT"
    assert classify("SELECT COUNT(*) AS employees FROM employees") == "SELECT_AGGREGATE"
    assert classify("SELECT e.name FROM employees e JOIN departments d ON d.id = e.department_id") == "SELECT_JOIN"
    assert classify(SHAPES["department_salaries"](random.Random(1))) == "SELECT_JOIN_AGGREGATE"


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_distributed_answer_equals_single_db(shards: tuple[list[Path], Path], shape: str) -> None:
    paths, single = shards
    catalog = Catalog.from_shards(paths)
    for seed in range(6):
        sql = SHAPES[shape](random.Random(seed))
        columns, rows, plan = _distributed(paths, catalog, sql)
        conn = sqlite3.connect(str(single))
        cursor = conn.execute(sql)
        want = cursor.fetchall()
        assert columns == [d[0] for d in cursor.description]
        conn.close()
        assert _same(rows, want), (plan.strategy, sql)
        assert plan.strategy != "ship_tables", sql


@pytest.mark.parametrize("sql", [
    "SELECT COUNT(DISTINCT city) AS cities FROM employees",
    "SELECT name FROM employees WHERE salary > (SELECT AVG(salary) FROM employees) ORDER BY id LIMIT 5",
    "SELECT * FROM employees WHERE city = 'Oslo'",
    "SELECT e.name, s.amount FROM employees e LEFT JOIN sales s ON s.employee_id = e.id WHERE e.id < 20",
    "SELECT d.name, COUNT(e.id) FROM departments d LEFT JOIN employees e ON e.department_id = d.id GROUP BY d.name",
])
def test_unsupported_shapes_fall_back_to_shipping_tables(shards: tuple[list[Path], Path], sql: str) -> None:
    paths, single = shards
    _, rows, plan = _distributed(paths, Catalog.from_shards(paths), sql)
    assert plan.strategy == "ship_tables" and not plan.optimization_applied
    assert _same(rows, _rows(single, sql))


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_optimized_cost_not_above_original(shards: tuple[list[Path], Path], shape: str) -> None:
    catalog = Catalog.from_shards(shards[0])
    plan = plan_query(SHAPES[shape](random.Random(0)), catalog)
    assert 0 < plan.optimized_cost <= plan.original_cost
    assert plan.optimization_applied


def test_shard_pruning_and_replicated_tables(shards: tuple[list[Path], Path]) -> None:
    catalog = Catalog.from_shards(shards[0])
    assert plan_query("SELECT id FROM sales WHERE employee_id = 7 ORDER BY id", catalog).shards == (1,)
    assert plan_query("SELECT name FROM employees e WHERE e.id = 9", catalog).shards == (0,)
    assert len(plan_query("SELECT name FROM departments ORDER BY id", catalog).shards) == 1
    assert plan_query("SELECT id FROM sales WHERE employee_id = 7 OR id = 3", catalog).shards == (0, 1, 2)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_queries_raise_plan_error(shards: tuple[list[Path], Path], name: str) -> None:
    with pytest.raises(PlanError):
        plan_query(INVALID[name](random.Random(0)), Catalog.from_shards(shards[0]))
    with pytest.raises(PlanError):
        plan_query("DELETE FROM employees", Catalog.from_shards(shards[0]))


def test_workload_stream_is_deterministic_with_some_errors() -> None:
    first = [q for _, q in zip(range(500), generate_queries(seed=5, error_rate=0.05), strict=False)]
    second = [q for _, q in zip(range(500), generate_queries(seed=5, error_rate=0.05), strict=False)]
    assert first == second
    assert 5 <= sum(q.expect_error for q in first) <= 60
    assert len({q.shape for q in first}) >= len(SHAPES)


def test_normalize_sql() -> None:
    assert normalize_sql("SELECT  a\nFROM t WHERE x = 'Ab  C';") == "select a from t where x = 'Ab  C'"


def test_cache_lru_order_and_byte_budget() -> None:
    cache: LRUCache[str] = LRUCache(max_bytes=100, ttl_seconds=60)
    cache.put("a", "A", 40)
    cache.put("b", "B", 40)
    assert cache.get("a") == "A"  # a is now most recently used
    assert cache.put("c", "C", 40) == 1  # evicts b, the least recently used
    assert cache.get("b") is None and cache.get("a") == "A" and cache.get("c") == "C"
    assert cache.put("huge", "H", 101) == 0 and cache.get("huge") is None
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.evictions, stats.size_bytes, stats.entries) == (3, 2, 1, 80, 2)


def test_cache_ttl() -> None:
    now = [0.0]
    cache: LRUCache[str] = LRUCache(max_bytes=100, ttl_seconds=5, clock=lambda: now[0])
    cache.put("k", "v", 10)
    now[0] = 4.9
    assert cache.get("k") == "v"
    now[0] = 10.0
    assert cache.get("k") is None
    assert cache.stats().expirations == 1 and cache.size_bytes == 0
