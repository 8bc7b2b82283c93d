"""SQL and error text reach the page as text: a hostile query cannot inject markup."""
from __future__ import annotations

from browser import dashboard_page

from bytedb_exporter.web.dashboard import Dashboard

HOSTILE_SQL = "<img src=x onerror=alert(1)>"
HOSTILE_ERROR = "<script>alert(2)</script> near <b>"


def test_hostile_sql_and_errors_render_as_text(artifacts_dir):
    dashboard = Dashboard(stream_interval=0.5)
    queries = dashboard.query_monitor
    with queries.monitor_query("ok-1", HOSTILE_SQL):
        pass
    failed = queries.start_query_monitoring("bad-1", HOSTILE_SQL)
    failed.set_error(HOSTILE_ERROR)
    failed.finish()
    with dashboard_page(dashboard) as (page, url, errors, dialogs):
        page.goto(url + "/")
        page.wait_for_selector("#failed-queries tbody tr", timeout=20_000)
        sql_cells = page.locator("#recent-queries td.sql").all_inner_texts()
        assert any(HOSTILE_SQL in text for text in sql_cells)
        assert HOSTILE_ERROR in page.locator("#failed-queries td.err").first.inner_text()
        assert page.locator("main img, table img").count() == 0
        assert page.locator("table script, table b").count() == 0
        page.screenshot(path=str(artifacts_dir / "dashboard-escaping.png"))
    assert dialogs == [] and errors == []
