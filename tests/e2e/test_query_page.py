"""The /queries/<id> page in real Chromium: reached from the dashboard's query row, it draws a lane per phase
and per fragment, shows the plan and skew, escapes every text, and logs no console errors."""
from __future__ import annotations

from browser import dashboard_page

from bytedb_exporter.web.dashboard import Dashboard

HOSTILE_SQL = "SELECT '<img src=x onerror=alert(1)>' FROM t"
HOSTILE_PLAN = "Scan <script>alert(2)</script>"


def test_query_page_from_the_dashboard_row(artifacts_dir):
    dashboard = Dashboard(stream_interval=0.5)
    execution = dashboard.query_monitor.start_query_monitoring("q/1 <b>", HOSTILE_SQL)
    execution.set_plan(HOSTILE_PLAN)
    with execution.phase("planning"):
        pass
    for worker, seconds in (("worker-1", 0.01), ("worker-2", 0.012), ("worker-3", 0.05)):
        execution.record_fragment(worker, seconds, rows=7, bytes=700, queued_seconds=0.001)
    execution.finish()
    with dashboard_page(dashboard) as (page, url, errors, dialogs):
        page.goto(url + "/")
        link = page.locator("#recent-queries a.query-link").first
        link.wait_for(timeout=20_000)
        link.click()
        page.wait_for_selector("body[data-loaded=true]", timeout=10_000)
        assert page.locator("#query-id").inner_text() == "q/1 <b>"
        assert page.locator("#query-sql").inner_text() == HOSTILE_SQL
        assert page.locator("#query-plan").inner_text() == HOSTILE_PLAN
        workers = page.locator("#fragments tbody tr").evaluate_all(
            "rows => rows.map(r => r.getAttribute('data-worker-id'))")
        assert workers == ["worker-1", "worker-2", "worker-3"]
        assert page.locator("#fragment-timeline .lane").count() == 3
        assert page.locator("#phase-timeline .lane-bar[data-phase=planning]").count() == 1
        assert page.locator("#query-skew").get_attribute("data-skewed") == "true"
        assert page.locator("main img, main script, main b").count() == 0
        page.screenshot(path=str(artifacts_dir / "query-page.png"), full_page=True)
        page.goto(url + "/queries/never-ran")
        page.wait_for_selector("body[data-loaded=missing]", timeout=10_000)
        assert "never-ran" in page.locator("#query-status").inner_text()
    assert dialogs == []
    assert [e for e in errors if "404" not in e] == []  # the unknown id's fetch is a 404 by design
