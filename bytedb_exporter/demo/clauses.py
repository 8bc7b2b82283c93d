"""Clause splitting of one SELECT: literal masking, normalizing, top-level splits and clause parts."""
from __future__ import annotations

import re


class PlanError(ValueError):
    """The query cannot be planned (not a read-only SELECT, syntax error, unknown column...)."""


class Unsupported(Exception):
    """The query shape cannot be decomposed; fall back to shipping the tables."""


_CLAUSE = re.compile(r"\b(select|from|where|group\s+by|having|order\s+by|limit)\b", re.I)
_LITERAL = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
AGG_CALL = re.compile(r"\b(count|sum|avg|min|max)\s*\(", re.I)
_PUNCT_SPACE = re.compile(r"\s*([(),*=<>+/-])\s*")


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
    def plain(part: str) -> str:
        """Text outside literals: lower case, blanks collapsed, none around punctuation."""
        return _PUNCT_SPACE.sub(r"\1", " ".join(part.lower().split()))

    parts, last = [], 0
    for m in _LITERAL.finditer(text):
        parts += [plain(text[last:m.start()]), m.group(0)]
        last = m.end()
    parts.append(plain(text[last:]))
    return "".join(parts).strip()


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` (a comma or a keyword) outside parentheses and literals."""
    masked = mask(text)
    pattern = re.escape(sep) if sep == "," else r"\s+" + sep + r"\s+"
    pieces, last = [], 0
    for m in re.finditer(pattern, masked, re.I):
        pieces.append(text[last:m.start()].strip())
        last = m.end()
    pieces.append(text[last:].strip())
    return [p for p in pieces if p]


def parse(sql: str) -> dict[str, str]:
    """Clauses of a single SELECT statement, keyed 'select', 'from', 'where', 'group by'..."""
    text = sql.strip().rstrip(";").strip()
    masked = mask(text)
    if ";" in masked:
        raise PlanError("only one statement per query is supported")
    found = [(m.start(), m.end(), " ".join(m.group(1).lower().split())) for m in _CLAUSE.finditer(masked)]
    if not found or found[0][0] != 0 or found[0][2] != "select":
        raise Unsupported("not a plain SELECT")
    order = ["select", "from", "where", "group by", "having", "order by", "limit"]
    names = [f[2] for f in found]
    if len(set(names)) != len(names) or names != sorted(names, key=order.index) or "from" not in names:
        raise Unsupported("clauses out of order, repeated or subqueries at top level")
    clauses = {}
    for i, (_start, end, name) in enumerate(found):
        stop = found[i + 1][0] if i + 1 < len(found) else len(text)
        clauses[name] = text[end:stop].strip()
    if re.search(r"\b(union|intersect|except|window|over)\b", masked, re.I) or "select" in norm(text)[6:]:
        raise Unsupported("set operations, window functions and subqueries are not decomposed")
    return clauses


def aggregates_in(text: str) -> list[str]:
    """Every aggregate call (COUNT/SUM/AVG/MIN/MAX with balanced parentheses) in `text`."""
    found = []
    for m in AGG_CALL.finditer(text):
        depth, i = 0, m.end() - 1
        for i in range(m.end() - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                break
        found.append(text[m.start():i + 1])
    return found


def select_item(text: str) -> tuple[str, str]:
    """Expression and output column name of one select-list item."""
    m = re.match(r"^(.*?)(?:\s+as\s+(\w+|\"[^\"]+\"))?$", text, re.I | re.S)
    if m is None:
        raise ValueError(f"not a select-list item: {text!r}")
    expr, alias = m.group(1).strip(), m.group(2)
    if alias:
        return expr, alias.strip('"')
    plain = re.match(r"^(?:\w+\.)?(\w+)$", expr)
    return expr, plain.group(1) if plain else expr


def order_terms(text: str) -> list[tuple[str, str]]:
    """(expression, direction) of every ORDER BY term."""
    terms = []
    for term in split_top(text):
        m = re.match(r"^(.*?)(\s+(?:asc|desc))?(\s+nulls\s+(?:first|last))?$", term, re.I | re.S)
        if m is None:
            raise ValueError(f"not an ORDER BY term: {term!r}")
        terms.append((m.group(1).strip(), ((m.group(2) or "") + (m.group(3) or "")).upper()))
    return terms


def limit_of(text: str | None) -> tuple[int | None, int]:
    """(limit, offset) of a LIMIT clause."""
    if not text:
        return None, 0
    m = re.match(r"^(\d+)(?:\s+offset\s+(\d+)|\s*,\s*(\d+))?$", text.strip(), re.I)
    if not m:
        raise Unsupported("LIMIT must be a number")
    if m.group(3):
        return int(m.group(3)), int(m.group(1))
    return int(m.group(1)), int(m.group(2) or 0)
