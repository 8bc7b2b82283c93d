"""Planner catalog: an empty in-memory copy of the shard schema with the shards' statistics, and its cost model."""
from __future__ import annotations

import math
import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from bytedb_exporter.demo.dataset import INDEXED_COLUMNS, REPLICATED_TABLES, SHARDED_TABLES, TABLES, schema_ddl


def table_rows(paths: Sequence[Path]) -> list[dict[str, int]]:
    """Row count of every table in every shard file."""
    counts = []
    for path in paths:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            counts.append({name: conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0] for name in TABLES})
        finally:
            conn.close()
    return counts


_EQP = re.compile(r"^(SCAN|SEARCH) (\w+)(?: AS \w+)?"
                  r"(?: USING (COVERING )?(?:INDEX (\w+)|(INTEGER PRIMARY KEY)|PRIMARY KEY))?"
                  r"(?: \((.*)\))?")
TABLE_REF = re.compile(r"\b(" + "|".join(TABLES) + r")\b(?:\s+(?:as\s+)?(?!join\b|on\b|inner\b|where\b|left\b|group\b"
                        r"|order\b|limit\b|cross\b)(\w+))?", re.I)


def table_aliases(sql: str) -> dict[str, str]:
    """Alias (lower case) -> table for every demo table named in `sql` (string literals ignored)."""
    refs: dict[str, str] = {}
    text = re.sub(r"'(?:[^']|'')*'", "''", sql)
    start = re.search(r"\bfrom\b", text, re.I)
    for m in TABLE_REF.finditer(text, start.end() if start else 0):
        table = m.group(1).lower()
        refs[(m.group(2) or table).lower()] = table
        refs.setdefault(table, table)
    return refs


class Catalog:
    """Local, empty copy of the shard schema with the shards' statistics: SQLite plans, we cost."""

    def __init__(self, shard_rows: Sequence[dict[str, int]], stat1: Sequence[tuple[str, str | None, str]] = ()) -> None:
        """Catalog for shards with the given row counts and sqlite_stat1 rows (of shard 0)."""
        self.shard_rows = [dict(r) for r in shard_rows]
        self.total_rows = {t: sum(r[t] for r in self.shard_rows if t in SHARDED_TABLES) or self.shard_rows[0][t]
                           for t in TABLES}
        self._index_stats = {idx: [float(x) for x in stat.split()[:8] if x.isdigit()] for _, idx, stat in stat1 if idx}
        self.conn = sqlite3.connect(":memory:", check_same_thread=False)
        tables, indexes = schema_ddl()
        for ddl in tables + indexes:
            self.conn.execute(ddl)
        if stat1:
            self.conn.execute("ANALYZE")
            self.conn.executemany("INSERT INTO sqlite_stat1 VALUES (?, ?, ?)", stat1)
            self.conn.execute("ANALYZE sqlite_master")
        self._lock = threading.Lock()

    @classmethod
    def from_shards(cls, paths: Sequence[Path]) -> Catalog:
        """Catalog with row counts of every shard and the statistics of the first one."""
        conn = sqlite3.connect(f"file:{paths[0]}?mode=ro", uri=True)
        try:
            stat1 = conn.execute("SELECT tbl, idx, stat FROM sqlite_stat1").fetchall()
        except sqlite3.Error:
            stat1 = []
        finally:
            conn.close()
        return cls(table_rows(paths), stat1)

    def explain(self, sql: str) -> list[str]:
        """EXPLAIN QUERY PLAN lines; raises sqlite3.Error for invalid SQL (unknown column, syntax)."""
        with self._lock:
            return [row[3] for row in self.conn.execute("EXPLAIN QUERY PLAN " + sql)]

    def estimate(self, sql: str, rows: dict[str, int]) -> tuple[float, float]:
        """(cost in row visits, estimated output rows) of `sql` over tables of the given sizes."""
        cost, loop, first_scan = 0.0, 1.0, None
        aliases = table_aliases(sql)
        for detail in self.explain(sql):
            m = _EQP.match(detail)
            table = aliases.get(m.group(2).lower()) if m else None
            if m is not None and table in rows:
                n = float(max(rows[table], 1))
                cond = m.group(6) or ""
                if m.group(1) == "SCAN":
                    step, out = n * (0.6 if m.group(3) else 1.0), n
                    first_scan = n if first_scan is None else first_scan
                elif m.group(5) or "rowid=?" in cond:
                    step, out = math.log2(n + 1), 1.0
                else:
                    eq = len(re.findall(r"(?<![<>!])=\?", cond))
                    stats = self._index_stats.get(m.group(4) or "", [])
                    if eq:
                        out = stats[eq] * n / stats[0] if len(stats) > eq else n / 10
                    else:
                        out = n / (16 if "AND" in cond else 4)
                    step = math.log2(n + 1) + out
                cost += loop * step
                loop *= out
            elif detail.startswith("USE TEMP B-TREE"):
                cost += loop * math.log2(loop + 1)
        if first_scan is not None and re.search(r"\bwhere\b", sql, re.I) and loop >= first_scan:
            loop *= 0.25
        return cost, loop

    def distinct_values(self, table: str, column: str, rows: dict[str, int]) -> float:
        """Estimated number of distinct values of table.column (index statistics, else a guess)."""
        n = float(max(rows.get(table, 1), 1))
        if column == "id":
            return n
        for index, indexed_table, indexed_column in INDEXED_COLUMNS:
            stats = self._index_stats.get(index, [])
            if indexed_table == table and indexed_column == column and len(stats) > 1:
                return min(n, stats[0] / max(stats[1], 1.0))
        return n if table in REPLICATED_TABLES else min(n, 100.0)
