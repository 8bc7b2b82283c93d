"""The load balance score means what it says: steady on the demo's even workload, low when one worker works 3x.

Two real demos run at once (`bytedb-exporter demo`, 3 SQLite worker processes each, default
query rate): an even one for 5 minutes, and one started with `--skew-worker 2 --skew-factor 3`,
where worker-2 runs every uncached fragment three times. A thread reads each coordinator's
/metrics every SAMPLE_SECONDS (the score and the per-worker loads of one scrape). The limit is the
configured `Thresholds.poor_load_balance_score` (the demo's coordinator uses the defaults):

* even: every reading for EVEN_SECONDS after the first one with all three loads is at or above it;
* skewed: a reading below it comes within SKEW_SECONDS, with worker-2 the most loaded worker.

The series are printed and written to test-artifacts/load_balance_series.json.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from processes import PYTHON, Process, http_get, start_process, stop_process, wait_for
from prometheus_client.parser import text_string_to_metric_families
from support import ARTIFACTS, free_port

from bytedb_exporter.rules.health import DEFAULT_THRESHOLDS

pytestmark = pytest.mark.e2e

WORKERS = 3
SAMPLE_SECONDS = 5.0
EVEN_SECONDS = 300.0
SKEW_SECONDS = 120.0
SKEWED_WORKER = "worker-2"
LIMIT = DEFAULT_THRESHOLDS.poor_load_balance_score


@dataclass
class Reading:
    seconds: float  # since the first reading with every worker's load
    score: float
    loads: dict[str, float]


@dataclass
class Watched:
    """One running demo and the readings a background thread takes of its /metrics."""

    name: str
    process: Process
    url: str
    readings: list[Reading] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def watch(self) -> None:
        first: float | None = None
        while not self.stop.wait(0 if first is None else SAMPLE_SECONDS):
            try:
                text = http_get(f"{self.url}/metrics", timeout=5).text
            except OSError as error:
                self.errors.append(repr(error))
                self.stop.wait(1.0)
                continue
            samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
            loads = {s.labels["worker_id"]: s.value for s in samples if s.name == "bytedb_worker_load"}
            score = [s.value for s in samples if s.name == "bytedb_cluster_load_balance_score"]
            if len(loads) < WORKERS or not score:
                self.stop.wait(1.0)  # still starting: no reading until every worker has a load
                continue
            now = time.monotonic()
            first = now if first is None else first
            self.readings.append(Reading(now - first, score[0], loads))

    def wait_seconds(self, seconds: float) -> list[Reading]:
        """The readings once they span `seconds` (the demo must keep running)."""
        def spanned() -> bool:
            self.process.assert_running()
            return bool(self.readings) and self.readings[-1].seconds >= seconds

        wait_for(spanned, seconds + 120, f"{self.name}: {seconds:.0f} s of readings", interval=1.0,
                 on_timeout=lambda: f"errors {self.errors[-3:]}\n{self.process.log_tail()}")
        return list(self.readings)

    def series(self) -> str:
        return " ".join(f"{r.score:.1f}" for r in self.readings)


def start_demo(name: str, tmp: Path, *extra: str) -> Watched:
    port = free_port()
    process = start_process(name, [
        PYTHON, "-m", "bytedb_exporter.cli", "demo", "--port", str(port), "--worker-base-port", "0",
        "--workers", str(WORKERS), "--duration", str(EVEN_SECONDS + 240), "--data-dir", str(tmp / name), *extra,
    ], tmp / f"{name}.log")
    watched = Watched(name, process, f"http://127.0.0.1:{port}")
    watched.thread = threading.Thread(target=watched.watch, name=f"watch-{name}", daemon=True)
    watched.thread.start()
    return watched


def finish(watched: Watched, artifacts: Path) -> None:
    watched.stop.set()
    if watched.thread is not None:
        watched.thread.join(10)
    stop_process(watched.process, timeout=30)
    record = [{"seconds": round(r.seconds, 1), "score": r.score, "loads": r.loads} for r in watched.readings]
    path = artifacts / "load_balance_series.json"
    existing = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**existing, watched.name: record}, indent=1))
    print(f"\n{watched.name} scores every {SAMPLE_SECONDS:.0f} s: {watched.series()}")


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "load_balance_series.json").unlink(missing_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def even(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Watched]:
    watched = start_demo("even", tmp_path_factory.mktemp("even"))
    try:
        yield watched
    finally:
        finish(watched, artifacts)


@pytest.fixture
def skewed(tmp_path_factory: pytest.TempPathFactory, artifacts: Path, even: Watched) -> Iterator[Watched]:
    """Started together with the even demo (which it requests first), stopped after its test."""
    watched = start_demo("skewed", tmp_path_factory.mktemp("skewed"), "--skew-worker", "2", "--skew-factor", "3")
    try:
        yield watched
    finally:
        finish(watched, artifacts)


def test_one_worker_with_3x_the_work_falls_below_the_limit_within_2_minutes(skewed: Watched) -> None:
    def below() -> Reading | None:
        skewed.process.assert_running()
        low = [r for r in skewed.readings if r.score < LIMIT]
        if not low and skewed.readings and skewed.readings[-1].seconds > SKEW_SECONDS:
            pytest.fail(f"no score below {LIMIT:g} within {SKEW_SECONDS:.0f} s: {skewed.series()}")
        return low[0] if low else None

    first = wait_for(below, SKEW_SECONDS + 120, f"a score below {LIMIT:g}", interval=1.0,
                     on_timeout=lambda: f"{skewed.series()}\n{skewed.process.log_tail()}")
    assert first.seconds <= SKEW_SECONDS, skewed.series()
    assert max(first.loads, key=first.loads.__getitem__) == SKEWED_WORKER, first.loads
    # It stays low: the skew is the workload's, not one noisy reading.
    readings = skewed.wait_seconds(first.seconds + 30)
    later = [r for r in readings if r.seconds >= first.seconds]
    assert all(r.loads[SKEWED_WORKER] == max(r.loads.values()) for r in later), [r.loads for r in later]
    assert sum(r.score < LIMIT for r in later) >= 0.8 * len(later), skewed.series()


def test_the_even_workload_stays_at_or_above_the_limit_for_5_minutes(even: Watched) -> None:
    readings = even.wait_seconds(EVEN_SECONDS)
    kept = [r for r in readings if r.seconds <= EVEN_SECONDS]
    assert len(kept) >= EVEN_SECONDS / SAMPLE_SECONDS * 0.8, even.series()  # a reading about every 5 s
    low = [(round(r.seconds), r.score, r.loads) for r in kept if r.score < LIMIT]
    assert not low, f"scores below {LIMIT:g} on the even workload: {low}\nall: {even.series()}"
