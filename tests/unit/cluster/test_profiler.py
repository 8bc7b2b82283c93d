import time

import pytest

from bytedb_exporter.cluster.profiler import PerformanceProfiler
from bytedb_exporter.metrics.stats import exact_percentile
from bytedb_exporter.query.monitor import QueryMonitor


def run(monitor, query_id, seconds, error=None):
    with pytest.raises(RuntimeError) if error else _nothing():
        with monitor.monitor_query(query_id, "SELECT 1"):
            time.sleep(seconds)
            if error:
                raise RuntimeError(error)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_profile_summarizes_only_queries_finished_during_it():
    monitor = QueryMonitor()
    profiler = PerformanceProfiler(monitor, sample_interval=0.05)
    run(monitor, "before", 0.001)
    profiler.start_profile("session")
    assert profiler.active_profiles() == ["session"]
    for i in range(9):
        run(monitor, f"q{i}", 0.002 * (i + 1))
    run(monitor, "bad", 0.001, error="boom")
    sum(range(200_000))  # some CPU for the sampler to see
    time.sleep(0.12)
    profile = profiler.stop_profile("session")
    run(monitor, "after", 0.001)
    summary = profile.summary
    assert summary.total_queries == 10
    assert summary.error_rate == pytest.approx(10.0)
    durations = [q.total_duration.total_seconds() for q in monitor.get_recent_queries(20)
                 if q.query_id not in ("before", "after")]
    assert summary.average_latency.total_seconds() == pytest.approx(sum(durations) / 10, abs=1e-5)
    assert summary.p95_latency.total_seconds() == pytest.approx(exact_percentile(durations, 0.95), abs=1e-5)
    assert summary.throughput_qps == pytest.approx(10 / profile.duration.total_seconds(), rel=1e-3)
    assert len(profile.samples) >= 2
    assert summary.resource_usage["max_memory_rss_bytes"] > 1_000_000
    assert "average_cpu_percent" in summary.resource_usage
    assert profile.end_time - profile.start_time == profile.duration
    data = profile.to_dict()
    assert set(data) >= {"start_time", "end_time", "duration_ms", "samples", "summary"}
    assert set(data["summary"]) == {"total_queries", "average_latency_ms", "p95_latency_ms", "error_rate",
                                    "throughput_qps", "resource_usage"}
    assert profiler.active_profiles() == []
    assert monitor._listeners == []


def test_unknown_stopped_or_duplicate_profile_raises():
    profiler = PerformanceProfiler(QueryMonitor(), sample_interval=0.05)
    with pytest.raises(KeyError, match="no running profile 'nope'"):
        profiler.stop_profile("nope")
    profiler.start_profile("p")
    with pytest.raises(ValueError, match="already running"):
        profiler.start_profile("p")
    empty = profiler.stop_profile("p")
    assert empty.summary.total_queries == 0 and empty.summary.throughput_qps == 0
    with pytest.raises(KeyError):
        profiler.stop_profile("p")
