"""Statement statistics: the per-query cost of the table update, and get_top_queries(10) against a full sort.

Run: python bench/bench_statements.py. Alternating rounds, best of each, in the same run:
- update: StatementTable.add of a known statement (a dict lookup and a Welford update) against the floor
  of a bare dict lookup plus the same arithmetic on locals, target at most 5x;
- top 10: the selection get_top_queries makes on the 500-row table (heapq.nlargest over its LEADERS leaders)
  against copying and sorting the whole table (the first approach), target at least 1.5x faster.
"""
from __future__ import annotations

import math
import timeit

import report

from bytedb_exporter.query.statements import StatementTable, top_statements

ROUNDS = 7
ROWS = 500


def table() -> StatementTable:
    t = StatementTable(ROWS, now=0.0)
    for i in range(ROWS):
        for k in range(3):
            t.add(f"SELECT c{i} FROM t WHERE x = ?", 0.001 * (i + k), False, 10, 100, False, 1.0)
    return t


def main() -> None:
    t = table()
    key = "SELECT c7 FROM t WHERE x = ?"
    plain: dict[str, list[float]] = {key: [0, 0.0, 0.0]}

    def update() -> None:
        t.add(key, 0.01, False, 10, 100, False, 2.0)

    def floor() -> None:
        row = plain[key]
        row[0] += 1
        delta = 0.01 - row[1]
        row[1] += delta / row[0]
        row[2] += delta * (0.01 - row[1])

    rows = t.rows()

    def top() -> None:
        top_statements(t.candidates(10), 10)

    def full_sort() -> None:
        copies = [type(r)(**{f: getattr(r, f) for f in r.__slots__}) for r in rows]
        copies.sort(key=lambda r: r.total_seconds, reverse=True)

    best = {name: math.inf for name in ("update", "floor", "top", "sort")}
    for _ in range(ROUNDS):  # alternating rounds: both sides see the same machine load
        for name, func, number in (("update", update, 20000), ("floor", floor, 20000), ("top", top, 300),
                                   ("sort", full_sort, 300)):
            best[name] = min(best[name], min(timeit.repeat(func, number=number, repeat=1)) / number)
    report.check("statement update / dict+Welford floor", best["update"] / best["floor"], 5.0,
                 detail=f"{best['update'] * 1e9:.0f} ns vs {best['floor'] * 1e9:.0f} ns per query")
    report.check("full copy+sort / top-10 (500 rows)", best["sort"] / best["top"], 1.5, at_least=True,
                 detail=f"{best['top'] * 1e6:.0f} us vs {best['sort'] * 1e6:.0f} us")


if __name__ == "__main__":
    main()
