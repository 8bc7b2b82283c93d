"""The app under gunicorn with the shipped config, serving the demo cluster; SIGTERM stops everything."""
from __future__ import annotations

import signal
import sys
from pathlib import Path

from support import free_port
from processes import descendants, get_json, http_get, leftovers, read_sse_events, start, stop, wait_until


def test_gunicorn_serves_the_dashboard_and_stops_cleanly(tmp_path):
    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    log = tmp_path / "gunicorn.log"
    process = start([gunicorn, "-c", "python:bytedb_exporter.gunicorn_conf", "bytedb_exporter.wsgi:app"], log,
                    env={"BYTEDB_EXPORTER_BIND": f"127.0.0.1:{port}", "BYTEDB_EXPORTER_DEMO_WORKERS": "2",
                         "BYTEDB_EXPORTER_DEMO_QPS": "10", "TMPDIR": str(tmp_path)})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: get_json(f"{base}/api/overview")["total_queries"] > 5, 90, "queries under gunicorn",
                   process, log)
        children = descendants(process)
        assert len(children) >= 3  # the gunicorn worker and two SQLite worker processes
        assert get_json(f"{base}/api/cluster")["total_workers"] == 2
        status, _, text = http_get(f"{base}/metrics")
        assert status == 200 and "bytedb_queries_total" in text
        assert http_get(f"{base}/")[0] == 200
        events = read_sse_events(f"{base}/api/stream", 2)
        assert len(events) == 2 and events[0]["overview"]["total_workers"] == 2
    finally:
        code = stop(process, signal.SIGTERM)
    assert code == 0, log.read_text()[-2000:]
    assert leftovers(children) == []
