"""Every endpoint's response matches docs/openapi.yaml, and every route is documented."""
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from bytedb_exporter.config.loader import parse_config
from bytedb_exporter.serve import Service
from bytedb_exporter.web.auth import OPEN_PATHS

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())


def response_for(path, method, status):
    """The documented response, with a `$ref` to components/responses followed."""
    found = SPEC["paths"][path][method]["responses"][str(status)]
    if "$ref" in found:
        found = SPEC["components"]["responses"][found["$ref"].rsplit("/", 1)[1]]
    return found


def schema_for(path, method, status, content_type="application/json"):
    schema = response_for(path, method, status)["content"][content_type]["schema"]
    return {**schema, "components": SPEC["components"]}


def check(response, path, method="get"):
    jsonschema.validate(response.get_json(), schema_for(path, method, response.status_code))


CASES = [
    ("/healthz", "/healthz", "get"),
    ("/api/overview", "/api/overview", "get"),
    ("/api/cluster", "/api/cluster", "get"),
    ("/api/workers", "/api/workers", "get"),
    ("/api/workers/worker-1", "/api/workers/{worker_id}", "get"),
    ("/api/workers/nope", "/api/workers/{worker_id}", "get"),
    ("/api/queries?limit=5", "/api/queries", "get"),
    ("/api/queries?limit=abc", "/api/queries", "get"),
    ("/api/queries/nope", "/api/queries/{query_id}", "get"),
    ("/api/slow-queries", "/api/slow-queries", "get"),
    ("/api/slow-queries?format=xml", "/api/slow-queries", "get"),
    ("/api/statements?sort=calls", "/api/statements", "get"),
    ("/api/statements?sort=nope", "/api/statements", "get"),
    ("/api/statements/reset", "/api/statements/reset", "post"),
    ("/api/insights", "/api/insights", "get"),
    ("/api/alerts", "/api/alerts", "get"),
    ("/api/alerts/nope/acknowledge", "/api/alerts/{alert_id}/acknowledge", "post"),
    ("/api/performance", "/api/performance", "get"),
    ("/api/history", "/api/history", "get"),
    ("/api/sd", "/api/sd", "get"),
    ("/api/metrics", "/api/metrics", "get"),
]


@pytest.mark.parametrize("url,path,method", CASES)
def test_response_matches_spec(client, url, path, method):
    response = client.open(url, method=method.upper())
    check(response, path, method)


def test_stream_snapshot_matches_spec(app):
    hub = app.extensions["bytedb"].hub
    hub.tick()
    jsonschema.validate(json.loads(hub.latest()), {**SPEC["components"]["schemas"]["LiveSnapshot"],
                                                   "components": SPEC["components"]})


def serve_mode_app():
    return Service(parse_config({"role": "coordinator", "node_id": "c",
                                 "limits": {"max_body_bytes": 1024}}, "test.yml")).app


@pytest.mark.parametrize("body,status", [
    ([{"type": "query_start", "query_id": "q1", "sql": "SELECT 1"}], 200),
    ([{"type": "query_start"}, {"type": "nonsense"}], 400),
    ([{"type": "query_start", "query_id": "q2", "sql": "SELECT 1", "query_type": "MYSTERY"}], 422),
    ([{"type": "query_start", "query_id": f"q{i}", "sql": "SELECT 1"} for i in range(40)], 413),
])
def test_ingest_responses_match_spec(body, status):
    response = serve_mode_app().test_client().post("/api/v1/events", json=body)
    assert response.status_code == status, response.get_json()
    jsonschema.validate(response.get_json(), schema_for("/api/v1/events", "post", status))


def test_every_route_is_documented(app):
    routes = set()
    for served in (app, serve_mode_app()):
        routes |= {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) for rule in served.url_map.iter_rules()
                   if rule.endpoint != "static"}
    assert routes == set(SPEC["paths"])


def operations():
    return [(path, method) for path, item in SPEC["paths"].items() for method in item]


def concrete(path):
    return path.replace("{worker_id}", "worker-1").replace("{alert_id}", "some-alert")


@pytest.mark.parametrize("auth", [{"bearer_token": "t0ken"}, {"basic": {"username": "u", "password": "p"}},
                                  {"bearer_token": "t0ken", "protect_metrics": True}])
def test_unauthorized_answers_match_spec(auth):
    client = Service(parse_config({"role": "coordinator", "node_id": "c", "auth": auth}, "auth.yml")).app.test_client()
    for path, method in operations():
        response = client.open(concrete(path), method=method.upper())
        if path in OPEN_PATHS and not auth.get("protect_metrics"):
            assert response.status_code == 200, path
            continue
        assert response.status_code == 401, (path, response.status_code)
        jsonschema.validate(response.get_json(), schema_for(path, method, 401))
        header = response_for(path, method, 401)["headers"]["WWW-Authenticate"]["schema"]
        jsonschema.validate(response.headers["WWW-Authenticate"], header)


def test_security_declares_exactly_the_open_paths():
    for path, method in operations():
        security = SPEC["paths"][path][method].get("security", SPEC["security"])
        assert {"bearerAuth": []} in security and {"basicAuth": []} in security, path
        assert ({} in security) == (path in OPEN_PATHS), path


def test_ingest_is_absent_from_the_dashboard_app_as_declared(client):
    response = client.post("/api/v1/events", json=[{"type": "heartbeat", "worker_id": "w"}])
    assert response.status_code == 404
    jsonschema.validate(response.get_json(), schema_for("/api/v1/events", "post", 404))


def test_stream_refusal_beyond_the_cap_matches_spec():
    app = Service(parse_config({"role": "coordinator", "node_id": "c", "limits": {"max_streams": 1}}, "t.yml")).app
    client = app.test_client()
    held = client.get("/api/stream", buffered=False)
    try:
        assert held.status_code == 200
        refused = client.get("/api/stream")
        assert refused.status_code == 503
        jsonschema.validate(refused.get_json(), schema_for("/api/stream", "get", 503))
        header = response_for("/api/stream", "get", 503)["headers"]["Retry-After"]["schema"]
        jsonschema.validate(int(refused.headers["Retry-After"]), header)
    finally:
        held.close()
        app.extensions["bytedb"].hub.stop()
