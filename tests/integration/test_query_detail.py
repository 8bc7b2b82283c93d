"""GET /api/queries/<id>: a finished query's phases, plan and fragments with skew, from the library or ingest."""
from pathlib import Path

import jsonschema
import pytest
import yaml

from bytedb_exporter.config.loader import parse_config
from bytedb_exporter.serve import Service

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())
DETAIL = {**SPEC["components"]["schemas"]["QueryDetail"], "components": SPEC["components"]}
FRAGMENTS = [{"worker_id": "worker-1", "duration_ms": 10, "rows": 5, "bytes": 50},
             {"worker_id": "worker-2", "duration_ms": 10, "queued_ms": 2},
             {"worker_id": "worker-3", "duration_ms": 80}]


@pytest.fixture
def client():
    svc = Service(parse_config({"role": "coordinator", "node_id": "c1"}, "detail.yml"))
    return svc.app.test_client()


def test_ingested_fragments_and_plan_show_on_the_query(client):
    events = [{"type": "query_start", "query_id": "q-7", "sql": "SELECT * FROM t", "plan": "Scan t -> Gather"},
              {"type": "query_update", "query_id": "q-7", "fragment_timings": FRAGMENTS[:2]},
              {"type": "query_end", "query_id": "q-7", "duration_ms": 100, "phases": {"execution_ms": 90},
               "fragment_timings": FRAGMENTS[2:]}]
    assert client.post("/api/v1/events", json=events).status_code == 200
    body = client.get("/api/queries/q-7").get_json()
    jsonschema.validate(body, DETAIL)
    assert [f["worker_id"] for f in body["fragments"]] == ["worker-1", "worker-2", "worker-3"]
    assert body["fragments"][1] == {"worker_id": "worker-2", "seconds": 0.01, "rows": 0, "bytes": 0,
                                    "queued_seconds": 0.002}
    assert body["skew"] == {"ratio": 8.0, "threshold": 3.0, "skewed": True}
    assert body["plan"] == "Scan t -> Gather" and body["phases"] == {"execution": 0.09}


def test_unknown_query_is_a_404_json(client):
    response = client.get("/api/queries/never-ran")
    assert response.status_code == 404 and response.get_json()["error"] == "unknown_query"


@pytest.mark.parametrize("fragments,field", [
    ([], "fragment_timings"),
    ([{"worker_id": "bad id!", "duration_ms": 1}], "fragment_timings[0].worker_id"),
    ([{"worker_id": "w1", "duration_ms": float("inf")}], "fragment_timings[0].duration_ms"),
    ([{"worker_id": "w1", "duration_ms": 1, "cpu": 3}], "fragment_timings[0]"),
    ([{"worker_id": "w1", "duration_ms": 1}] * 1001, "fragment_timings"),
])
def test_bad_fragment_timings_refuse_the_batch(client, fragments, field):
    events = [{"type": "query_start", "query_id": "q-8", "sql": "SELECT 1", "fragment_timings": fragments}]
    response = client.post("/api/v1/events", json=events)
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["reason"].startswith(field)
    assert client.get("/api/queries/q-8").status_code == 404


def test_fragments_beyond_those_kept_per_query_are_refused_across_batches(client):
    """Each batch holds at most 1000 fragment timings, and so does a query over all its batches (422, no 500)."""
    many = [{"worker_id": "w1", "duration_ms": 1}] * 700
    start = [{"type": "query_start", "query_id": "q-10", "sql": "SELECT 1", "fragment_timings": many}]
    assert client.post("/api/v1/events", json=start).status_code == 200
    more = [{"type": "query_update", "query_id": "q-10", "fragment_timings": many}]
    response = client.post("/api/v1/events", json=more)
    assert response.status_code == 422 and response.get_json()["errors"][0]["code"] == "too_many_fragments"
    end = [{"type": "query_end", "query_id": "q-10", "fragment_timings": many[:300]}]
    assert client.post("/api/v1/events", json=end).status_code == 200
    assert len(client.get("/api/queries/q-10").get_json()["fragments"]) == 1000


def test_insights_name_the_slow_statement_and_the_skewed_query(client):
    events = [{"type": "query_start", "query_id": "q-9", "sql": "SELECT * FROM big WHERE x = 1"},
              {"type": "query_end", "query_id": "q-9", "duration_ms": 900, "fragment_timings": FRAGMENTS}]
    assert client.post("/api/v1/events", json=events).status_code == 200
    found = {(i["type"], i["subject"]): i for i in client.get("/api/insights").get_json()}
    fingerprint = client.get("/api/statements").get_json()["statements"][0]["fingerprint"]
    assert set(found) == {("slow_statement", fingerprint), ("skewed_fragments", "q-9")}
    assert found[("skewed_fragments", "q-9")]["value"] == 8.0
    assert found[("slow_statement", fingerprint)]["threshold"] == 0.3


def test_the_query_page_escapes_its_id_in_the_api_url(client):
    """url_for keeps the "/" of a path: the page's API URL escapes every character, so ../.. stays in the id."""
    page = client.get("/queries/..%2F..%2Fmetrics").get_data(as_text=True)
    assert 'data-api="/api/queries/..%2F..%2Fmetrics"' in page


def test_a_reused_query_id_gives_one_skew_insight(client):
    for _ in range(2):
        events = [{"type": "query_start", "query_id": "q-11", "sql": "SELECT 1"},
                  {"type": "query_end", "query_id": "q-11", "duration_ms": 1, "fragment_timings": FRAGMENTS}]
        assert client.post("/api/v1/events", json=events).status_code == 200
    ids = [i["id"] for i in client.get("/api/insights").get_json()]
    assert ids.count("skewed_fragments:q-11") == 1
