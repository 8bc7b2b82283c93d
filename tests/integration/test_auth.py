"""Auth on and off: without credentials a protected route answers 401 and no data."""
import base64
import os

import pytest

from bytedb_exporter.config.loader import AuthConfig, parse_config
from bytedb_exporter.serve import Service
from bytedb_exporter.web.auth import credentials_ok

TOKEN = "s3cret-token"
DATA_ROUTES = ["/", "/api/overview", "/api/cluster", "/api/workers", "/api/queries", "/api/metrics", "/api/alerts",
               "/api/performance", "/api/history"]
EVENTS = [{"type": "heartbeat", "worker_id": "pushed"}]


def app(role="coordinator", **auth):
    base = {"role": role, "node_id": "n1", "auth": auth}
    base.update({"process": {"pid": os.getpid()}} if role == "worker" else {})
    return Service(parse_config(base, "auth.yml")).app.test_client()


def bearer(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def assert_refused(response, scheme="Bearer"):
    assert response.status_code == 401
    assert response.get_json() == {"error": "unauthorized", "detail": response.get_json()["detail"]}
    assert response.headers["WWW-Authenticate"].startswith(scheme)
    assert b"bytedb_" not in response.data and b"worker" not in response.data


def test_auth_off_everything_is_open():
    client = app()
    for route in DATA_ROUTES + ["/metrics", "/healthz"]:
        assert client.get(route).status_code == 200, route
    assert client.post("/api/v1/events", json=EVENTS).status_code == 200


@pytest.mark.parametrize("headers", [{}, bearer("wrong"), bearer(""), {"Authorization": TOKEN},
                                     basic("admin", TOKEN), {"Authorization": "Bearer  " + TOKEN + "x"}])
def test_bearer_token_required_for_dashboard_api_and_ingest(headers):
    client = app(bearer_token=TOKEN)
    for route in DATA_ROUTES + ["/static/app.js", "/api/stream"]:
        assert_refused(client.get(route, headers=headers))
    assert_refused(client.post("/api/v1/events", json=EVENTS, headers=headers))
    assert client.get("/api/cluster", headers=bearer()).get_json()["worker_statuses"] == {}


def test_right_token_opens_everything_and_ingest_applies():
    client = app(bearer_token=TOKEN)
    for route in DATA_ROUTES:
        assert client.get(route, headers=bearer()).status_code == 200, route
    assert client.post("/api/v1/events", json=EVENTS, headers=bearer()).status_code == 200
    assert "pushed" in client.get("/api/workers", headers=bearer()).get_json()


def test_metrics_and_healthz_open_unless_protected():
    open_client = app(bearer_token=TOKEN)
    assert open_client.get("/metrics").status_code == 200
    assert open_client.get("/healthz").status_code == 200
    closed = app(bearer_token=TOKEN, protect_metrics=True)
    assert_refused(closed.get("/metrics"))
    assert_refused(closed.get("/healthz"))
    assert b"bytedb_build_info" in closed.get("/metrics", headers=bearer()).data


def test_basic_auth_for_browsers():
    client = app(basic={"username": "admin", "password": "pw"})
    assert_refused(client.get("/api/overview"), "Basic")
    assert_refused(client.get("/api/overview", headers=basic("admin", "nope")), "Basic")
    assert_refused(client.get("/api/overview", headers=basic("root", "pw")), "Basic")
    assert_refused(client.get("/api/overview", headers={"Authorization": "Basic %%%"}), "Basic")
    assert client.get("/api/overview", headers=basic("admin", "pw")).status_code == 200


def test_worker_exporter_is_protected_too():
    client = app("worker", bearer_token=TOKEN)
    assert_refused(client.get("/api/worker"))
    assert_refused(client.post("/api/v1/events", json=[{"type": "heartbeat"}]))
    assert client.get("/metrics").status_code == 200
    assert client.get("/api/worker", headers=bearer()).get_json()["worker_id"] == "n1"


def test_token_from_environment(monkeypatch):
    monkeypatch.setenv("BYTEDB_EXPORTER_BEARER_TOKEN", "from-env")
    client = Service(parse_config({"role": "coordinator", "node_id": "c"}, "c.yml", dict(os.environ))).app.test_client()
    assert_refused(client.get("/api/overview"))
    assert client.get("/api/overview", headers=bearer("from-env")).status_code == 200


def test_credentials_are_compared_in_constant_time(monkeypatch):
    calls = []
    import hmac

    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    auth = AuthConfig(bearer_token=TOKEN, basic_username="u", basic_password="p")
    assert credentials_ok(f"Bearer {TOKEN}", auth) and not credentials_ok("Bearer x", auth)
    assert not credentials_ok(basic("x", "p")["Authorization"], auth)
    assert len(calls) == 4  # user and password are both compared even when the user is wrong
