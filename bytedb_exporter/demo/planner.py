"""Plan a demo SELECT: classify, split into per-shard fragments plus a merge, and cost both plans."""
from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from .dataset import (REPLICATED_TABLES, SHARDED_TABLES, TABLE_REF, TRANSFER_WEIGHT, Catalog,
                      table_aliases)


class PlanError(ValueError):
    """The query cannot be planned (not a read-only SELECT, syntax error, unknown column...)."""


class _Unsupported(Exception):
    """The query shape cannot be decomposed; fall back to shipping the tables."""


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
    fragments: Tuple[FragmentSpec, ...]
    merge_sql: Optional[str]
    original_cost: float
    optimized_cost: float

    @property
    def optimization_applied(self) -> bool:
        """Whether the chosen plan is cheaper than shipping the tables to the coordinator."""
        return self.strategy != "ship_tables" and self.optimized_cost < self.original_cost

    @property
    def shards(self) -> Tuple[int, ...]:
        """Distinct shards the plan runs on."""
        return tuple(sorted({f.shard for f in self.fragments}))


_CLAUSE = re.compile(r"\b(select|from|where|group\s+by|having|order\s+by|limit)\b", re.I)
_LITERAL = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_AGG = re.compile(r"\b(count|sum|avg|min|max)\s*\(", re.I)
_EQ = re.compile(r"^(?:(\w+)\.)?(\w+)\s*=\s*(\d+)$|^(\d+)\s*=\s*(?:(\w+)\.)?(\w+)$")
_WRITE = re.compile(r"^\s*(insert|update|delete|replace|create|drop|alter|attach|detach|pragma|vacuum)\b", re.I)


def mask(sql: str) -> str:
    """`sql` with string literals and parenthesized text blanked (same length)."""
    out = list(_LITERAL.sub(lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 2) + m.group(0)[-1], sql))
    depth = 0
    for i, ch in enumerate(out):
        if ch == ")":
            depth -= 1
        if depth > 0:
            out[i] = " "
        if ch == "(":
            depth += 1
    return "".join(out)


def norm(text: str) -> str:
    """Expression text normalized for comparisons (case, blanks around punctuation)."""
    parts, last = [], 0
    for m in _LITERAL.finditer(text):
        parts.append(re.sub(r"\s*([(),*=<>+/-])\s*", r"\1", " ".join(text[last:m.start()].lower().split())))
        parts.append(m.group(0))
        last = m.end()
    parts.append(re.sub(r"\s*([(),*=<>+/-])\s*", r"\1", " ".join(text[last:].lower().split())))
    return "".join(parts).strip()


def split_top(text: str, sep: str = ",") -> List[str]:
    """Split on `sep` (a comma or a keyword) outside parentheses and literals."""
    masked = mask(text)
    pattern = re.escape(sep) if sep == "," else r"\s+" + sep + r"\s+"
    pieces, last = [], 0
    for m in re.finditer(pattern, masked, re.I):
        pieces.append(text[last:m.start()].strip())
        last = m.end()
    pieces.append(text[last:].strip())
    return [p for p in pieces if p]


def parse(sql: str) -> Dict[str, str]:
    """Clauses of a single SELECT statement, keyed 'select', 'from', 'where', 'group by'..."""
    text = sql.strip().rstrip(";").strip()
    if ";" in mask(text):
        raise PlanError("only one statement per query is supported")
    if _WRITE.match(text):
        raise PlanError("read-only engine: only SELECT queries are supported")
    masked = mask(text)
    found = [(m.start(), m.end(), " ".join(m.group(1).lower().split())) for m in _CLAUSE.finditer(masked)]
    if not found or found[0][0] != 0 or found[0][2] != "select":
        raise _Unsupported("not a plain SELECT")
    order = ["select", "from", "where", "group by", "having", "order by", "limit"]
    names = [f[2] for f in found]
    if len(set(names)) != len(names) or names != sorted(names, key=order.index) or "from" not in names:
        raise _Unsupported("clauses out of order, repeated or subqueries at top level")
    clauses = {}
    for i, (start, end, name) in enumerate(found):
        stop = found[i + 1][0] if i + 1 < len(found) else len(text)
        clauses[name] = text[end:stop].strip()
    if re.search(r"\b(union|intersect|except|window|over)\b", masked, re.I) or "select" in norm(text)[6:]:
        raise _Unsupported("set operations, window functions and subqueries are not decomposed")
    return clauses


def tables_of(sql: str) -> Dict[str, str]:
    """Alias (lower case) -> table for every table named in the query."""
    return table_aliases(sql)


def classify(sql: str) -> str:
    """SELECT, SELECT_AGGREGATE, SELECT_JOIN or SELECT_JOIN_AGGREGATE (OTHER for non-SELECT)."""
    text = sql.strip().lower()
    if not (text.startswith("select") or text.startswith("with")):
        return "OTHER"
    masked = mask(sql)
    join = bool(re.search(r"\bjoin\b", masked, re.I)) or len(set(tables_of(sql).values())) > 1
    aggregate = bool(_AGG.search(sql)) or bool(re.search(r"\bgroup\s+by\b", masked, re.I))
    return "SELECT" + ("_JOIN" if join else "") + ("_AGGREGATE" if aggregate else "")


def aggregates_in(text: str) -> List[str]:
    """Every aggregate call (COUNT/SUM/AVG/MIN/MAX with balanced parentheses) in `text`."""
    found = []
    for m in _AGG.finditer(text):
        depth, i = 0, m.end() - 1
        for i in range(m.end() - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                break
        found.append(text[m.start():i + 1])
    return found


def _item(text: str) -> Tuple[str, str]:
    """Expression and output column name of one select-list item."""
    m = re.match(r"^(.*?)(?:\s+as\s+(\w+|\"[^\"]+\"))?$", text, re.I | re.S)
    expr, alias = m.group(1).strip(), m.group(2)
    if alias:
        return expr, alias.strip('"')
    plain = re.match(r"^(?:\w+\.)?(\w+)$", expr)
    return expr, plain.group(1) if plain else expr


def _quote(name: str) -> str:
    """SQL identifier quoting."""
    return '"' + name.replace('"', '""') + '"'


def _rewrite(text: str, mapping: Dict[str, str]) -> str:
    """Replace normalized expressions/aliases in normalized `text` by merge columns (longest first)."""
    out, holes = norm(text), []
    for key in sorted(mapping, key=len, reverse=True):
        pattern = r"(?<![\w.])" + re.escape(key) + (r"(?!\w)" if key[-1:].isalnum() or key[-1:] == "_" else "")
        if re.search(pattern, out):
            holes.append(mapping[key])
            out = re.sub(pattern, f"\x00{len(holes) - 1}\x00", out)
    return re.sub(r"\x00(\d+)\x00", lambda m: holes[int(m.group(1))], out)


def _order_terms(text: str) -> List[Tuple[str, str]]:
    """(expression, direction) of every ORDER BY term."""
    terms = []
    for term in split_top(text):
        m = re.match(r"^(.*?)(\s+(?:asc|desc))?(\s+nulls\s+(?:first|last))?$", term, re.I | re.S)
        terms.append((m.group(1).strip(), ((m.group(2) or "") + (m.group(3) or "")).upper()))
    return terms


def _limit(text: Optional[str]) -> Tuple[Optional[int], int]:
    """(limit, offset) of a LIMIT clause."""
    if not text:
        return None, 0
    m = re.match(r"^(\d+)(?:\s+offset\s+(\d+)|\s*,\s*(\d+))?$", text.strip(), re.I)
    if not m:
        raise _Unsupported("LIMIT must be a number")
    if m.group(3):
        return int(m.group(3)), int(m.group(1))
    return int(m.group(1)), int(m.group(2) or 0)


def target_shards(sql: str, clauses: Dict[str, str], shards: int) -> Tuple[int, ...]:
    """Shards that can hold matching rows (pruned by an equality on the sharding key)."""
    refs = tables_of(sql)
    sharded = {t for t in refs.values() if t in SHARDED_TABLES}
    if not sharded:
        return (zlib.crc32(norm(sql).encode()) % shards,)
    where = clauses.get("where", "")
    if where and not re.search(r"\bor\b", mask(where), re.I):
        for conjunct in split_top(where, "and"):
            m = _EQ.match(conjunct.strip())
            if not m:
                continue
            alias, column, value = (m.group(1), m.group(2), m.group(3)) if m.group(3) else (m.group(5), m.group(6), m.group(4))
            owners = [refs[alias.lower()]] if alias and alias.lower() in refs else sorted(sharded)
            if len(owners) == 1 and SHARDED_TABLES.get(owners[0]) == column.lower():
                return (int(value) % shards,)
    return tuple(range(shards))


def _check_colocated(sql: str, clauses: Dict[str, str]) -> None:
    """Raise _Unsupported unless every join is shard-local."""
    from_text = mask(clauses["from"]).lower()
    if re.search(r"\b(left|right|full|outer|cross|natural|using)\b", from_text):
        raise _Unsupported("only inner joins are decomposed")
    named = [m.group(1).lower() for m in TABLE_REF.finditer(mask(clauses["from"]))]
    sharded = [t for t in named if t in SHARDED_TABLES]
    if len(sharded) != len(set(sharded)):
        raise _Unsupported("self-joins of sharded tables are not shard-local")
    if len(set(sharded)) == 2:
        aliases = {t: a for a, t in tables_of(sql).items() if t in SHARDED_TABLES and a != t} or {}
        e, s = aliases.get("employees", "employees"), aliases.get("sales", "sales")
        text = norm(clauses["from"] + " and " + clauses.get("where", ""))
        if f"{e}.id={s}.employee_id" not in text and f"{s}.employee_id={e}.id" not in text:
            raise _Unsupported("employees and sales must be joined on the sharding key")


def _pushdown(c: Dict[str, str]) -> Tuple[str, str]:
    """Fragment and merge SQL of a non-aggregate query (filters, projection, ORDER BY and LIMIT pushed down)."""
    distinct = bool(re.match(r"^distinct\s", c["select"], re.I))
    items = [_item(t) for t in split_top(re.sub(r"^distinct\s+", "", c["select"], flags=re.I))]
    if any(e == "*" or e.endswith(".*") for e, _ in items):
        raise _Unsupported("SELECT * is not decomposed")
    cols = [(e, f"_c{i}") for i, (e, _) in enumerate(items)]
    lookup = {norm(e): col for e, col in cols}
    lookup.update({n.lower(): col for (_, n), (_, col) in zip(items, cols)})
    order = []
    for expr, direction in _order_terms(c.get("order by", "")):
        key = norm(expr)
        if key.isdigit() and 0 < int(key) <= len(items):
            col = cols[int(key) - 1][1]
        elif key in lookup:
            col = lookup[key]
        else:
            if distinct:
                raise _Unsupported("DISTINCT with ORDER BY on a hidden column")
            col = f"_c{len(cols)}"
            cols.append((expr, col))
            lookup[key] = col
        order.append(col + direction)
    limit, offset = _limit(c.get("limit"))
    head = "SELECT DISTINCT " if distinct else "SELECT "
    fragment = head + ", ".join(f"{e} AS {col}" for e, col in cols) + f" FROM {c['from']}"
    fragment += f" WHERE {c['where']}" if c.get("where") else ""
    tail = f" ORDER BY {', '.join(order)}" if order else ""
    merge = head + ", ".join(f"{col} AS {_quote(n)}" for (_, n), (_, col) in zip(items, cols)) + " FROM partial" + tail
    if limit is not None:
        fragment += tail + f" LIMIT {limit + offset}"
        merge += f" LIMIT {limit} OFFSET {offset}"
    return fragment, merge


def _partial_aggregate(c: Dict[str, str]) -> Tuple[str, str]:
    """Fragment and merge SQL of an aggregate query (partial aggregates on the workers, AVG as SUM/COUNT)."""
    if re.match(r"^distinct\s", c["select"], re.I):
        raise _Unsupported("SELECT DISTINCT with aggregates")
    items = [_item(t) for t in split_top(c["select"])]
    groups = split_top(c.get("group by", ""))
    mapping = {norm(g): f"_k{i}" for i, g in enumerate(groups)}
    aggs: Dict[str, str] = {}
    for text in [e for e, _ in items] + aggregates_in(c.get("having", "")) + aggregates_in(c.get("order by", "")):
        for call in aggregates_in(text):
            aggs.setdefault(norm(call), call)
    partials, merged = [], []
    for i, (key, call) in enumerate(aggs.items()):
        m = re.match(r"^(\w+)\((.*)\)$", key, re.S)
        func, arg = m.group(1), call[call.index("(") + 1:-1].strip()
        if re.match(r"^distinct\b", arg, re.I):
            raise _Unsupported("DISTINCT aggregates")
        if func == "avg":
            partials += [f"SUM({arg}) AS _p{i}s", f"COUNT({arg}) AS _p{i}c"]
            merged.append(f"SUM(_p{i}s) * 1.0 / SUM(_p{i}c) AS _a{i}")
        else:
            partials.append(f"{call} AS _p{i}")
            merged.append(f"{'SUM' if func == 'count' else func.upper()}(_p{i}) AS _a{i}")
        mapping[key] = f"_a{i}"
    outputs = []
    for expr, name in items:
        if norm(expr) not in mapping:
            raise _Unsupported(f"select item {expr!r} is neither a group key nor an aggregate")
        outputs.append((mapping[norm(expr)], name))
    for col, name in outputs:
        mapping.setdefault(name.lower(), col)
    keys = [f"_k{i}" for i in range(len(groups))]
    fragment = "SELECT " + ", ".join([f"{g} AS _k{i}" for i, g in enumerate(groups)] + partials)
    fragment += f" FROM {c['from']}" + (f" WHERE {c['where']}" if c.get("where") else "")
    fragment += f" GROUP BY {', '.join(groups)}" if groups else ""
    inner = "SELECT " + ", ".join(keys + merged) + " FROM partial" + (f" GROUP BY {', '.join(keys)}" if keys else "")
    merge = "SELECT " + ", ".join(f"{col} AS {_quote(name)}" for col, name in outputs) + f" FROM ({inner})"
    if c.get("having"):
        merge += " WHERE " + _rewrite(c["having"], mapping)
    if c.get("order by"):
        terms = [(str(outputs[int(e) - 1][0]) if e.isdigit() else _rewrite(e, mapping)) + d
                 for e, d in _order_terms(c["order by"])]
        merge += " ORDER BY " + ", ".join(terms)
    limit, offset = _limit(c.get("limit"))
    merge += f" LIMIT {limit} OFFSET {offset}" if limit is not None else ""
    return fragment, merge


def _ship_tables(sql: str, shards: int) -> Tuple[FragmentSpec, ...]:
    """Fragments of the naive plan: every shard ships its sharded tables, one shard the replicated ones."""
    tables = sorted(set(tables_of(sql).values()))
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


def _groups_estimate(sql: str, clauses: Dict[str, str], catalog: Catalog, rows: Dict[str, int]) -> float:
    """Estimated number of groups a fragment returns (1 without GROUP BY)."""
    refs, sharded, estimate = tables_of(sql), [t for t in tables_of(sql).values() if t in SHARDED_TABLES], 1.0
    for expr in split_top(clauses.get("group by", "")):
        m = re.match(r"^(?:(\w+)\.)?(\w+)$", expr.strip())
        table = (refs.get(m.group(1).lower()) if m.group(1) else (sharded or ["employees"])[0]) if m else None
        estimate *= catalog.distinct_values(table, m.group(2).lower(), rows) if m and table else 100.0
    return estimate


def plan_query(sql: str, catalog: Catalog) -> QueryPlan:
    """Plan `sql` over the catalog's shards; raise PlanError for invalid or non read-only SQL."""
    shards = len(catalog.shard_rows)
    query_type = classify(sql)
    try:
        catalog.explain(sql.strip().rstrip(";"))
    except Exception as exc:  # sqlite3.Error and Warning (several statements)
        raise PlanError(f"{type(exc).__name__}: {exc}") from exc
    if _WRITE.match(sql) or query_type == "OTHER":
        raise PlanError("read-only engine: only SELECT queries are supported")
    naive = _ship_tables(sql, shards)
    original = _naive_cost(catalog, sql, naive)
    try:
        clauses = parse(sql)
        targets = target_shards(sql, clauses, shards)
        if len(targets) == 1:
            strategy, frag_sql, merge = "single_shard", sql.strip().rstrip(";"), None
        else:
            _check_colocated(sql, clauses)
            aggregate = "AGGREGATE" in query_type
            strategy = "partial_aggregate" if aggregate else "pushdown"
            frag_sql, merge = (_partial_aggregate if aggregate else _pushdown)(clauses)
        frags = tuple(FragmentSpec(s, frag_sql) for s in targets)
        optimized, partial_rows = 0.0, 0.0
        limit = _limit(clauses.get("limit"))[0]
        for f in frags:
            cost, out = catalog.estimate(f.sql, catalog.shard_rows[f.shard])
            if strategy == "partial_aggregate":
                out = min(out, _groups_estimate(sql, clauses, catalog, catalog.shard_rows[f.shard]))
            out = min(out, float(limit + _limit(clauses.get("limit"))[1])) if limit is not None else out
            optimized += cost + TRANSFER_WEIGHT * out
            partial_rows += out
        if merge is not None:
            optimized += partial_rows * (1.0 + math.log2(partial_rows + 1))
        if optimized < original:
            return QueryPlan(sql, query_type, strategy, frags, merge, original, optimized)
    except _Unsupported:
        pass
    return QueryPlan(sql, query_type, "ship_tables", naive, sql.strip().rstrip(";"), original, original)
