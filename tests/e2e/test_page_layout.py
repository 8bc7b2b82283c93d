"""The page reads truthfully and readably in headless Chromium: small rates keep 3 significant digits
with units, every query's phase bar is readable, and at 390 px wide nothing spills out of the
viewport unless it is inside a horizontal scroll container, where every column can be reached."""
from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from browser import chromium_page
from support import free_port

from bytedb_exporter.cluster.worker import WorkerMonitor
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.web.dashboard import Dashboard

pytestmark = pytest.mark.e2e

# The worker's byte and fragment rates are sums over its 60 s window divided by 60 s (the clock is
# frozen 100 s after its start), so the expected figures are exact:
BYTES = 300_000      # 300,000 B / 60 s = 5000 B/s = 4.8828 KiB/s, sent as 0.00477 MiB/s
FRAGMENTS = 10       # 10 / 60 s = 0.1667 fragments/s
LONG_SQL = ("SELECT e.name, e.city, d.name AS department, SUM(s.amount) AS total_sales, COUNT(*) AS sales "
            "FROM employees e JOIN sales s ON s.employee_id = e.id JOIN departments d ON d.id = e.department_id "
            "WHERE s.region = 'north' AND e.salary > 70000 GROUP BY e.name, e.city, d.name ORDER BY total_sales DESC")
LONG_ERROR = ("OperationalError: no such column: bonus_percentage_of_the_quarterly_sales_commission_table "
              "while planning the fragment for shard 2 of 3")

VISIBLE_OUTSIDE = """() => {
  const vw = document.documentElement.clientWidth;
  const inScroller = el => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === "auto" || o === "scroll") { return true; }
    }
    return false;
  };
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || getComputedStyle(el).visibility === "hidden") { continue; }
    if ((r.right > vw + 0.5 || r.left < -0.5) && !inScroller(el)) {
      out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  return { vw, pageWidth: document.documentElement.scrollWidth, outside: out.slice(0, 15) };
}"""

COLUMNS_REACHABLE = """(id) => {
  const table = document.getElementById(id);
  const vw = document.documentElement.clientWidth;
  const heads = [...table.tHead.rows[0].cells].map(th => th.textContent);
  const named = (cell, i) => {  // the reader sees the column's name: its header, or the cell's own label
    const th = table.tHead.rows[0].cells[i].getBoundingClientRect();
    return th.width > 1 && th.height > 1 || getComputedStyle(cell, "::before").content === JSON.stringify(heads[i]);
  };
  const unreachable = [];
  for (const row of table.tBodies[0].rows) {
    [...row.cells].forEach((cell, i) => {
      cell.scrollIntoView({ block: "nearest", inline: "nearest" });
      const r = cell.getBoundingClientRect();
      if (!r.width || r.left < -0.5 || r.right > vw + 0.5 || !named(cell, i)) { unreachable.push(heads[i]); }
    });
  }
  window.scrollTo(0, 0);
  const wrap = table.closest(".table-wrap").getBoundingClientRect();
  return { vw, wrapRight: wrap.right, columns: heads.length, rows: table.tBodies[0].rows.length,
           unreachable: [...new Set(unreachable)] };
}"""


class FrozenClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def dashboard_url() -> Iterator[str]:
    """A dashboard over real monitors: fast and slow queries with long SQL, failures, one worker with known rates."""
    dashboard = Dashboard(stream_interval=0.5)
    queries = dashboard.query_monitor
    clock = FrozenClock()
    worker = WorkerMonitor("worker-1", MetricsRegistry(), pid=os.getpid(), clock=clock, window_seconds=60.0)
    clock.now = 50.0
    for index in range(FRAGMENTS):
        worker.record_query_start(f"f{index}")
        worker.record_query_end(f"f{index}", True, 100, BYTES // FRAGMENTS)
    clock.now = 100.0
    worker.heartbeat()
    dashboard.add_worker_monitor("worker-1", worker)
    for index in range(3):
        failed = queries.start_query_monitoring(f"q-bad-{index}", LONG_SQL.replace("e.city", "e.bonus"))
        failed.set_error(LONG_ERROR)
        failed.finish()
    for index in range(11):  # the page shows the 12 most recent: q-slow in the middle of fast ones
        if index == 5:
            slow = queries.start_query_monitoring("q-slow", LONG_SQL)
            with slow.phase("planning"):
                time.sleep(0.002)
            with slow.phase("execution"):
                time.sleep(0.15)
            slow.finish()
        execution = queries.start_query_monitoring(f"q-fast-{index}", f"{LONG_SQL} LIMIT {index + 1}")
        with execution.phase("planning"):
            time.sleep(0.0005)
        with execution.phase("execution"):
            time.sleep(0.002)
        with execution.phase("aggregation"):
            time.sleep(0.0005)
        execution.set_worker_info(3, 3)
        execution.set_data_info(1200, 48_000)
        execution.finish()
    url = dashboard.start(free_port())
    try:
        yield url
    finally:
        dashboard.stop()


def loaded(page: object, url: str) -> None:
    """Open the page and wait until the stream filled the tables and the worker card."""
    page.goto(url + "/")
    page.wait_for_function("Number(document.body.dataset.updates || 0) >= 1", timeout=30_000)
    page.wait_for_selector("#recent-queries tbody tr", timeout=30_000)
    page.wait_for_selector("#failed-queries tbody tr", timeout=30_000)
    page.wait_for_selector("[data-worker-id='worker-1']", timeout=30_000)


def test_small_rates_keep_three_significant_digits_and_units(dashboard_url: str, artifacts_dir) -> None:
    with chromium_page() as (page, errors):
        loaded(page, dashboard_url)
        assert page.locator("#total-throughput").inner_text() == "4.88 KiB/s"  # was "0.0 MB/s"
        assert page.locator("[data-worker-id='worker-1'] [data-metric='qps']").inner_text() == "0.167"
        page.screenshot(path=str(artifacts_dir / "dashboard-small-rates.png"), full_page=True)
        assert errors == []


def test_every_phase_bar_fills_its_track_with_the_duration_beside_it(dashboard_url: str) -> None:
    with chromium_page() as (page, errors):
        loaded(page, dashboard_url)
        page.wait_for_selector("#phase-breakdown .phase-row", timeout=30_000)
        rows = page.eval_on_selector_all("#phase-breakdown .phase-row", """rows => rows.map(row => {
          const track = row.querySelector('.phase-track').getBoundingClientRect().width;
          const segs = [...row.querySelectorAll('.phase-seg')].map(s => s.getBoundingClientRect().width);
          return { id: row.dataset.queryId, track, bar: row.querySelector('.phase-bar').getBoundingClientRect().width,
                   widest: Math.max(0, ...segs), total: row.querySelector('.phase-total').textContent };
        })""")
        assert len(rows) == 12 and "q-slow" in [row["id"] for row in rows]
        for row in rows:
            # The query's own phases share the whole track, however fast it was next to q-slow.
            assert row["bar"] >= 0.98 * row["track"] > 0, row
            assert row["widest"] >= 0.3 * row["track"], row
            value, unit = row["total"].split()
            assert float(value) > 0 and unit in ("\u00b5s", "ms", "s"), row
        assert errors == []


def test_at_390_px_nothing_spills_and_every_column_is_reachable(dashboard_url: str, artifacts_dir) -> None:
    with chromium_page() as (page, errors):
        page.set_viewport_size({"width": 390, "height": 844})
        loaded(page, dashboard_url)
        layout = page.evaluate(VISIBLE_OUTSIDE)
        page.screenshot(path=str(artifacts_dir / "dashboard-390px.png"), full_page=True)
        assert layout["outside"] == [] and layout["pageWidth"] <= layout["vw"], layout
        for table in ("recent-queries", "slowest-queries", "failed-queries"):
            reach = page.evaluate(COLUMNS_REACHABLE, table)
            assert reach["rows"] > 0 and reach["wrapRight"] <= reach["vw"] + 0.5, (table, reach)
            assert reach["unreachable"] == [], (table, reach)
        layout = page.evaluate(VISIBLE_OUTSIDE)  # scrolling to every cell moved nothing out of the page
        assert layout["outside"] == [] and layout["pageWidth"] <= layout["vw"], layout
        assert errors == []
