"""The dashboard lists the query insights of GET /api/insights; a skewed query links to its own page."""
from __future__ import annotations

from browser import dashboard_page

from bytedb_exporter.web.dashboard import Dashboard


def test_insights_render_with_a_link_to_the_skewed_query(artifacts_dir):
    dashboard = Dashboard(stream_interval=0.5)
    queries = dashboard.query_monitor
    for n in range(3):  # a slow statement: 0.9 s on average, over slow_statement_seconds (0.3 s)
        queries.start_query_monitoring(f"slow-{n}", f"SELECT * FROM orders WHERE id = {n}").finish(total_seconds=0.9)
    skewed = queries.start_query_monitoring("skewed-1", "SELECT count(*) FROM lineitem")
    for worker, seconds in (("worker-1", 0.1), ("worker-2", 0.1), ("worker-3", 0.9)):  # 9x the median
        skewed.record_fragment(worker, seconds)
    skewed.finish(total_seconds=1.0)
    listed = dashboard.app.test_client().get("/api/insights").get_json()
    expected = {item["type"] for item in listed}
    assert expected == {"slow_statement", "skewed_fragments"}  # the skewed query is slow too: 3 in all
    with dashboard_page(dashboard) as (page, url, errors, dialogs):
        page.goto(url + "/")
        page.wait_for_selector("#insights li.insight", timeout=20_000)
        shown = {item.get_attribute("data-type") for item in page.locator("#insights li.insight").all()}
        assert shown == expected
        assert page.locator("#insights-count").inner_text() == str(len(listed)) == "3"
        link = page.locator("#insights a.query-link")
        assert link.get_attribute("href") == "queries/skewed-1"
        page.screenshot(path=str(artifacts_dir / "dashboard-insights.png"))
    assert errors == [] and dialogs == []
