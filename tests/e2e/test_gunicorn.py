"""The app under gunicorn with the shipped config, serving the demo cluster; SIGTERM stops everything."""
from __future__ import annotations

import signal
import sys
from pathlib import Path

from processes import (
    descendants,
    get_json,
    http_get,
    leftovers,
    read_sse_events,
    start_process,
    stop_process,
    wait_for,
)
from support import free_port


def test_gunicorn_serves_the_dashboard_and_stops_cleanly(tmp_path):
    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    process = start_process(
        "gunicorn", [gunicorn, "-c", "python:bytedb_exporter.gunicorn_conf", "bytedb_exporter.wsgi:app"],
        tmp_path / "gunicorn.log", env={"BYTEDB_EXPORTER_BIND": f"127.0.0.1:{port}", "TMPDIR": str(tmp_path),
                                        "BYTEDB_EXPORTER_DEMO_WORKERS": "2", "BYTEDB_EXPORTER_DEMO_QPS": "10"})
    base = f"http://127.0.0.1:{port}"
    children = []

    def queries_ran() -> bool:
        process.assert_running()
        return get_json(f"{base}/api/overview")["total_queries"] > 5

    try:
        wait_for(queries_ran, 90, "queries under gunicorn", on_timeout=process.log_tail)
        children = descendants(process)
        assert len(children) >= 3  # the gunicorn worker and two SQLite worker processes
        assert get_json(f"{base}/api/cluster")["total_workers"] == 2
        response = http_get(f"{base}/metrics")
        assert response.status == 200 and "bytedb_queries_total" in response.text
        assert http_get(f"{base}/").status == 200
        events = read_sse_events(f"{base}/api/stream", 2)
        assert len(events) == 2 and events[0]["overview"]["total_workers"] == 2
    finally:
        code = stop_process(process, signal.SIGTERM, timeout=30, group=False, kill_leftovers=False)
        left = leftovers(children)
        stop_process(process)
    assert code == 0, process.log_tail()
    assert left == []
