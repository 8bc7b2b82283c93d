"""The /api/stream cap: 503 with Retry-After beyond max_streams, slots freed on close, counted in /metrics."""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import jsonschema
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bytedb_exporter.config.loader import parse_config
from bytedb_exporter.config.models import ConfigError, Limits
from bytedb_exporter.serve import Service
from bytedb_exporter.web.app import create_app
from bytedb_exporter.web.server import BackgroundServer
from bytedb_exporter.web.stream import RETRY_AFTER_SECONDS

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())


@pytest.fixture
def capped(monitors):
    queries, coordinator, _ = monitors
    app = create_app(coordinator, queries, stream_interval=0.05, keepalive=0.1, start_stream=False, max_streams=3,
                     scrape_cache_seconds=0)
    yield app
    app.extensions["bytedb"].hub.stop()


def stream_metrics(client) -> dict[str, float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name.startswith("bytedb_stream_")}


def first_chunk(response) -> str:
    chunk = next(iter(response.response))
    return chunk.decode() if isinstance(chunk, bytes) else chunk


def test_streams_beyond_the_cap_get_503_with_retry_after_and_are_counted(capped):
    client = capped.test_client()
    assert stream_metrics(client) == {"bytedb_stream_clients": 0.0, "bytedb_stream_refused_total": 0.0}
    opened = [client.get("/api/stream", buffered=False) for _ in range(3)]
    assert [r.status_code for r in opened] == [200, 200, 200]
    assert all(first_chunk(r).startswith("retry: ") for r in opened)

    refused = client.get("/api/stream")  # buffered: the refusal is a complete answer, not a stream
    assert refused.status_code == 503 and refused.mimetype == "application/json"
    assert refused.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    body = refused.get_json()
    assert body["error"] == "too_many_streams" and "3" in body["detail"] and "max_streams" in body["detail"]
    documented = SPEC["paths"]["/api/stream"]["get"]["responses"]["503"]
    jsonschema.validate(body, {**documented["content"]["application/json"]["schema"], "components": SPEC["components"]})
    assert "Retry-After" in documented["headers"]

    assert client.get("/healthz").get_json()["stream_clients"] == 3
    assert stream_metrics(client) == {"bytedb_stream_clients": 3.0, "bytedb_stream_refused_total": 1.0}
    for response in opened:
        response.close()
    assert stream_metrics(client) == {"bytedb_stream_clients": 0.0, "bytedb_stream_refused_total": 1.0}


def test_closing_a_stream_frees_its_slot_even_before_the_first_event(capped):
    client, hub = capped.test_client(), capped.extensions["bytedb"].hub
    never_read = [client.get("/api/stream", buffered=False) for _ in range(3)]
    assert hub.clients == 3 and client.get("/api/stream").status_code == 503
    never_read[0].close()
    never_read[0].close()  # a second close gives nothing back twice
    assert hub.clients == 2
    again = client.get("/api/stream", buffered=False)
    assert again.status_code == 200 and first_chunk(again).startswith("retry: ")
    for response in [again, *never_read[1:]]:
        response.close()
    assert hub.clients == 0


def test_a_stopped_hub_ends_the_streams_and_frees_every_slot(capped):
    client, hub = capped.test_client(), capped.extensions["bytedb"].hub
    hub.start()
    response = client.get("/api/stream", buffered=False)
    assert response.status_code == 200
    hub.stop()
    assert list(response.response)  # the generator ends once the hub stops
    response.close()
    assert hub.clients == 0


def test_cap_lowers_the_limit_and_never_below_one(capped):
    hub = capped.extensions["bytedb"].hub
    hub.cap(10)
    assert hub.max_clients == 3  # never raised
    hub.cap(2)
    assert hub.max_clients == 2
    hub.cap(-5)
    assert hub.max_clients == 1


def test_the_default_cap_is_the_documented_limit(monitors):
    queries, coordinator, _ = monitors
    app = create_app(coordinator, queries, start_stream=False)
    assert app.extensions["bytedb"].hub.max_clients == Limits.max_streams == 200


def test_serve_mode_reads_limits_max_streams():
    service = Service(parse_config({"role": "coordinator", "node_id": "c", "limits": {"max_streams": 1}}))
    client = service.app.test_client()
    first = client.get("/api/stream", buffered=False)
    assert first.status_code == 200
    assert client.get("/api/stream").status_code == 503
    first.close()
    assert client.get("/api/stream", buffered=False).status_code == 200


@pytest.mark.parametrize("value", [0, -1, "many", 10 ** 6])
def test_a_bad_max_streams_is_refused_with_its_key(value):
    with pytest.raises(ConfigError) as error:
        parse_config({"role": "coordinator", "node_id": "c", "limits": {"max_streams": value}})
    assert any(problem.startswith("limits.max_streams: expected an integer from 1 to 100000")
               for problem in error.value.problems)


def test_a_client_that_disconnects_over_http_frees_its_slot(capped):
    """Real sockets: the server notices the gone client at its next write and closes the stream."""
    hub = capped.extensions["bytedb"].hub
    hub.start()
    server = BackgroundServer(capped, "127.0.0.1", 0)
    port = int(server.url.rsplit(":", 1)[1])
    try:
        clients = []
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b" 200 " in sock.recv(4096).split(b"\r\n", 1)[0]
            clients.append(sock)
        refused = socket.create_connection(("127.0.0.1", port), timeout=5)
        refused.sendall(b"GET /api/stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := refused.recv(4096):
            answer += chunk
        refused.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert b" 503 " in head.split(b"\r\n", 1)[0] and b"Retry-After: " in head
        assert json.loads(body)["error"] == "too_many_streams"
        for sock in clients:
            sock.close()
        deadline = time.monotonic() + 10
        while hub.clients and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hub.clients == 0
    finally:
        server.stop()
