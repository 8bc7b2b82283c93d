"""GET /api/statements and POST /api/statements/reset: sorting, validation, and who may reset."""
import pytest

from bytedb_exporter.config.loader import parse_config
from bytedb_exporter.serve import Service

TOKEN = "statements-token"


def service(**extra):
    return Service(parse_config({"role": "coordinator", "node_id": "c1", **extra}, "statements.yml"))


def run(queries, sql, seconds, error=None):
    execution = queries.start_query_monitoring("q", sql)
    if error:
        execution.set_error(RuntimeError(error))
    execution.finish(total_seconds=seconds)


def fill(svc):
    queries = svc.app.extensions["bytedb"].queries
    for i in range(4):
        run(queries, f"SELECT * FROM a WHERE id = {i}", 0.1)
    run(queries, "SELECT * FROM b WHERE id = 1", 2.0, error="boom")
    return queries


def test_statements_sorted_and_validated():
    svc = service()
    fill(svc)
    client = svc.app.test_client()
    body = client.get("/api/statements").get_json()
    assert [row["calls"] for row in body["statements"]] == [1, 4]
    assert body["statements"][0]["errors"] == 1 and body["statements"][0]["max_seconds"] == 2.0
    assert body["other"]["calls"] == 0 and body["other"]["fingerprint"] == "other"
    by_calls = client.get("/api/statements?sort=calls&limit=1").get_json()["statements"]
    assert len(by_calls) == 1 and by_calls[0]["query"] == "SELECT * FROM a WHERE id = ?"
    assert by_calls[0]["mean_seconds"] == pytest.approx(0.1) and by_calls[0]["stddev_seconds"] == pytest.approx(0)
    bad = client.get("/api/statements?sort=slowest")
    assert bad.status_code == 400 and "sort" in bad.get_json()["detail"]


def test_reset_is_refused_with_auth_off_unless_allowed():
    svc = service()
    queries = fill(svc)
    refused = svc.app.test_client().post("/api/statements/reset")
    assert refused.status_code == 403 and refused.get_json()["error"] == "reset_not_allowed"
    assert len(queries.get_statement_stats(10)) == 2


def test_reset_one_fingerprint_then_all_when_allowed():
    svc = service(api={"allow_unauthenticated_reset": True})
    queries = fill(svc)
    client = svc.app.test_client()
    slow = client.get("/api/statements").get_json()["statements"][0]["fingerprint"]
    assert client.post("/api/statements/reset?fingerprint=NOT-HEX").status_code == 400
    assert client.post("/api/statements/reset?fingerprint=0000000000000000").status_code == 404
    assert len(queries.get_statement_stats(10)) == 2
    done = client.post(f"/api/statements/reset?fingerprint={slow}")
    assert done.status_code == 200 and done.get_json() == {"reset": 1, "fingerprint": slow}
    left = client.get("/api/statements").get_json()["statements"]
    assert [row["calls"] for row in left] == [4]
    assert client.post("/api/statements/reset").get_json() == {"reset": 1, "fingerprint": None}
    assert client.get("/api/statements").get_json()["statements"] == []


def test_reset_with_auth_on_needs_the_token():
    svc = service(auth={"bearer_token": TOKEN})
    queries = fill(svc)
    client = svc.app.test_client()
    assert client.post("/api/statements/reset").status_code == 401
    assert len(queries.get_statement_stats(10)) == 2
    done = client.post("/api/statements/reset", headers={"Authorization": f"Bearer {TOKEN}"})
    assert done.status_code == 200 and queries.get_statement_stats(10) == []


def test_config_rejects_a_non_boolean_reset_switch():
    with pytest.raises(Exception, match="allow_unauthenticated_reset"):
        service(api={"allow_unauthenticated_reset": "yes"})
