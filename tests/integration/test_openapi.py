"""Every endpoint's response matches docs/openapi.yaml, and every route is documented."""
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())


def schema_for(path, method, status, content_type="application/json"):
    schema = SPEC["paths"][path][method]["responses"][str(status)]["content"][content_type]["schema"]
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
    ("/api/alerts", "/api/alerts", "get"),
    ("/api/alerts/nope/acknowledge", "/api/alerts/{alert_id}/acknowledge", "post"),
    ("/api/performance", "/api/performance", "get"),
    ("/api/history", "/api/history", "get"),
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
    from bytedb_exporter.config.loader import parse_config
    from bytedb_exporter.serve import Service

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
        routes |= {rule.rule.replace("<", "{").replace(">", "}") for rule in served.url_map.iter_rules()
                   if rule.endpoint != "static"}
    assert routes == set(SPEC["paths"])
