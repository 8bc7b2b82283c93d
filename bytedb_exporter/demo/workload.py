"""Deterministic demo query mix, run against a DemoCluster at a target rate."""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bytedb_exporter.demo.dataset import CITIES, DEPARTMENT_NAMES, PRODUCTS, REGIONS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkloadQuery:
    """One query of the mix: its shape name, SQL text and whether it is meant to fail."""

    shape: str
    sql: str
    expect_error: bool = False


def _date(rng: random.Random, year: int) -> str:
    """A first-of-month date in `year`."""
    return f"{year}-{rng.choice(range(1, 13)):02d}-01"


SHAPES: dict[str, Callable[[random.Random], str]] = {
    "filter_projection": lambda r: (
        f"SELECT id, name, salary, city FROM employees WHERE salary > {r.choice(range(60_000, 150_001, 10_000))}"
        f" AND city = '{r.choice(CITIES)}' ORDER BY salary DESC, id LIMIT {r.choice((5, 10, 20))}"),
    "top_earners_in_department": lambda r: (
        f"SELECT e.id, e.name, e.salary FROM employees e WHERE e.department_id = {r.randint(1, 12)}"
        f" ORDER BY e.salary DESC, e.id LIMIT {r.choice((5, 10))}"),
    "headcount_by_city": lambda r: (
        "SELECT city, COUNT(*) AS employees, AVG(salary) AS avg_salary, MIN(hire_date) AS first_hire"
        f" FROM employees WHERE hire_date >= '{_date(r, r.choice((2012, 2015, 2018)))}' GROUP BY city ORDER BY city"),
    "sales_by_region": lambda r: (
        "SELECT region, COUNT(*) AS orders, SUM(amount) AS revenue, MIN(amount) AS smallest, MAX(amount) AS largest"
        f" FROM sales WHERE sold_at >= '{_date(r, r.choice((2022, 2023)))}' GROUP BY region ORDER BY region"),
    "department_salaries": lambda r: (
        "SELECT d.name AS department, COUNT(*) AS headcount, AVG(e.salary) AS avg_salary, MAX(e.salary) AS top_salary"
        " FROM employees e JOIN departments d ON d.id = e.department_id GROUP BY d.name"
        f" HAVING AVG(e.salary) > {r.choice(range(80_000, 120_001, 5_000))} ORDER BY avg_salary DESC"),
    "department_roster": lambda r: (
        "SELECT e.name, d.name AS department, e.salary FROM employees e JOIN departments d ON d.id = e.department_id"
        f" WHERE d.name = '{r.choice(DEPARTMENT_NAMES)}' AND e.salary > {r.choice(range(50_000, 140_001, 15_000))}"
        f" ORDER BY e.salary DESC, e.id LIMIT {r.choice((10, 25))}"),
    "city_revenue_for_product": lambda r: (
        "SELECT e.city, SUM(s.amount) AS revenue, COUNT(*) AS orders FROM sales s JOIN employees e"
        f" ON e.id = s.employee_id WHERE s.product = '{r.choice(PRODUCTS)}' GROUP BY e.city"
        f" ORDER BY revenue DESC LIMIT {r.choice((3, 5))}"),
    "employee_sales_lookup": lambda r: (
        f"SELECT s.id, s.amount, s.sold_at, s.product FROM sales s WHERE s.employee_id = {r.randint(1, 200)}"
        " ORDER BY s.sold_at DESC, s.id LIMIT 20"),
    "regional_totals": lambda r: (
        "SELECT COUNT(*) AS orders, SUM(amount) AS revenue, AVG(amount) AS avg_amount FROM sales"
        f" WHERE region = '{r.choice(REGIONS)}' AND amount > {r.choice((100, 1_000, 2_500, 4_000))}"),
    "department_budgets": lambda r: (
        f"SELECT id, name, budget FROM departments WHERE budget > {r.choice(range(500_000, 4_000_001, 500_000))}"
        " ORDER BY budget DESC, id"),
    "department_region_revenue": lambda r: (
        "SELECT d.name AS department, s.region, SUM(s.amount) AS revenue FROM sales s"
        " JOIN employees e ON e.id = s.employee_id JOIN departments d ON d.id = e.department_id"
        f" WHERE s.sold_at >= '{_date(r, r.choice((2022, 2023)))}' GROUP BY d.name, s.region"
        f" ORDER BY revenue DESC LIMIT {r.choice((5, 10))}"),
}

INVALID: dict[str, Callable[[random.Random], str]] = {
    "unknown_column": lambda r: f"SELECT name, bonus FROM employees WHERE salary > {r.choice((1_000, 2_000))}",
    "syntax_error": lambda r: f"SELEC name FROM employees WHERE salary > {r.choice((1_000, 2_000))}",
    "unknown_table": lambda r: "SELECT COUNT(*) FROM customers",
}


def generate_queries(seed: int = 7, error_rate: float = 0.03) -> Iterator[WorkloadQuery]:
    """Endless deterministic stream of queries; about `error_rate` of them are invalid."""
    rng = random.Random(seed)
    names, invalid = sorted(SHAPES), sorted(INVALID)
    while True:
        if rng.random() < error_rate:
            name = rng.choice(invalid)
            yield WorkloadQuery(name, INVALID[name](rng), True)
        else:
            name = rng.choice(names)
            yield WorkloadQuery(name, SHAPES[name](rng))


@dataclass
class WorkloadSummary:
    """Counts of one workload run."""

    queries: int = 0
    failed: int = 0
    cache_hits: int = 0
    seconds: float = 0.0


def run(cluster: Any, qps: float, duration: float | None = None, stop_event: threading.Event | None = None,
        on_result: Callable[[WorkloadQuery, Any], None] | None = None, seed: int = 7,
        error_rate: float = 0.03, max_queries: int | None = None) -> WorkloadSummary:
    """Run the mix on `cluster` at `qps` until `duration` seconds, `max_queries` or `stop_event`."""
    stop_event = stop_event or threading.Event()
    interval = 1.0 / qps if qps > 0 else 0.0
    summary, started = WorkloadSummary(), time.monotonic()
    next_at = started
    for query in generate_queries(seed, error_rate):
        if stop_event.is_set() or (max_queries is not None and summary.queries >= max_queries):
            break
        if duration is not None and time.monotonic() - started >= duration:
            break
        delay = next_at - time.monotonic()
        if delay > 0 and stop_event.wait(delay):
            break
        next_at = max(next_at + interval, time.monotonic() - interval)
        try:
            result = cluster.execute(query.sql)
        except RuntimeError as exc:  # cluster closed under us
            logger.info("workload stopped: %s", exc)
            break
        summary.queries += 1
        summary.failed += 0 if result.ok else 1
        summary.cache_hits += 1 if result.stats.cache_hit else 0
        if on_result is not None:
            try:
                on_result(query, result)
            except Exception:  # a callback bug must not stop the workload
                logger.exception("workload callback failed")
    summary.seconds = time.monotonic() - started
    return summary
