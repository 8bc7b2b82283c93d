"""Every endpoint of the Flask app through app.test_client(), good and bad input."""
import json
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bytedb_exporter.web.app import create_app

PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                     "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def test_overview_has_one_name_per_figure_and_measured_values(client):
    data = client.get("/api/overview").get_json()
    assert set(data) == {"cluster_status", "total_workers", "healthy_workers", "total_queries", "successful_queries",
                         "failed_queries", "optimized_queries_percent", "query_response_time_ms", "query_qps",
                         "uptime", "last_updated"}
    assert (data["total_queries"], data["failed_queries"], data["total_workers"]) == (7, 1, 2)
    assert data["optimized_queries_percent"] == pytest.approx(600 / 7)
    stats = client.get("/api/queries").get_json()["stats"]
    assert data["query_qps"] > 0
    assert data["query_response_time_ms"] == stats["query_response_time_ms"]


def test_query_and_fragment_figures_have_distinct_names(client):
    """Coordinator queries and worker fragments are different figures: no key is shared between them."""
    perf = client.get("/api/performance").get_json()
    system, optimization = perf["system_performance"], perf["optimization_metrics"]
    assert {"fragment_qps", "fragment_response_time_ms"} <= set(system)
    assert not {"total_qps", "average_response_time_ms", "query_qps"} & set(system)
    assert system["fragment_qps"] > 0  # 12 fragments on the workers, 7 queries at the coordinator
    assert "optimizer_applied_percent" in optimization and "optimization_rate_percent" not in optimization
    impact = perf["query_performance"]["optimization_impact"]
    assert impact["optimized_queries_percent"] == pytest.approx(600 / 7) and "optimization_rate" not in impact


def test_cluster_is_cluster_health(client):
    data = client.get("/api/cluster").get_json()
    assert data["status"] == "healthy" and data["worker_statuses"] == {"worker-1": "healthy", "worker-2": "healthy"}
    assert "uptime_ms" in data and "issues" in data


def test_workers_keyed_by_id_and_single_worker(client):
    data = client.get("/api/workers").get_json()
    assert sorted(data) == ["worker-1", "worker-2"]
    assert data["worker-1"]["query_stats"]["total_queries"] == 6
    assert "resource_utilization" in data["worker-1"]
    one = client.get("/api/workers/worker-2")
    assert one.status_code == 200 and one.get_json()["worker_id"] == "worker-2"
    missing = client.get("/api/workers/worker-9")
    assert missing.status_code == 404
    assert missing.get_json() == {"error": "unknown_worker", "detail": "no worker with id 'worker-9'"}


def test_queries_sections_and_limit(client):
    data = client.get("/api/queries?limit=3").get_json()
    assert set(data) == {"stats", "report", "recent", "top", "failed"}
    assert len(data["recent"]) == 3 and data["recent"][0]["query_id"] == "bad"
    assert data["failed"][0]["error_message"] == "no such column: nope"
    assert data["top"][0]["sql"] == "SELECT * FROM employees WHERE salary > ?"
    assert data["top"][0]["execution_count"] == 6
    assert data["stats"]["total_queries"] == 7


@pytest.mark.parametrize("limit", ["x", "0", "-1", "1001", "1.5"])
def test_queries_bad_limit_is_a_400_naming_the_parameter(client, limit):
    response = client.get(f"/api/queries?limit={limit}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_parameter" and "limit" in body["detail"]


def test_alerts_list_and_acknowledge(client, monitors):
    _, coordinator, workers = monitors
    for i in range(20):  # a failure rate far above 5 % once more than 10 queries ran
        workers["worker-1"].record_query_start(f"f{i}")
        workers["worker-1"].record_query_end(f"f{i}", False, 0, 0)
    alerts = client.get("/api/alerts").get_json()
    failure = [a for a in alerts if a["type"] == "high_failure_rate"]
    assert failure and failure[0]["worker_id"] == "worker-1" and failure[0]["acknowledged"] is False
    alert_id = failure[0]["id"]
    assert client.post(f"/api/alerts/{alert_id}/acknowledge").status_code == 200
    again = [a for a in client.get("/api/alerts").get_json() if a["id"] == alert_id]
    assert again[0]["acknowledged"] is True
    unknown = client.post("/api/alerts/nope/acknowledge")
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "unknown_alert"


def test_performance_sections(client):
    data = client.get("/api/performance").get_json()
    assert set(data) == {"system_performance", "query_performance", "worker_performance", "optimization_metrics",
                         "network_metrics", "recommendations"}
    assert set(data["worker_performance"]["worker-1"]) == {"qps", "response_time", "cpu_usage", "memory_usage",
                                                           "cache_hit_rate"}
    assert "load_balance_score" in data["system_performance"]
    assert data["recommendations"] and all("priority" in r for r in data["recommendations"])


def test_metrics_exposition_text_and_openmetrics(client):
    text = client.get("/metrics")
    assert text.status_code == 200 and text.content_type.startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(text.get_data(as_text=True))}
    workers = {s.labels["worker_id"] for s in families["bytedb_worker_cpu_usage_percent"].samples}
    assert workers == {"worker-1", "worker-2"}
    totals = {(s.labels["query_type"], s.labels["status"]): s.value for s in families["bytedb_queries"].samples}
    assert totals[("SELECT", "success")] == 6 and totals[("SELECT", "failed")] == 1
    assert len([s for s in families["bytedb_build_info"].samples]) == 1  # merged, not duplicated
    assert "process_cpu_seconds" in families
    open_metrics = client.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
    assert open_metrics.content_type.startswith("application/openmetrics-text")
    assert open_metrics.get_data(as_text=True).rstrip().endswith("# EOF")


def test_api_metrics_is_json_unless_prometheus_asks(client):
    as_json = client.get("/api/metrics")
    assert as_json.content_type == "application/json"
    names = {item["name"] for item in as_json.get_json()}
    assert {"bytedb_queries_total", "bytedb_worker_cpu_usage_percent", "bytedb_build_info"} <= names
    for accept in (PROMETHEUS_ACCEPT, "text/plain;version=0.0.4"):
        response = client.get("/api/metrics", headers={"Accept": accept})
        assert not response.content_type.startswith("application/json"), accept
        families = list(text_string_to_metric_families(response.get_data(as_text=True).replace("# EOF\n", "")))
        assert any(f.name == "bytedb_queries" for f in families)


def test_json_and_metrics_show_the_same_numbers(client):
    overview = client.get("/api/overview").get_json()
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))}
    assert sum(s.value for s in families["bytedb_queries"].samples) == overview["total_queries"]
    healthy = [s for s in families["bytedb_cluster_workers"].samples if s.labels["state"] == "healthy"]
    assert healthy[0].value == overview["healthy_workers"]


def test_healthz_and_unknown_routes_and_methods(client):
    assert client.get("/healthz").get_json()["status"] == "ok"
    missing = client.get("/api/nothing")
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    wrong = client.delete("/api/overview")
    assert wrong.status_code == 405 and wrong.get_json()["error"] == "method_not_allowed"


def test_page_renders_with_local_assets(client):
    page = client.get("/")
    assert page.status_code == 200 and b"dashboard.js" in page.data
    assert client.get("/static/dashboard.js").status_code == 200


def test_page_reads_one_key_per_figure(client):
    """The served script reads the renamed keys and none of the ambiguous ones (no fallback between figures)."""
    script = client.get("/static/dashboard.js").get_data(as_text=True)
    for key in ("ov.query_qps", "ov.query_response_time_ms", "perf.fragment_qps", "ov.optimized_queries_percent",
                "point.query_qps"):
        assert key in script, key
    for key in ("total_qps", "average_response_time", "optimization_rate"):
        assert key not in script, key
    page = client.get("/").get_data(as_text=True)
    assert all(f'id="{widget}"' in page for widget in ("query-qps", "query-response-time", "fragment-qps",
                                                         "optimized-queries"))


def read_events(response, count, timeout=5.0):
    """The first `count` data events of an SSE response."""
    events, buffer, deadline = [], "", time.monotonic() + timeout
    for chunk in response.response:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            data = [line[6:] for line in block.splitlines() if line.startswith("data: ")]
            if data:
                events.append(json.loads("".join(data)))
        if len(events) >= count or time.monotonic() > deadline:
            break
    return events


def test_stream_sends_snapshots_with_the_description_fields(app):
    hub = app.extensions["bytedb"].hub
    hub.start()
    response = app.test_client().get("/api/stream", buffered=False)
    assert response.content_type.startswith("text/event-stream")
    events = read_events(response, 2)
    response.close()
    assert len(events) == 2
    first = events[0]
    assert {"timestamp", "overview", "cluster", "system_metrics", "alerts", "workers", "queries", "point",
            "latency", "recommendations"} <= set(first)
    assert set(first["system_metrics"]) == {"cpu_usage", "memory_usage", "query_rate", "throughput"}
    assert first["point"]["query_qps"] == first["overview"]["query_qps"] == first["system_metrics"]["query_rate"]
    assert "total_qps" not in first["point"]
    assert first["overview"]["total_queries"] == 7
    assert events[1]["timestamp"] >= first["timestamp"]
    history = app.test_client().get("/api/history").get_json()
    assert history["interval_seconds"] == 0.05 and len(history["points"]) >= 2


def counted_builds(hub):
    """The list that gets an item per snapshot the hub builds (from now on)."""
    builds = []
    original = hub._build
    hub._build = lambda: builds.append(1) or original()
    return builds


def test_snapshot_is_built_once_per_tick_for_all_clients(app):
    hub = app.extensions["bytedb"].hub
    builds = counted_builds(hub)
    hub.start()
    responses = [app.test_client().get("/api/stream", buffered=False) for _ in range(5)]
    for response in responses:
        assert len(read_events(response, 3)) == 3
    ticks = hub.ticks
    for response in responses:
        response.close()
    assert len(builds) == ticks  # one build per tick, however many clients listened
    assert ticks < 5 * 3


def test_a_client_that_goes_away_frees_its_slot(app):
    hub = app.extensions["bytedb"].hub
    hub.start()
    response = app.test_client().get("/api/stream", buffered=False)
    read_events(response, 1)
    assert hub.clients == 1
    response.close()
    deadline = time.monotonic() + 2
    while hub.clients and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hub.clients == 0


def test_history_is_bounded(monitors):
    queries, coordinator, _ = monitors
    app = create_app(coordinator, queries, stream_interval=1.0, history_minutes=0.1, start_stream=False)
    hub = app.extensions["bytedb"].hub
    for _ in range(20):
        hub.tick()
    assert len(app.test_client().get("/api/history").get_json()["points"]) == 6  # 6 s at 1 s per point


def test_stream_survives_a_failing_snapshot(app):
    hub = app.extensions["bytedb"].hub
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return {"ok": len(calls)}

    hub._build = flaky
    hub.tick()
    assert hub.latest() is None
    hub.tick()
    assert json.loads(hub.latest()) == {"ok": 2}


def test_concurrent_requests_while_streaming(app):
    app.extensions["bytedb"].hub.start()
    errors = []

    def hammer():
        client = app.test_client()
        for path in ("/metrics", "/api/overview", "/api/workers", "/api/queries", "/api/performance"):
            if client.get(path).status_code != 200:
                errors.append(path)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_no_snapshot_is_built_while_no_client_listens_but_chart_points_are(app):
    hub = app.extensions["bytedb"].hub
    builds = counted_builds(hub)
    hub.start()
    time.sleep(0.4)  # about 8 idle ticks
    assert builds == [] and hub.ticks == 0
    assert len(app.test_client().get("/api/history").get_json()["points"]) >= 3
    response = app.test_client().get("/api/stream", buffered=False)
    events = read_events(response, 1)  # the first client gets a fresh snapshot at once
    response.close()
    assert len(builds) >= 1 and "overview" in events[0]
