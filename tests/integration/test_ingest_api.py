"""POST /api/v1/events on serve-mode apps: accepted batches change state, refused ones change nothing."""
import io
import json
import os

import pytest

from bytedb_exporter.config.loader import parse_config
from bytedb_exporter.serve import Service

QUERY = [{"type": "query_start", "query_id": "q1", "sql": "SELECT * FROM t WHERE a = 1", "workers": 2, "fragments": 2},
         {"type": "query_end", "query_id": "q1", "duration_ms": 20, "rows": 5, "bytes": 100}]


def service(role="coordinator", **extra):
    # scrape_cache_seconds 0: these tests read /metrics right after each batch
    base = {"role": role, "node_id": "worker-1" if role == "worker" else "coordinator", "scrape_cache_seconds": 0}
    if role == "worker":
        base["process"] = {"pid": os.getpid()}
    else:
        base["workers"] = [{"id": "remote-1", "url": "http://127.0.0.1:9"}]
    return Service(parse_config({**base, **extra}, "test.yml"))


@pytest.fixture
def coordinator():
    return service(limits={"max_workers": 3, "max_open_queries": 5, "max_body_bytes": 2048, "max_batch_events": 20})


def snapshot(client):
    """Everything ingest could change, minus clocks."""
    stats = client.get("/api/queries").get_json()["stats"]
    stats.pop("throughput_qps")
    cluster = client.get("/api/cluster").get_json()
    workers = sorted(client.get("/api/workers").get_json())
    metrics = [line for line in client.get("/metrics").get_data(as_text=True).splitlines()
               if line.startswith(("bytedb_queries_total", "bytedb_worker_", "bytedb_ingest_events"))
               and "heartbeat_age" not in line]
    return stats, cluster["worker_statuses"], workers, metrics


def post(client, body, content_type="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/api/v1/events", data=data, content_type=content_type)


def test_accepted_batch_changes_state_and_metrics(coordinator):
    client = coordinator.app.test_client()
    response = post(client, QUERY + [{"type": "heartbeat", "worker_id": "pushed-1"}])
    assert response.status_code == 200
    assert response.get_json() == {"accepted": 3, "query_events": 2, "worker_events": 1}
    assert client.get("/api/queries").get_json()["stats"]["total_queries"] == 1
    assert client.get("/api/cluster").get_json()["worker_statuses"]["pushed-1"] == "healthy"
    text = client.get("/metrics").get_data(as_text=True)
    assert 'bytedb_queries_total{query_type="SELECT",status="success"} 1.0' in text
    assert 'bytedb_ingest_events_total{kind="query"} 2.0' in text
    assert 'bytedb_ingest_requests_total{result="accepted"} 1.0' in text


def test_ndjson_body(coordinator):
    client = coordinator.app.test_client()
    body = "\n".join(json.dumps(event) for event in QUERY) + "\n\n"
    response = post(client, body, "application/x-ndjson")
    assert response.status_code == 200 and response.get_json()["accepted"] == 2


@pytest.mark.parametrize("body, content_type, status, error, indexes", [
    ([QUERY[0], {"type": "query_end", "query_id": "zz"}, {"type": "cache_hit", "worker_id": "w", "count": -1}],
     "application/json", 400, "invalid_events", [1, 2]),
    ('{"type": "heartbeat"}', "application/json", 400, "invalid_body", [0]),
    ("[{", "application/json", 400, "invalid_body", [0]),
    ("[" * 2000, "application/json", 400, "invalid_body", [0]),  # nested deeper than the recursion limit
    ('[{"type": {}}]', "application/json", 400, "invalid_events", [0]),
    ('{"type": "heartbeat", "worker_id": "w"}\nnot json\n', "application/x-ndjson", 400, "invalid_body", [1]),
    (b"\xff\xfe", "application/json", 400, "invalid_body", [0]),
    ([{"type": "query_start", "query_id": "q", "sql": "x", "query_type": "UPSERT"}], "application/json", 422,
     "refused_events", [0]),
    ([{"type": "heartbeat", "worker_id": f"w{i}"} for i in range(3)], "application/json", 422, "refused_events", [2]),
    ([{"type": "heartbeat", "worker_id": "remote-1"}], "application/json", 422, "refused_events", [0]),
    ([QUERY[0], {"type": "heartbeat", "worker_id": "new"}, {"type": "query_start", "query_id": "q", "sql": "x",
                                                           "query_type": "MERGE"}, {"type": "nope"}],
     "application/json", 400, "invalid_events", [2, 3]),
])
def test_rejected_batches_change_nothing(coordinator, body, content_type, status, error, indexes):
    client = coordinator.app.test_client()
    assert post(client, [{"type": "heartbeat", "worker_id": "w0"}]).status_code == 200
    before = snapshot(client)
    response = post(client, body, content_type)
    assert response.status_code == status, response.get_json()
    document = response.get_json()
    assert document["error"] == error and "nothing was applied" in document["detail"]
    assert [e["index"] for e in document["errors"]] == indexes
    assert all(e["reason"] for e in document["errors"])
    assert snapshot(client) == before
    result = "refused" if status == 422 else "invalid"
    assert f'bytedb_ingest_requests_total{{result="{result}"}} 1.0' in client.get("/metrics").get_data(as_text=True)


def test_too_large_bodies_get_413_and_change_nothing(coordinator):
    client = coordinator.app.test_client()
    before = snapshot(client)
    big = [{"type": "query_start", "query_id": f"q{i}", "sql": "SELECT " + "x" * 200} for i in range(10)]
    response = post(client, big)
    assert response.status_code == 413 and response.get_json()["error"] == "body_too_large"
    many = [{"type": "heartbeat", "worker_id": "w"}] * 21
    response = post(client, many)
    assert response.status_code == 413 and response.get_json()["error"] == "too_many_events"
    chunked = client.post("/api/v1/events",
                          headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                          environ_overrides={"wsgi.input": io.BytesIO(json.dumps(big).encode()),
                                             "wsgi.input_terminated": True})
    assert chunked.status_code == 413
    assert snapshot(client) == before
    assert 'bytedb_ingest_requests_total{result="too_large"} 3.0' in client.get("/metrics").get_data(as_text=True)


def test_default_body_limit_is_one_mebibyte():
    client = service().app.test_client()
    response = post(client, b"[" + b" " * (1024 * 1024) + b"]")
    assert response.status_code == 413


def test_worker_exporter_ingests_its_own_worker_events_only():
    worker = service("worker")
    client = worker.app.test_client()
    ok = post(client, [{"type": "worker_query_start", "query_id": "f"},
                       {"type": "worker_query_end", "query_id": "f", "rows": 7}, {"type": "cache_miss", "count": 2}])
    assert ok.status_code == 200
    stats = client.get("/api/worker").get_json()
    assert (stats["query_stats"]["rows_processed"], stats["cache_stats"]["cache_misses"]) == (7, 2)
    refused = post(client, [{"type": "heartbeat", "worker_id": "worker-2"}, QUERY[0]])
    assert refused.status_code == 422
    assert [e["code"] for e in refused.get_json()["errors"]] == ["cardinality_limit", "wrong_exporter"]
    assert 'worker_id="worker-2"' not in client.get("/metrics").get_data(as_text=True)


def test_ingest_can_be_turned_off():
    client = service(ingest={"enabled": False}).app.test_client()
    assert post(client, QUERY).status_code in (404, 405)


@pytest.mark.parametrize("body, field", [
    ('[{"type": "heartbeat", "worker_id": "pw-\\udc80"}]', "worker_id"),
    ('[{"type": null}]', "type"),
    ('[{"type": "network", "worker_id": "w0", "latency_ms": NaN}]', "latency_ms"),
    ('[{"type": "network", "worker_id": "w0", "latency_ms": Infinity}]', "latency_ms"),
    ('[{"type": "network", "worker_id": "w0", "bytes_sent": 1e999}]', "bytes_sent"),
    ('[{"type": "heartbeat", "worker_id": "w0"}, {"type": "query_start", "query_id": "q", "sql": "\\ud800"}]', "sql"),
])
def test_unencodable_or_unbounded_values_are_refused_and_metrics_keep_working(coordinator, body, field):
    client = coordinator.app.test_client()
    before = client.get("/metrics").get_data(as_text=True)
    response = post(client, body)
    assert response.status_code == 400, response.get_json()
    bad = response.get_json()["errors"]
    assert [(e["index"], e["reason"].split(":")[0]) for e in bad] == [(body.count('"type"') - 1, field)]
    after = client.get("/metrics")
    assert after.status_code == 200
    assert 'worker_id="pw-' not in after.get_data(as_text=True)
    assert [line for line in before.splitlines() if line.startswith("bytedb_worker_")] == \
        [line for line in after.get_data(as_text=True).splitlines() if line.startswith("bytedb_worker_")]
