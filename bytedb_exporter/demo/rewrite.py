"""Fragment and merge SQL of decomposed queries: pushdown and partial aggregates."""
from __future__ import annotations

import re

from bytedb_exporter.demo.clauses import Unsupported, aggregates_in, limit_of, norm, order_terms, select_item, split_top


def _quote(name: str) -> str:
    """SQL identifier quoting."""
    return '"' + name.replace('"', '""') + '"'


def _rewrite(text: str, mapping: dict[str, str]) -> str:
    """Replace normalized expressions/aliases in normalized `text` by merge columns (longest first)."""
    out, holes = norm(text), []
    for key in sorted(mapping, key=len, reverse=True):
        pattern = r"(?<![\w.])" + re.escape(key) + (r"(?!\w)" if key[-1:].isalnum() or key[-1:] == "_" else "")
        if re.search(pattern, out):
            holes.append(mapping[key])
            out = re.sub(pattern, f"\x00{len(holes) - 1}\x00", out)
    return re.sub(r"\x00(\d+)\x00", lambda m: holes[int(m.group(1))], out)


def pushdown(c: dict[str, str]) -> tuple[str, str]:
    """Fragment and merge SQL of a non-aggregate query (filters, projection, ORDER BY and LIMIT pushed down)."""
    distinct = bool(re.match(r"^distinct\s", c["select"], re.I))
    items = [select_item(t) for t in split_top(re.sub(r"^distinct\s+", "", c["select"], flags=re.I))]
    if any(e == "*" or e.endswith(".*") for e, _ in items):
        raise Unsupported("SELECT * is not decomposed")
    cols = [(e, f"_c{i}") for i, (e, _) in enumerate(items)]
    lookup = {norm(e): col for e, col in cols}
    lookup.update({n.lower(): col for (_, n), (_, col) in zip(items, cols, strict=False)})
    order = []
    for expr, direction in order_terms(c.get("order by", "")):
        key = norm(expr)
        if key.isdigit() and 0 < int(key) <= len(items):
            col = cols[int(key) - 1][1]
        elif key in lookup:
            col = lookup[key]
        else:
            if distinct:
                raise Unsupported("DISTINCT with ORDER BY on a hidden column")
            col = f"_c{len(cols)}"
            cols.append((expr, col))
            lookup[key] = col
        order.append(col + direction)
    limit, offset = limit_of(c.get("limit"))
    head = "SELECT DISTINCT " if distinct else "SELECT "
    fragment = head + ", ".join(f"{e} AS {col}" for e, col in cols) + f" FROM {c['from']}"
    fragment += f" WHERE {c['where']}" if c.get("where") else ""
    tail = f" ORDER BY {', '.join(order)}" if order else ""
    merge = (head + ", ".join(f"{col} AS {_quote(n)}" for (_, n), (_, col) in zip(items, cols, strict=False))
             + " FROM partial" + tail)
    if limit is not None:
        fragment += tail + f" LIMIT {limit + offset}"
        merge += f" LIMIT {limit} OFFSET {offset}"
    return fragment, merge


def partial_aggregate(c: dict[str, str]) -> tuple[str, str]:
    """Fragment and merge SQL of an aggregate query (partial aggregates on the workers, AVG as SUM/COUNT)."""
    if re.match(r"^distinct\s", c["select"], re.I):
        raise Unsupported("SELECT DISTINCT with aggregates")
    items = [select_item(t) for t in split_top(c["select"])]
    groups = split_top(c.get("group by", ""))
    mapping = {norm(g): f"_k{i}" for i, g in enumerate(groups)}
    aggs: dict[str, str] = {}
    for text in [e for e, _ in items] + aggregates_in(c.get("having", "")) + aggregates_in(c.get("order by", "")):
        for call in aggregates_in(text):
            aggs.setdefault(norm(call), call)
    partials, merged = [], []
    for i, (key, call) in enumerate(aggs.items()):
        m = re.match(r"^(\w+)\((.*)\)$", key, re.S)
        if m is None:
            raise ValueError(f"not an aggregate call: {call!r}")
        func, arg = m.group(1), call[call.index("(") + 1:-1].strip()
        if re.match(r"^distinct\b", arg, re.I):
            raise Unsupported("DISTINCT aggregates")
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
            raise Unsupported(f"select item {expr!r} is neither a group key nor an aggregate")
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
                 for e, d in order_terms(c["order by"])]
        merge += " ORDER BY " + ", ".join(terms)
    limit, offset = limit_of(c.get("limit"))
    merge += f" LIMIT {limit} OFFSET {offset}" if limit is not None else ""
    return fragment, merge
