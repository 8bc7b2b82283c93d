"""Remote workers: a monitor mirroring a worker exporter's /api/worker JSON, and the poller that feeds it."""
from __future__ import annotations

import http.client
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from bytedb_exporter.cluster.collectors import worker_collector
from bytedb_exporter.cluster.worker import MIB
from bytedb_exporter.cluster.worker_document import MAX_MB, DocumentError, check_worker_document
from bytedb_exporter.cluster.worker_models import PerformanceAlert, WorkerHealthStatus, WorkerStats, WorkerVitals
from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.rules import health
from bytedb_exporter.rules.health import Thresholds

log = logging.getLogger(__name__)
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
# Why a poll failed: the `reason` label of bytedb_remote_worker_poll_failures_total (docs/metrics.md).
POLL_FAILURES = ("timeout", "connection", "http_status", "too_large", "not_json", "invalid_document", "wrong_worker")
NOT_POLLED, ANSWERING = "not polled yet", "answering"


class PollError(Exception):
    """A poll that failed, with its reason (one of POLL_FAILURES) and what happened."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


class RemoteWorkerMonitor:
    """A worker seen through its exporter: the last polled stats, offline when polls fail or grow stale.

    Offers what the coordinator, views and collectors use of a WorkerMonitor; nothing here touches the network.
    """

    def __init__(self, worker_id: str, url: str, registry: MetricsRegistry | None = None,
                 thresholds: Thresholds | None = None, *, stale_after_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.worker_id = worker_id
        self.url = url.rstrip("/")
        self.registry = registry or MetricsRegistry()
        self.thresholds = thresholds or health.DEFAULT_THRESHOLDS
        self.stale_after_seconds = stale_after_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._stats: WorkerStats | None = None
        self._polled_at: float | None = None
        self._condition = NOT_POLLED  # NOT_POLLED, ANSWERING or the reason of the failing polls
        self._failure: str | None = NOT_POLLED
        labels = {"worker_id": worker_id}
        self._m_up = self.registry.gauge("remote_worker_up", "1 when the last poll of a remote worker exporter "
                                         "succeeded.", labels)
        self._m_failures = {reason: self.registry.counter(
            "remote_worker_poll_failures_total", "Failed polls of a remote worker exporter, by reason (timeout, "
            "connection, http_status, too_large, not_json, invalid_document, wrong_worker).",
            {**labels, "reason": reason}) for reason in POLL_FAILURES}
        worker_collector(self.registry).add(self)

    def record_poll(self, document: Any) -> None:
        """Keep a polled /api/worker document; an invalid one, or another worker's, counts as a failure."""
        try:
            stats = WorkerStats.from_dict(check_worker_document(document, self.worker_id))
        except DocumentError as error:
            self.record_failure(error.reason, str(error))
            return
        except Exception as error:  # a checked document converts; whatever still fails is the document's fault
            self.record_failure("invalid_document", f"{type(error).__name__}: {error}")
            return
        with self._lock:
            before = self._condition
            self._condition, self._failure, self._stats, self._polled_at = ANSWERING, None, stats, self._clock()
        if before != ANSWERING:
            log.info("remote worker %s at %s %s", self.worker_id, self.url,
                     "answers" if before == NOT_POLLED else f"answers again (after {before})")
        self._m_up.set(1)

    def record_failure(self, reason: str, detail: str) -> None:
        """The last poll failed for `reason` (one of POLL_FAILURES); the worker is offline until one succeeds."""
        if reason not in POLL_FAILURES:
            raise ValueError(f"poll failure reason {reason!r} is not one of {', '.join(POLL_FAILURES)}")
        with self._lock:
            before, self._condition, self._failure = self._condition, reason, f"{reason}: {detail}"
        if before != reason:
            log.warning("remote worker %s at %s not answering (%s): %s", self.worker_id, self.url, reason, detail)
        self._m_up.set(0)
        self._m_failures[reason].inc()

    def _snapshot(self) -> tuple[WorkerStats, str | None, float]:
        """(last stats, why offline or None, seconds since the last successful poll)."""
        with self._lock:
            stats, failure, polled = self._stats, self._failure, self._polled_at
        age = self._clock() - polled if polled is not None else 0.0
        if failure is None and age > self.stale_after_seconds:
            failure = f"no successful poll for {age:.1f} s"
        return stats or WorkerStats.empty(self.worker_id), failure, age

    def vitals(self) -> WorkerVitals:
        """Health, load and alert inputs from the last poll (read only)."""
        return self._vitals(*self._snapshot())

    def _vitals(self, stats: WorkerStats, failure: str | None, age: float) -> WorkerVitals:
        r, q, c = stats.resource_utilization, stats.query_stats, stats.cache_stats
        status, issues = stats.status.status, list(stats.status.issues)
        if failure is not None:
            status, issues = "offline", [f"worker exporter {self.url} not answering: {failure}"]
        return WorkerVitals(self.worker_id, status, issues, stats.status.seconds_since_heartbeat + age,
                            stats.status.uptime.total_seconds(), r.cpu_usage_percent, _bytes(r.memory_usage_mb),
                            r.memory_usage_percent, q.active_queries, stats.load, q.total_queries,
                            q.successful_queries, c.cache_hits, c.cache_misses, r.process_status)

    def get_worker_stats(self) -> WorkerStats:
        """The last polled stats; status says offline (and why) when the exporter does not answer."""
        stats, failure, age = self._snapshot()
        vitals = self._vitals(stats, failure, age)
        status = WorkerHealthStatus(vitals.status, datetime.now(timezone.utc),
                                    "; ".join(vitals.issues) or "Worker is healthy", stats.status.uptime,
                                    vitals.issues, vitals.seconds_since_heartbeat)
        return WorkerStats(stats.worker_id, status, stats.performance, stats.resource_utilization, stats.query_stats,
                           stats.cache_stats, stats.network_stats, list(stats.recent_errors), stats.load)

    def check_performance_alerts(self, vitals: WorkerVitals | None = None) -> list[PerformanceAlert]:
        """The worker alert rules over the last polled figures; none while offline."""
        v = vitals or self.vitals()
        if v.status == "offline":
            return []
        return v.performance_alerts(self.thresholds)

    def close(self) -> None:
        """Leave the scrape-time collector."""
        worker_collector(self.registry).remove(self)


def _bytes(mebibytes: float | None) -> int | None:
    """Bytes of a MiB reading; None (absent) when there is none or it is not a finite size up to MAX_MB."""
    if mebibytes is None or not (math.isfinite(mebibytes) and 0 <= mebibytes <= MAX_MB):
        return None
    return int(mebibytes * MIB)


class WorkerPoller:
    """Polls every remote worker's /api/worker concurrently in the background, each within a deadline.

    The whole answer (connect, headers, body) must arrive within `timeout` seconds, so a worker that
    trickles its answer fails with reason timeout; a worker whose previous poll is still running is not
    polled again, so one that hangs holds one thread and delays nobody.
    """

    def __init__(self, monitors: Sequence[RemoteWorkerMonitor], interval: float = 5.0, timeout: float = 2.0,
                 bearer_token: str | None = None):
        self.monitors = list(monitors)
        self.interval, self.timeout = interval, timeout
        self._headers = {"Accept": "application/json", "User-Agent": "bytedb-exporter"}
        if bearer_token:
            self._headers["Authorization"] = f"Bearer {bearer_token}"
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.monitors)), thread_name_prefix="bytedb-poll")
        self._in_flight: dict[str, Future] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self, monitor: RemoteWorkerMonitor) -> None:
        """One poll of one worker, its outcome recorded on the monitor."""
        try:
            document = parse_answer(fetch(f"{monitor.url}/api/worker", self._headers, self.timeout))
        except PollError as error:
            monitor.record_failure(error.reason, str(error))
            return
        monitor.record_poll(document)

    def poll_round(self) -> None:
        """Start a poll of every worker not still busy with the previous one."""
        for monitor in self.monitors:
            running = self._in_flight.get(monitor.worker_id)
            if running is None or running.done():
                self._in_flight[monitor.worker_id] = self._pool.submit(self.poll, monitor)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            self.poll_round()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def start(self) -> None:
        """Poll in a daemon thread, the first round at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bytedb-worker-poller", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop polling; running polls end within the timeout."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 1)
        self._pool.shutdown(wait=False, cancel_futures=True)


def fetch(url: str, headers: dict[str, str], timeout: float, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """The body of a 200 answer to GET `url`, all of it (connect, headers, body) within `timeout` seconds.

    Direct connections only (exporters are never reached through a proxy); PollError says why not.
    """
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname or "", parts.port, timeout=timeout)
    expired = threading.Event()
    watchdog = threading.Timer(timeout, _expire, (connection, expired))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.connect()
        sock = connection.sock  # kept: http.client drops it from the connection once a response says close
        if expired.is_set():  # the deadline passed while connecting, before the watchdog could see a socket
            raise PollError("timeout", f"no connection within {timeout:g} s")
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers)
        response = connection.getresponse()
        if response.status != 200:
            raise PollError("http_status", f"HTTP {response.status} {response.reason}")
        length = response.getheader("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            raise PollError("too_large", f"answer of {length} bytes, the limit is {limit}")
        chunks: list[bytes] = []
        size = 0
        while chunk := _read_chunk(response, sock, deadline, timeout, size):
            size += len(chunk)
            if size > limit:
                raise PollError("too_large", f"answer larger than {limit} bytes")
            chunks.append(chunk)
        if expired.is_set():  # the deadline cut the body short (a shut-down socket reads as its end)
            raise PollError("timeout", f"answer not complete within {timeout:g} s ({size} bytes read)")
        if response.length:
            raise PollError("connection", f"answer ended after {size} of {length} bytes")
        return b"".join(chunks)
    except PollError:
        raise
    except Exception as error:  # refused, reset, bad status line, TLS, a deadline cut short: all mean offline
        if expired.is_set() or isinstance(error, TimeoutError):
            raise PollError("timeout", f"no complete answer within {timeout:g} s") from None
        raise PollError("connection", f"{type(error).__name__}: {error}") from None
    finally:
        watchdog.cancel()
        connection.close()


def _read_chunk(response: http.client.HTTPResponse, sock: socket.socket | None, deadline: float, timeout: float,
                size: int) -> bytes:
    """The next piece of the body (b"" at its end), waiting at most until the deadline."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise PollError("timeout", f"answer not complete within {timeout:g} s ({size} bytes read)")
    if sock is not None:
        sock.settimeout(remaining)
    return response.read1(CHUNK_BYTES)


def _expire(connection: http.client.HTTPConnection, expired: threading.Event) -> None:
    """At the deadline: end a poll blocked anywhere (also in headers sent a byte at a time)."""
    expired.set()
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: the poll has ended


def parse_answer(body: bytes) -> Any:
    """The JSON document of an answer; PollError(not_json) when it is none."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:  # not UTF-8 or not JSON; RecursionError: nested too deeply
        raise PollError("not_json", f"answer is not JSON: {type(error).__name__}: {str(error)[:200]}") from None
