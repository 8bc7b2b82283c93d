"""Deterministic demo data set (employees, departments, sales) written into SQLite shards."""
from __future__ import annotations

import json
import logging
import random
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

logger = logging.getLogger(__name__)

Row = tuple[int | float | str, ...]
SCHEMA = {
    "departments": "CREATE TABLE departments (id INTEGER PRIMARY KEY, name TEXT NOT NULL, budget INTEGER NOT NULL)",
    "employees": "CREATE TABLE employees (id INTEGER PRIMARY KEY, name TEXT NOT NULL, department_id INTEGER NOT NULL,"
                 " salary INTEGER NOT NULL, hire_date TEXT NOT NULL, city TEXT NOT NULL)",
    "sales": "CREATE TABLE sales (id INTEGER PRIMARY KEY, employee_id INTEGER NOT NULL, amount REAL NOT NULL,"
             " sold_at TEXT NOT NULL, region TEXT NOT NULL, product TEXT NOT NULL)",
}
TABLES = tuple(SCHEMA)
SHARDED_TABLES = {"employees": "id", "sales": "employee_id"}
REPLICATED_TABLES = ("departments",)
INDEXED_COLUMNS = (  # (index, table, column)
    ("idx_employees_department", "employees", "department_id"),
    ("idx_employees_salary", "employees", "salary"),
    ("idx_employees_city", "employees", "city"),
    ("idx_sales_employee", "sales", "employee_id"),
    ("idx_sales_region", "sales", "region"),
    ("idx_sales_sold_at", "sales", "sold_at"),
)
MANIFEST = "manifest.json"

DEPARTMENT_NAMES = (
    "Engineering", "Sales", "Marketing", "Finance", "Support", "Research", "Legal", "Operations",
    "Design", "Security", "Data", "People",
)
CITIES = ("Berlin", "Paris", "London", "Madrid", "Rome", "Vienna", "Warsaw", "Lisbon", "Prague", "Oslo")
REGIONS = ("north", "south", "east", "west", "central")
PRODUCTS = ("widget", "gadget", "gizmo", "doohickey", "sprocket", "flange", "valve", "rotor")
FIRST = ("Ada", "Alan", "Grace", "Linus", "Barbara", "Ken", "Dennis", "Frances", "Edsger", "Margaret",
         "Donald", "Radia", "John", "Sophie", "Niklaus", "Karen")
LAST = ("Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Thompson", "Ritchie", "Allen", "Dijkstra",
        "Hamilton", "Knuth", "Perlman", "Backus", "Wilson", "Wirth", "Jones")
HIRE_START = date(2010, 1, 1)
SALES_START = date(2022, 1, 1)


@dataclass(frozen=True)
class DatasetSpec:
    """Sizes and seed of the generated data set."""

    employees: int = 20_000
    departments: int = 12
    sales: int = 300_000
    seed: int = 42


def schema_ddl(tables: Iterable[str] = TABLES) -> tuple[list[str], list[str]]:
    """CREATE TABLE and CREATE INDEX statements of the given tables."""
    wanted = set(tables)
    return ([SCHEMA[t] for t in TABLES if t in wanted],
            [f"CREATE INDEX {index} ON {t}({column})" for index, t, column in INDEXED_COLUMNS if t in wanted])


def generate_rows(spec: DatasetSpec) -> dict[str, list[Row]]:
    """All rows of every table, deterministic for a given spec."""
    rng = random.Random(spec.seed)
    departments: list[Row] = [
        (i, DEPARTMENT_NAMES[(i - 1) % len(DEPARTMENT_NAMES)] + ("" if i <= len(DEPARTMENT_NAMES) else f" {i}"),
         rng.randrange(200_000, 5_000_000, 1_000))
        for i in range(1, spec.departments + 1)
    ]
    employees: list[Row] = []
    for i in range(1, spec.employees + 1):
        dept = rng.randint(1, spec.departments)
        salary = 30_000 + 2_500 * dept + rng.randrange(0, 120_000, 100)
        hired = (HIRE_START + timedelta(days=rng.randrange(0, 5_000))).isoformat()
        employees.append((i, f"{rng.choice(FIRST)} {rng.choice(LAST)}", dept, salary, hired, rng.choice(CITIES)))
    sales: list[Row] = []
    randint, choice, random_ = rng.randint, rng.choice, rng.random
    for i in range(1, spec.sales + 1):
        sold = SALES_START + timedelta(days=randint(0, 1_000))
        amount = round(10 + random_() * 4_990, 2)
        sales.append((i, randint(1, spec.employees), amount, sold.isoformat(), choice(REGIONS), choice(PRODUCTS)))
    return {"departments": departments, "employees": employees, "sales": sales}


def shard_of(employee_id: int, shards: int) -> int:
    """Shard index that owns an employee id (and that employee's sales)."""
    return employee_id % shards


def split_rows(rows: dict[str, list[Row]], shards: int) -> list[dict[str, list[Row]]]:
    """Partition sharded tables by employee id; replicate the small tables."""
    parts: list[dict[str, list[Row]]] = [{name: [] for name in TABLES} for _ in range(shards)]
    for part in parts:
        for name in REPLICATED_TABLES:
            part[name] = list(rows[name])
    for row in rows["employees"]:
        parts[shard_of(int(row[0]), shards)]["employees"].append(row)
    for row in rows["sales"]:
        parts[shard_of(int(row[1]), shards)]["sales"].append(row)
    return parts


def write_database(path: Path, rows: dict[str, list[Row]]) -> None:
    """Create one SQLite file with the schema, the given rows and the indexes."""
    path = Path(path)
    if path.exists():
        path.unlink()
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        tables, indexes = schema_ddl()
        for ddl in tables:
            conn.execute(ddl)
        for name in TABLES:
            if rows.get(name):
                marks = ",".join("?" * len(rows[name][0]))
                conn.executemany(f"INSERT INTO {name} VALUES ({marks})", rows[name])
        for ddl in indexes:
            conn.execute(ddl)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()


def shard_path(data_dir: Path, index: int) -> Path:
    """File name of shard `index` inside `data_dir`."""
    return Path(data_dir) / f"shard_{index}.sqlite"


def build_shards(data_dir: Path, shards: int = 3, spec: DatasetSpec = DatasetSpec(), force: bool = False) -> list[Path]:
    """Write the data set as `shards` SQLite files (reused when the manifest matches)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = [shard_path(data_dir, i) for i in range(shards)]
    wanted = {"spec": asdict(spec), "shards": shards}
    manifest = data_dir / MANIFEST
    if not force and manifest.exists() and all(p.exists() for p in paths):
        try:
            if {k: v for k, v in json.loads(manifest.read_text()).items() if k in wanted} == wanted:
                return paths
        except ValueError:
            pass
    started = time.perf_counter()
    parts = split_rows(generate_rows(spec), shards)
    counts = []
    for path, part in zip(paths, parts, strict=False):
        write_database(path, part)
        counts.append({name: len(part[name]) for name in TABLES})
    manifest.write_text(json.dumps({**wanted, "rows": counts}, indent=1))
    logger.info("built %d shards in %s in %.2fs", shards, data_dir, time.perf_counter() - started)
    return paths


def build_single(path: Path, spec: DatasetSpec = DatasetSpec()) -> Path:
    """Write the whole, unsharded data set into one SQLite file (the reference for tests)."""
    write_database(Path(path), generate_rows(spec))
    return Path(path)
