"""GET /api/slow-queries in its three formats, and the SQLite log surviving a restart of the service."""
import csv
import io
import json

from bytedb_exporter.config.loader import parse_config
from bytedb_exporter.serve import Service


def service(tmp_path, **history):
    return Service(parse_config({"role": "coordinator", "node_id": "c1",
                                 "history": {"slow_query_db": str(tmp_path / "slow.sqlite"), **history}}, "s.yml"))


def run(svc, query_id, seconds):
    execution = svc.app.extensions["bytedb"].queries.start_query_monitoring(query_id, "SELECT * FROM t")
    execution.record_fragment("worker-1", seconds)
    execution.finish(total_seconds=seconds)


def test_formats_and_persistence_across_a_restart(tmp_path):
    svc = service(tmp_path, slow_query_seconds=0.5)
    run(svc, "fast", 0.2)
    run(svc, "slow", 0.9)
    client = svc.app.test_client()
    assert [e["query_id"] for e in client.get("/api/slow-queries").get_json()] == ["slow"]
    response = client.get("/api/slow-queries?format=csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert [(r["query_id"], float(r["total_seconds"])) for r in rows] == [("slow", 0.9)]
    lines = client.get("/api/slow-queries?format=ndjson").get_data(as_text=True).splitlines()
    assert [json.loads(line)["fragments"][0]["worker_id"] for line in lines] == ["worker-1"]
    bad = client.get("/api/slow-queries?format=xml")
    assert bad.status_code == 400 and "format" in bad.get_json()["detail"]
    svc.stop()  # as the process does on exit: the store's writer writes what is queued, then closes

    restarted = service(tmp_path, slow_query_seconds=0.5)
    assert [e["query_id"] for e in restarted.app.test_client().get("/api/slow-queries").get_json()] == ["slow"]
    restarted.stop()
