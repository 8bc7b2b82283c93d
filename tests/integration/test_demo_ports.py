"""The demo's first minutes: taken ports fail early or move, each demo has its own data, worker ids agree."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from support import free_port

from bytedb_exporter.cluster.remote import RemoteWorkerMonitor, WorkerPoller
from bytedb_exporter.config.loader import load_config
from bytedb_exporter.demo.dataset import MANIFEST
from bytedb_exporter.demo.engine import worker_names
from bytedb_exporter.demo_app import DEFAULT_WORKER_BASE_PORT, Demo, DemoOptions

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def occupied() -> Iterator[int]:
    """A port on 127.0.0.1 held by a listening socket for the duration."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def demo_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """`bytedb-exporter demo ARGS --data-dir DATA_DIR` as a child process (bounded: it must fail fast)."""
    return subprocess.run([sys.executable, "-m", "bytedb_exporter.cli", "demo", *args, "--data-dir", str(data_dir),
                           "--duration", "5"], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)


def worker_urls(lines: list[str]) -> dict[str, str]:
    """Worker id -> /metrics URL from the demo's "Worker exporter worker-N: URL" lines."""
    found = [line.split() for line in lines if line.startswith("Worker exporter worker-")]
    return {words[2].rstrip(":"): words[3] for words in found}


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_a_taken_worker_port_fails_before_the_data_build_naming_the_option(tmp_path: Path) -> None:
    with occupied() as port:
        result = demo_cli("--port", str(free_port()), "--workers", "3", "--worker-base-port", str(port - 1),
                          data_dir=tmp_path / "data")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--worker-base-port" in result.stderr and f"{port}" in result.stderr
    assert "Preparing" not in result.stdout and not (tmp_path / "data").exists()  # nothing was built


def test_a_taken_dashboard_port_fails_before_the_data_build_naming_the_option(tmp_path: Path) -> None:
    with occupied() as port:
        result = demo_cli("--port", str(port), "--worker-base-port", "0", data_dir=tmp_path / "data")
    assert result.returncode == 2 and "--port" in result.stderr and str(port) in result.stderr, result.stderr
    assert not (tmp_path / "data").exists()


def test_the_dashboard_port_inside_the_worker_range_is_refused(tmp_path: Path) -> None:
    port = free_port()
    result = demo_cli("--port", str(port), "--worker-base-port", str(port - 1), data_dir=tmp_path / "data")
    assert result.returncode == 2 and "--port" in result.stderr and "--worker-base-port" in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.fixture(scope="module")
def two_demos() -> Iterator[dict]:
    """Two demos at once with the default data directory: one with 2 workers whose default worker
    ports are taken (so it takes free ones), one with 1 worker and no worker exporters."""
    lines: list[str] = []
    with occupied() as taken:
        moved = Demo(DemoOptions(port=free_port(), workers=2, qps=5, concurrency=1, worker_base_port=taken,
                                 free_worker_ports=True, profile_seconds=3600), lines.append)
        single = Demo(DemoOptions(port=free_port(), workers=1, qps=5, concurrency=1, worker_base_port=0,
                                  profile_seconds=3600), lambda _line: None)
        try:
            moved.start(serve=False)
            single.start(serve=False)
            assert moved.data_dir is not None and single.data_dir is not None
            dirs = (moved.data_dir, single.data_dir)
            yield {"moved": moved, "single": single, "lines": lines, "taken": taken, "dirs": dirs}
        finally:
            moved.stop()
            single.stop()


def test_taken_default_worker_ports_are_replaced_by_free_ones_and_printed(two_demos: dict) -> None:
    lines, taken = two_demos["lines"], two_demos["taken"]
    notice = next(line for line in lines if "in use" in line)
    assert str(taken) in notice and "--worker-base-port" in notice
    urls = worker_urls(lines)
    assert sorted(urls) == ["worker-1", "worker-2"]
    for worker_id, url in urls.items():
        assert not url.startswith(f"http://127.0.0.1:{taken}/")
        assert get_json(url.replace("/metrics", "/api/worker"))["worker_id"] == worker_id


def test_the_shipped_coordinator_example_sees_the_demo_workers_online(two_demos: dict) -> None:
    """The example's worker ids, pointed at the demo's (moved) ports, answer as themselves: none offline."""
    urls = {wid: url.removesuffix("/metrics") for wid, url in worker_urls(two_demos["lines"]).items()}
    example = load_config(ROOT / "examples" / "bytedb-exporter.yml", env={})
    monitors = [RemoteWorkerMonitor(w.id, urls[w.id]) for w in example.workers if w.id in urls]
    assert [m.worker_id for m in monitors] == ["worker-1", "worker-2"]
    poller = WorkerPoller(monitors, interval=1.0, timeout=5.0)
    for monitor in monitors:
        poller.poll(monitor)
        vitals = monitor.vitals()
        assert vitals.status != "offline", (monitor.worker_id, vitals.issues)


def test_each_demo_has_its_own_data_directory(two_demos: dict) -> None:
    moved_dir, single_dir = two_demos["dirs"]
    assert moved_dir != single_dir
    assert Path(tempfile.gettempdir()) in moved_dir.parents and Path(tempfile.gettempdir()) in single_dir.parents
    assert json.loads((moved_dir / MANIFEST).read_text())["shards"] == 2  # not rebuilt by the 1-worker demo
    assert json.loads((single_dir / MANIFEST).read_text())["shards"] == 1
    for demo in (two_demos["moved"], two_demos["single"]):
        assert demo.cluster is not None and demo.cluster.execute("SELECT COUNT(*) AS n FROM departments").ok


def test_the_demos_remove_their_own_data_directories_when_they_stop(two_demos: dict) -> None:
    two_demos["moved"].stop()
    two_demos["single"].stop()
    assert not any(path.exists() for path in two_demos["dirs"])


def test_worker_ids_and_ports_agree_across_demo_prometheus_and_examples() -> None:
    ids = worker_names(3)
    assert ids == ["worker-1", "worker-2", "worker-3"]
    ports = [DEFAULT_WORKER_BASE_PORT + i for i in range(3)]
    example = load_config(ROOT / "examples" / "bytedb-exporter.yml", env={})
    assert [(w.id, w.url) for w in example.workers] == [(i, f"http://127.0.0.1:{p}")
                                                        for i, p in zip(ids, ports, strict=True)]
    prometheus = yaml.safe_load((ROOT / "prometheus.yml").read_text(encoding="utf-8"))
    workers = [(static["labels"]["node"], target) for job in prometheus["scrape_configs"]
               for static in job["static_configs"] if static["labels"]["role"] == "worker"
               for target in static["targets"]]
    assert workers == [(i, f"127.0.0.1:{p}") for i, p in zip(ids, ports, strict=True)]
    for doc in ("README.md", "docs/operations.md", "docs/demo.md", "docs/monitoring.md", "docs/prometheus.md",
                "docs/dashboard.md"):
        assert "worker-0" not in (ROOT / doc).read_text(encoding="utf-8"), doc
