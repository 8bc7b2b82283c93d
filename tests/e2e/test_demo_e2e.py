"""`bytedb-exporter demo` as a real process: every endpoint over HTTP, the stream, and the page in Chromium."""
from __future__ import annotations

import signal

import pytest
from browser import chromium_page
from processes import (
    PYTHON,
    descendants,
    free_port_block,
    get_json,
    http_get,
    leftovers,
    read_sse_events,
    start_process,
    stop_process,
    wait_for,
)
from support import free_port

PROMETHEUS_ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    port, worker_port = free_port(), free_port_block(3)
    process = start_process("demo", [
        PYTHON, "-m", "bytedb_exporter.cli", "demo", "--port", str(port), "--worker-base-port", str(worker_port),
        "--workers", "3", "--qps", "15", "--stream-interval", "1", "--data-dir", str(tmp / "data")], tmp / "demo.log")
    base = f"http://127.0.0.1:{port}"
    children = []

    def queries_ran() -> bool:
        process.assert_running()
        return get_json(f"{base}/api/overview")["total_queries"] > 10

    try:
        wait_for(queries_ran, 90, "demo queries", on_timeout=process.log_tail)
        children = descendants(process)
        yield {"base": base, "worker_port": worker_port}
    finally:
        # Ctrl-C to the demo alone: it must stop its own worker processes.
        code = stop_process(process, signal.SIGINT, timeout=30, group=False, kill_leftovers=False)
        left = leftovers(children)
        stop_process(process)
    assert code == 0, process.log_tail()
    assert left == []


def test_every_endpoint_answers_with_measured_data(demo):
    base = demo["base"]
    overview = get_json(f"{base}/api/overview")
    assert overview["total_workers"] == 3 and overview["total_queries"] > 10 and overview["query_qps"] > 0
    workers = get_json(f"{base}/api/workers")
    assert sorted(workers) == ["worker-1", "worker-2", "worker-3"]
    assert all(w["query_stats"]["total_queries"] > 0 for w in workers.values())
    assert all(w["resource_utilization"]["memory_usage_mb"] > 1 for w in workers.values())  # psutil on the child
    assert get_json(f"{base}/api/workers/worker-1")["worker_id"] == "worker-1"
    assert get_json(f"{base}/api/cluster")["total_workers"] == 3
    queries = get_json(f"{base}/api/queries?limit=50")
    assert queries["recent"] and queries["top"] and queries["stats"]["total_queries"] > 10
    assert all(q["error_message"] for q in queries["failed"])
    assert isinstance(get_json(f"{base}/api/alerts"), list)
    assert get_json(f"{base}/api/performance")["recommendations"]
    assert get_json(f"{base}/api/history")["points"]
    assert any(m["name"] == "bytedb_queries_total" for m in get_json(f"{base}/api/metrics"))
    response = http_get(f"{base}/api/metrics", {"Accept": PROMETHEUS_ACCEPT})
    assert response.status == 200 and response.content_type.startswith("application/openmetrics-text")
    assert "bytedb_queries_total" in response.text
    response = http_get(f"{base}/metrics")
    assert response.status == 200
    assert "bytedb_cluster_health" in response.text and "bytedb_worker_cpu_usage_percent" in response.text
    assert get_json(f"{base}/healthz")["status"] == "ok"
    for port in range(demo["worker_port"], demo["worker_port"] + 3):
        response = http_get(f"http://127.0.0.1:{port}/metrics")
        assert response.status == 200 and "bytedb_worker_queries_total" in response.text
    assert http_get(f"{base}/api/queries?limit=zero").status == 400
    response = http_get(f"{base}/api/workers/worker-9")
    assert response.status == 404 and response.json()["error"] == "unknown_worker"


def test_stream_sends_events(demo):
    events = read_sse_events(f"{demo['base']}/api/stream", 2)
    assert len(events) == 2
    assert events[1]["overview"]["total_queries"] >= events[0]["overview"]["total_queries"]
    assert set(events[0]["system_metrics"]) == {"cpu_usage", "memory_usage", "query_rate", "throughput"}


def test_page_draws_live_data_in_chromium(demo, artifacts_dir):
    with chromium_page() as (page, errors):
        page.goto(demo["base"] + "/")
        page.wait_for_function("Number(document.body.dataset.updates || 0) >= 2", timeout=30_000)
        page.wait_for_function(
            "Number(document.querySelector('#chart-qps').dataset.points) >= 2", timeout=30_000)
        for chart in ("#chart-qps", "#chart-latency", "#chart-cpu"):
            box = page.locator(f"{chart} canvas").first.bounding_box()
            assert box and box["width"] > 100 and box["height"] > 50, chart
        assert page.locator("#chart-cpu").get_attribute("data-series") == "3"
        assert page.locator("[data-worker-id]").count() == 3
        assert page.locator("#recent-queries tbody tr").count() > 0
        first = (page.locator("#queries-total").get_attribute("data-value"),
                 page.locator("#last-updated").get_attribute("data-value"))
        page.wait_for_function(
            f"document.querySelector('#queries-total').dataset.value !== '{first[0]}'", timeout=30_000)
        second = (page.locator("#queries-total").get_attribute("data-value"),
                  page.locator("#last-updated").get_attribute("data-value"))
        assert float(second[0]) > float(first[0]) and second[1] != first[1]
        assert page.locator("#cluster-status").get_attribute("data-status") in ("healthy", "degraded", "critical")
        page.screenshot(path=str(artifacts_dir / "dashboard-demo.png"), full_page=True)
    assert errors == []
