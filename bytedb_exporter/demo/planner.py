"""Plan a demo SELECT: classify, pick a strategy for per-shard fragments plus a merge, and cost both plans."""
from __future__ import annotations

import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from bytedb_exporter.demo.catalog import TABLE_REF, Catalog, table_aliases
from bytedb_exporter.demo.clauses import AGG_CALL, PlanError, Unsupported, limit_of, mask, norm, parse, split_top
from bytedb_exporter.demo.dataset import REPLICATED_TABLES, SHARDED_TABLES, shard_of
from bytedb_exporter.demo.rewrite import partial_aggregate, pushdown

# PlanError lives in clauses and is re-exported here for existing importers.
__all__ = ["FragmentSpec", "PlanError", "QueryPlan", "classify", "plan_query"]
TRANSFER_WEIGHT = 2.0
"""Cost units per row shipped from a worker to the coordinator."""


@dataclass(frozen=True)
class FragmentSpec:
    """SQL to run on one shard; its rows go into merge table `target`."""

    shard: int
    sql: str
    target: str = "partial"


@dataclass(frozen=True)
class QueryPlan:
    """Fragments, merge step and costs of one query."""

    sql: str
    query_type: str
    strategy: str
    fragments: tuple[FragmentSpec, ...]
    merge_sql: str | None
    original_cost: float
    optimized_cost: float

    @property
    def optimization_applied(self) -> bool:
        """Whether the chosen plan is cheaper than shipping the tables to the coordinator."""
        return self.strategy != "ship_tables" and self.optimized_cost < self.original_cost

    def text(self) -> str:
        """The plan as readable text: strategy and costs, each fragment with its shard, the merge step."""
        lines = [f"{self.query_type} strategy={self.strategy} cost={self.original_cost:g}->{self.optimized_cost:g}"]
        lines += [f"  fragment {i} on shard {f.shard} -> {f.target}: {f.sql}" for i, f in enumerate(self.fragments)]
        if self.merge_sql:
            lines.append(f"  merge: {self.merge_sql}")
        return "\n".join(lines)

    @property
    def shards(self) -> tuple[int, ...]:
        """Distinct shards the plan runs on."""
        return tuple(sorted({f.shard for f in self.fragments}))


_EQ = re.compile(r"^(?:(\w+)\.)?(\w+)\s*=\s*(\d+)$|^(\d+)\s*=\s*(?:(\w+)\.)?(\w+)$")


def classify(sql: str) -> str:
    """SELECT, SELECT_AGGREGATE, SELECT_JOIN or SELECT_JOIN_AGGREGATE (OTHER for non-SELECT)."""
    if not sql.strip().lower().startswith(("select", "with")):
        return "OTHER"
    masked = mask(sql)
    join = bool(re.search(r"\bjoin\b", masked, re.I)) or len(set(table_aliases(sql).values())) > 1
    aggregate = bool(AGG_CALL.search(sql)) or bool(re.search(r"\bgroup\s+by\b", masked, re.I))
    return "SELECT" + ("_JOIN" if join else "") + ("_AGGREGATE" if aggregate else "")


def target_shards(sql: str, clauses: dict[str, str], shards: int) -> tuple[int, ...]:
    """Shards that can hold matching rows (pruned by an equality on the sharding key)."""
    refs = table_aliases(sql)
    sharded = {t for t in refs.values() if t in SHARDED_TABLES}
    if not sharded:
        return (zlib.crc32(norm(sql).encode()) % shards,)
    where = clauses.get("where", "")
    if where and not re.search(r"\bor\b", mask(where), re.I):
        for conjunct in split_top(where, "and"):
            m = _EQ.match(conjunct.strip())
            if not m:
                continue
            alias, column, value = ((m.group(1), m.group(2), m.group(3)) if m.group(3)
                                    else (m.group(5), m.group(6), m.group(4)))
            owners = [refs[alias.lower()]] if alias and alias.lower() in refs else sorted(sharded)
            if len(owners) == 1 and SHARDED_TABLES.get(owners[0]) == column.lower():
                return (shard_of(int(value), shards),)
    return tuple(range(shards))


def _check_colocated(sql: str, clauses: dict[str, str]) -> None:
    """Raise Unsupported unless every join is shard-local."""
    from_text = mask(clauses["from"]).lower()
    if re.search(r"\b(left|right|full|outer|cross|natural|using)\b", from_text):
        raise Unsupported("only inner joins are decomposed")
    named = [m.group(1).lower() for m in TABLE_REF.finditer(mask(clauses["from"]))]
    sharded = [t for t in named if t in SHARDED_TABLES]
    if len(sharded) != len(set(sharded)):
        raise Unsupported("self-joins of sharded tables are not shard-local")
    if len(set(sharded)) == 2:
        aliases = {t: a for a, t in table_aliases(sql).items() if t in SHARDED_TABLES and a != t}
        e, s = aliases.get("employees", "employees"), aliases.get("sales", "sales")
        text = norm(clauses["from"] + " and " + clauses.get("where", ""))
        if f"{e}.id={s}.employee_id" not in text and f"{s}.employee_id={e}.id" not in text:
            raise Unsupported("employees and sales must be joined on the sharding key")


def _ship_tables(sql: str, shards: int) -> tuple[FragmentSpec, ...]:
    """Fragments of the naive plan: every shard ships its sharded tables, one shard the replicated ones."""
    tables = sorted(set(table_aliases(sql).values()))
    frags = [FragmentSpec(s, f"SELECT * FROM {t}", t) for t in tables if t in SHARDED_TABLES for s in range(shards)]
    frags += [FragmentSpec(zlib.crc32(t.encode()) % shards, f"SELECT * FROM {t}", t)
              for t in tables if t in REPLICATED_TABLES]
    return tuple(frags)


def _naive_cost(catalog: Catalog, sql: str, frags: Sequence[FragmentSpec]) -> float:
    """Cost of scanning and shipping whole tables, then running the query on the coordinator."""
    cost = 0.0
    for f in frags:
        n = catalog.shard_rows[f.shard][f.target]
        cost += n * (1.0 + TRANSFER_WEIGHT)
    return cost + catalog.estimate(sql, catalog.total_rows)[0]


def _groups_estimate(sql: str, clauses: dict[str, str], catalog: Catalog, rows: dict[str, int]) -> float:
    """Estimated number of groups a fragment returns (1 without GROUP BY)."""
    refs, estimate = table_aliases(sql), 1.0
    sharded = [t for t in refs.values() if t in SHARDED_TABLES]
    for expr in split_top(clauses.get("group by", "")):
        m = re.match(r"^(?:(\w+)\.)?(\w+)$", expr.strip())
        table = (refs.get(m.group(1).lower()) if m.group(1) else (sharded or ["employees"])[0]) if m else None
        estimate *= catalog.distinct_values(table, m.group(2).lower(), rows) if m and table else 100.0
    return estimate


def plan_query(sql: str, catalog: Catalog) -> QueryPlan:
    """Plan `sql` over the catalog's shards; raise PlanError for invalid or non read-only SQL."""
    shards = len(catalog.shard_rows)
    query_type = classify(sql)
    statement = sql.strip().rstrip(";")
    try:
        catalog.explain(statement)
    except Exception as exc:  # sqlite3.Error and Warning (several statements)
        raise PlanError(f"{type(exc).__name__}: {exc}") from exc
    if query_type == "OTHER":
        raise PlanError("read-only engine: only SELECT queries are supported")
    naive = _ship_tables(sql, shards)
    original = _naive_cost(catalog, sql, naive)
    try:
        clauses = parse(sql)
        targets = target_shards(sql, clauses, shards)
        if len(targets) == 1:
            strategy, frag_sql, merge = "single_shard", statement, None
        else:
            _check_colocated(sql, clauses)
            aggregate = "AGGREGATE" in query_type
            strategy = "partial_aggregate" if aggregate else "pushdown"
            frag_sql, merge = (partial_aggregate if aggregate else pushdown)(clauses)
        frags = tuple(FragmentSpec(s, frag_sql) for s in targets)
        optimized, partial_rows = 0.0, 0.0
        limit, offset = limit_of(clauses.get("limit"))
        for f in frags:
            cost, out = catalog.estimate(f.sql, catalog.shard_rows[f.shard])
            if strategy == "partial_aggregate":
                out = min(out, _groups_estimate(sql, clauses, catalog, catalog.shard_rows[f.shard]))
            out = min(out, float(limit + offset)) if limit is not None else out
            optimized += cost + TRANSFER_WEIGHT * out
            partial_rows += out
        if merge is not None:
            optimized += partial_rows * (1.0 + math.log2(partial_rows + 1))
        if optimized < original:
            return QueryPlan(sql, query_type, strategy, frags, merge, original, optimized)
    except Unsupported:
        pass
    return QueryPlan(sql, query_type, "ship_tables", naive, statement, original, original)
