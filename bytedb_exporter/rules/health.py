"""Pure health, load and alert rules over plain numbers (thresholds of the original)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bytedb_exporter.metrics.stats import coefficient_of_variation, percent

GIB = 1024 ** 3
WORKER_STATES: tuple[str, ...] = ("healthy", "degraded", "unhealthy", "offline")
CLUSTER_STATES: tuple[str, ...] = ("healthy", "degraded", "critical")
# Every alert type with its fixed severity; worker alerts first, then cluster alerts.
ALERT_SEVERITIES: dict[str, str] = {
    "high_cpu": "warning",
    "high_memory": "warning",
    "low_cache_hit_rate": "info",
    "high_failure_rate": "critical",
    "cluster_degraded": "warning",
    "cluster_critical": "critical",
    "workers_offline": "warning",
    "poor_load_balance": "warning",
}


@dataclass(frozen=True)
class Thresholds:
    """Health, alert and recommendation limits; the defaults are the original's."""

    degraded_cpu_percent: float = 90.0
    degraded_memory_bytes: float = 8 * GIB
    unhealthy_cpu_percent: float = 95.0
    unhealthy_memory_bytes: float = 12 * GIB
    offline_after_seconds: float = 30.0
    critical_error_window_seconds: float = 300.0
    alert_cpu_percent: float = 85.0
    alert_memory_percent: float = 80.0
    alert_cache_hit_percent: float = 50.0
    alert_cache_min_lookups: int = 100
    alert_success_percent: float = 95.0
    alert_min_queries: int = 10
    cluster_healthy_ratio: float = 0.8
    cluster_degraded_ratio: float = 0.5
    poor_load_balance_score: float = 70.0
    # Recommendation limits without an alert of their own (the original's; alerts above are shared).
    high_response_seconds: float = 5.0
    low_optimization_percent: float = 50.0
    low_cost_reduction_percent: float = 50.0
    high_coordination_seconds: float = 0.1
    high_cluster_utilization_percent: float = 85.0
    high_network_latency_seconds: float = 0.05
    fragment_skew_ratio: float = 3.0  # a query's slowest fragment over its median one
    slow_statement_seconds: float = 0.3  # a statement's mean duration above this is an insight
    statement_error_percent: float = 5.0  # a statement failing more often than this is an insight
    statement_min_calls: int = 10  # calls a statement needs before its error rate counts
    critical_fragment_skew_ratio: float = 9.0  # a skew insight above this is critical
    critical_slow_statement_seconds: float = 3.0  # a slow-statement insight above this is critical
    critical_statement_error_percent: float = 50.0  # an error-prone-statement insight above this is critical

    def __post_init__(self) -> None:
        if self.unhealthy_cpu_percent < self.degraded_cpu_percent:
            raise ValueError("unhealthy_cpu_percent must not be below degraded_cpu_percent")
        if self.unhealthy_memory_bytes < self.degraded_memory_bytes:
            raise ValueError("unhealthy_memory_bytes must not be below degraded_memory_bytes")
        if self.offline_after_seconds <= 0:
            raise ValueError("offline_after_seconds must be positive")
        for warning, critical in (("fragment_skew_ratio", "critical_fragment_skew_ratio"),
                                  ("slow_statement_seconds", "critical_slow_statement_seconds"),
                                  ("statement_error_percent", "critical_statement_error_percent")):
            if getattr(self, critical) < getattr(self, warning):
                raise ValueError(f"{critical} must not be below {warning}")
        if not 0 <= self.cluster_degraded_ratio <= self.cluster_healthy_ratio <= 1:
            raise ValueError("need 0 <= cluster_degraded_ratio <= cluster_healthy_ratio <= 1")


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class AlertFinding:
    """One alert rule that fired: type, severity and a message for people."""

    type: str
    severity: str
    message: str


def worker_health(cpu_percent: float | None, memory_bytes: float | None, seconds_since_heartbeat: float,
                  recent_critical_errors: int = 0, process_status: str = "ok",
                  thresholds: Thresholds = DEFAULT_THRESHOLDS, process_pid: int | None = None) -> tuple[str, list[str]]:
    """(status, issues): offline (process gone, then no heartbeat), then unhealthy, then degraded, else healthy.

    A CPU or memory figure that was not read (None) raises nothing."""
    t = thresholds
    if process_status == "process_gone":
        return "offline", [f"process exited (pid {process_pid})" if process_pid is not None
                           else "no process found to monitor"]
    if seconds_since_heartbeat > t.offline_after_seconds:
        return "offline", [f"no heartbeat or activity for {seconds_text(seconds_since_heartbeat)} s "
                           f"(limit {seconds_text(t.offline_after_seconds)} s)"]
    unhealthy: list[str] = []
    degraded: list[str] = []
    if process_status == "access_denied":
        degraded.append("access to the monitored process was denied")
    if cpu_percent is not None and cpu_percent > t.unhealthy_cpu_percent:
        unhealthy.append(f"CPU usage {cpu_percent:.1f}% above {t.unhealthy_cpu_percent:.0f}%")
    elif cpu_percent is not None and cpu_percent > t.degraded_cpu_percent:
        degraded.append(f"CPU usage {cpu_percent:.1f}% above {t.degraded_cpu_percent:.0f}%")
    if memory_bytes is not None and memory_bytes > t.unhealthy_memory_bytes:
        unhealthy.append(f"memory {memory_bytes / GIB:.1f} GiB above {t.unhealthy_memory_bytes / GIB:.1f} GiB")
    elif memory_bytes is not None and memory_bytes > t.degraded_memory_bytes:
        degraded.append(f"memory {memory_bytes / GIB:.1f} GiB above {t.degraded_memory_bytes / GIB:.1f} GiB")
    if recent_critical_errors:
        degraded.append(f"{recent_critical_errors} critical error(s) in the last "
                        f"{seconds_text(t.critical_error_window_seconds)} s")
    if unhealthy:
        return "unhealthy", unhealthy + degraded
    return ("degraded", degraded) if degraded else ("healthy", [])


def seconds_text(seconds: float) -> str:
    """A duration for a message: 3 significant digits below 100 s (0.5, 1.25, 30), whole seconds above."""
    return f"{seconds:.0f}" if abs(seconds) >= 100 else f"{seconds:.3g}"


def query_health_status(finished: int, failed: int,
                        thresholds: Thresholds = DEFAULT_THRESHOLDS) -> tuple[str, list[str]]:
    """(status, issues) of a coordinator without workers, from its finished queries: degraded when more than
    alert_min_queries finished and under alert_success_percent of them succeeded, else healthy."""
    if finished <= 0:
        return "healthy", ["no workers registered; no queries finished yet"]
    success = percent(finished - failed, finished)
    issues = [f"no workers registered; {success:.1f}% of {finished} queries succeeded"]
    if finished > thresholds.alert_min_queries and success < thresholds.alert_success_percent:
        issues.append(f"query success rate below {thresholds.alert_success_percent:.0f}%")
        return "degraded", issues
    return "healthy", issues


def cluster_health_status(counts: Mapping[str, int], thresholds: Thresholds = DEFAULT_THRESHOLDS, *,
                          finished_queries: int = 0, failed_queries: int = 0) -> tuple[str, list[str]]:
    """(status, issues) from workers per state: >= 80 % healthy, >= 50 % degraded, else critical;
    without workers, the coordinator's query health (query_health_status over its finished queries)."""
    total = sum(counts.get(state, 0) for state in WORKER_STATES)
    if total == 0:
        return query_health_status(finished_queries, failed_queries, thresholds)
    healthy = counts.get("healthy", 0)
    ratio = healthy / total
    issues: list[str] = []
    if ratio < 1:
        issues.append(f"{percent(healthy, total):.0f}% of workers healthy ({healthy}/{total})")
    offline = counts.get("offline", 0)
    if offline:
        issues.append(f"{offline} worker(s) offline")
    if ratio >= thresholds.cluster_healthy_ratio:
        return "healthy", issues
    if ratio >= thresholds.cluster_degraded_ratio:
        return "degraded", issues
    return "critical", issues


def count_states(statuses: Sequence[str]) -> dict[str, int]:
    """Workers per state, every state present."""
    counts = {state: 0 for state in WORKER_STATES}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return counts


def worker_load(cpu_percent: float | None, memory_percent: float | None, running_queries: float) -> float | None:
    """(CPU % + memory % + 10 x running queries) / 3, each input averaged over the load window by the caller
    (docs/metrics.md, "Worker load"); None without a CPU or memory reading."""
    if cpu_percent is None or memory_percent is None:
        return None
    return (cpu_percent + memory_percent + 10.0 * running_queries) / 3.0


def load_balance_score(loads: Sequence[float]) -> float:
    """100 - 100 x CV (population stddev / mean), clamped to 0..100; 100 for < 2 workers or zero load."""
    return max(0.0, min(100.0, 100.0 - 100.0 * coefficient_of_variation(list(loads))))


def load_variance(loads: Sequence[float]) -> float:
    """Population variance of the loads; 0 for none."""
    if not loads:
        return 0.0
    mean = sum(loads) / len(loads)
    return sum((load - mean) ** 2 for load in loads) / len(loads)


def _finding(kind: str, message: str) -> AlertFinding:
    return AlertFinding(kind, ALERT_SEVERITIES[kind], message)


def worker_alerts(cpu_percent: float | None, memory_percent: float | None, cache_hits: int, cache_misses: int,
                  total_queries: int, successful_queries: int,
                  thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[AlertFinding]:
    """high_cpu, high_memory, low_cache_hit_rate and high_failure_rate, when they fire (no reading: no alert)."""
    t = thresholds
    found: list[AlertFinding] = []
    if cpu_percent is not None and cpu_percent > t.alert_cpu_percent:
        found.append(_finding("high_cpu", f"CPU usage is {cpu_percent:.1f}% (above {t.alert_cpu_percent:.0f}%)"))
    if memory_percent is not None and memory_percent > t.alert_memory_percent:
        found.append(_finding("high_memory",
                              f"Memory usage is {memory_percent:.1f}% (above {t.alert_memory_percent:.0f}%)"))
    lookups = cache_hits + cache_misses
    hit_rate = percent(cache_hits, lookups)
    if lookups > t.alert_cache_min_lookups and hit_rate < t.alert_cache_hit_percent:
        found.append(_finding("low_cache_hit_rate", f"Cache hit rate is {hit_rate:.1f}% over {lookups} lookups "
                                                    f"(below {t.alert_cache_hit_percent:.0f}%)"))
    success = percent(successful_queries, total_queries)
    if total_queries > t.alert_min_queries and success < t.alert_success_percent:
        found.append(_finding("high_failure_rate", f"Query success rate is {success:.1f}% over {total_queries} "
                                                   f"queries (below {t.alert_success_percent:.0f}%)"))
    return found


def cluster_alerts(status: str, offline_workers: Sequence[str], score: float, online_workers: int,
                   thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[AlertFinding]:
    """cluster_degraded/critical, workers_offline and poor_load_balance (>= 2 online workers)."""
    found: list[AlertFinding] = []
    if status in ("degraded", "critical"):
        found.append(_finding(f"cluster_{status}", f"Cluster health is {status}"))
    if offline_workers:
        found.append(_finding("workers_offline", f"{len(offline_workers)} worker(s) offline: "
                                                 + ", ".join(sorted(offline_workers))))
    if online_workers >= 2 and score < thresholds.poor_load_balance_score:
        found.append(_finding("poor_load_balance", f"Load balance score is {score:.0f} "
                                                   f"(below {thresholds.poor_load_balance_score:.0f})"))
    return found


def cluster_utilization(cpu_percents: Sequence[float]) -> float:
    """Mean CPU usage in percent of the online workers whose CPU was read; 0 without any."""
    return sum(cpu_percents) / len(cpu_percents) if cpu_percents else 0.0


def optional_percent(part: float, whole: float) -> float | None:
    """part / whole x 100, or None when whole is 0 (nothing measured)."""
    return 100.0 * part / whole if whole else None
