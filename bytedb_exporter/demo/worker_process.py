"""A demo worker: a real child process that runs SQL fragments on its own SQLite shard."""
from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import sqlite3
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from bytedb_exporter.demo.cache import LRUCache, normalize_sql

logger = logging.getLogger(__name__)
POLL_SECONDS = 0.2
_ID = struct.Struct("!Q")


@dataclass
class FragmentAnswer:
    """What the coordinator learned from running one fragment on one worker."""

    fragment_id: str
    ok: bool
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    row_count: int = 0
    result_bytes: int = 0
    exec_seconds: float = 0.0
    error: str | None = None
    cache_hit: bool = False
    cache_evictions: int = 0
    cache_bytes: int = 0
    request_bytes: int = 0
    answer_bytes: int = 0
    round_trip_seconds: float = 0.0
    result_blob: bytes = b""
    read_bytes: int | None = None  # bytes the worker read from its shard file for this fragment; None: unmeasured

    @property
    def network_seconds(self) -> float:
        """Round trip minus the execution time measured in the worker."""
        return max(0.0, self.round_trip_seconds - self.exec_seconds)

    def decode(self) -> None:
        """Unpickle the rows of a successful answer."""
        if self.ok and self.result_blob:
            self.columns, self.rows, _ = pickle.loads(self.result_blob)
            self.result_blob = b""


def encode_request(op: str, sql: str = "", params: Sequence[Any] = (), repeat: int = 1) -> bytes:
    """Serialized body of a request (the worker handle prefixes the request id); an uncached fragment runs
    at least `repeat` times (a heavier share of the work for this one)."""
    return pickle.dumps({"op": op, "sql": sql, "params": list(params), "repeat": repeat},
                        protocol=pickle.HIGHEST_PROTOCOL)


def _bytes_read() -> tuple[int, int] | None:
    """(bytes this process has read with read/pread so far, size of this reading itself) from Linux's
    /proc/self/io `rchar`; None where there is no such file."""
    try:
        with open("/proc/self/io", "rb") as io:
            text = io.read()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(b"rchar:"):
            return int(line.split()[1]), len(text)
    return None


def _execute(db: sqlite3.Connection, cache: LRUCache[tuple[bytes, int]], request: dict[str, Any],
             work_factor: int = 1) -> dict[str, Any]:
    """Run one fragment (or answer it from the fragment cache) and build the reply; a fragment that is
    not cached runs `work_factor` times, as on a shard with that many times the data."""
    started, before = time.perf_counter(), _bytes_read()
    params = tuple(request.get("params", ()))
    key = (normalize_sql(request["sql"]), params)
    reply: dict[str, Any] = {"id": request["id"], "ok": True, "error": None, "cache_hit": False, "evictions": 0}
    cached = cache.get(key)
    if cached is not None:
        blob, reply["row_count"] = cached
        reply["cache_hit"] = True
    else:
        try:
            cursor = db.execute(request["sql"], params)
            rows = cursor.fetchall()
            columns = [d[0] for d in cursor.description or ()]
            for _ in range(max(work_factor, int(request.get("repeat", 1))) - 1):
                db.execute(request["sql"], params).fetchall()
            blob = pickle.dumps((columns, rows, len(rows)), protocol=pickle.HIGHEST_PROTOCOL)
            reply["row_count"] = len(rows)
            reply["evictions"] = cache.put(key, (blob, len(rows)), len(blob))
        except (sqlite3.Error, ValueError, OverflowError) as exc:
            reply.update(ok=False, error=f"{type(exc).__name__}: {exc}", row_count=0)
            blob = b""
    reply["exec_seconds"] = time.perf_counter() - started
    after = _bytes_read()  # between the readings only SQLite reads (its shard file), plus the first reading
    reply["read_bytes"] = max(0, after[0] - before[0] - before[1]) if before and after else None
    reply["result"] = blob
    reply["result_bytes"] = len(blob)
    reply["cache_bytes"] = cache.size_bytes
    return reply


def worker_main(db_path: str, conn: Connection, parent_pid: int,
                cache_bytes: int = 256 * 1024, cache_ttl: float = 30.0, work_factor: int = 1) -> None:
    """Child process loop: answer requests until stop, parent death, EOF, SIGTERM or SIGINT."""
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        """Ask the loop to finish."""
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False)
    cache: LRUCache[tuple[bytes, int]] = LRUCache(cache_bytes, cache_ttl)
    try:
        while not stopping.is_set():
            if os.getppid() != parent_pid:
                break
            try:
                if not conn.poll(POLL_SECONDS):
                    continue
                raw = conn.recv_bytes()
                request = pickle.loads(raw[_ID.size:])
                request["id"] = _ID.unpack_from(raw)[0]
            except (EOFError, OSError):
                break
            op = request.get("op")
            if op == "stop":
                break
            if op == "ping":
                reply: dict[str, Any] = {"id": request["id"], "ok": True}
            else:
                reply = _execute(db, cache, request, work_factor)
            try:
                conn.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
            except (OSError, ValueError):
                break
    finally:
        db.close()
        conn.close()


@runtime_checkable
class _ProcessContext(Protocol):
    """A multiprocessing context with its own Process class (typeshed leaves it off BaseContext)."""

    Process: type[BaseProcess]


class WorkerProcess:
    """Coordinator-side handle of one worker child process."""

    def __init__(self, worker_id: str, db_path: Path, cache_bytes: int = 256 * 1024,
                 cache_ttl: float = 30.0, start_method: str = "spawn", work_factor: int = 1) -> None:
        """Handle for a worker serving `db_path` (each uncached fragment run `work_factor` times); call start()
        to launch it."""
        if work_factor < 1:
            raise ValueError(f"work_factor must be at least 1, got {work_factor}")
        self.worker_id = worker_id
        self.db_path = Path(db_path)
        self.cache_bytes = cache_bytes
        self.cache_ttl = cache_ttl
        self.work_factor = work_factor
        self._ctx = multiprocessing.get_context(start_method)
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self._seq = 0

    def start(self) -> None:
        """Launch the child process."""
        ctx = self._ctx
        if not isinstance(ctx, _ProcessContext):  # every concrete context (spawn, fork, forkserver) has one
            raise TypeError(f"multiprocessing context {ctx!r} has no Process class")
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        self._process = ctx.Process(
            target=worker_main, name=f"bytedb-demo-{self.worker_id}", daemon=True,
            args=(str(self.db_path), child_conn, os.getpid(), self.cache_bytes, self.cache_ttl, self.work_factor))
        self._process.start()
        child_conn.close()
        self._conn = parent_conn
        logger.info("started %s pid=%s on %s", self.worker_id, self._process.pid, self.db_path)

    @property
    def pid(self) -> int | None:
        """Process id of the child (None before start)."""
        return self._process.pid if self._process else None

    def is_alive(self) -> bool:
        """Whether the child process is running."""
        return bool(self._process and self._process.is_alive())

    def _call(self, body: bytes, timeout: float) -> tuple[dict[str, Any], int, int, float]:
        """Send an encoded request, wait for its reply; return reply, sent/received bytes, round trip."""
        if not self._lock.acquire(timeout=timeout):
            raise TimeoutError(f"{self.worker_id} busy for more than {timeout:.1f}s")
        try:
            if self._conn is None or not self.is_alive():
                code = self._process.exitcode if self._process else None
                raise ConnectionError(f"{self.worker_id} is not running (exit code {code})")
            self._seq += 1
            payload = _ID.pack(self._seq) + body
            sent_at = time.perf_counter()
            self._conn.send_bytes(payload)
            deadline = sent_at + timeout
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0 or not self._conn.poll(remaining):
                    raise TimeoutError(f"{self.worker_id} did not answer within {timeout:.1f}s")
                raw = self._conn.recv_bytes()
                received_at = time.perf_counter()
                reply = pickle.loads(raw)
                if reply.get("id") == self._seq:
                    return reply, len(payload), len(raw), received_at - sent_at
                logger.debug("%s dropped a stale reply %s", self.worker_id, reply.get("id"))
        except (TimeoutError, ConnectionError):
            raise
        except (EOFError, OSError) as exc:
            raise ConnectionError(f"{self.worker_id} connection lost: {type(exc).__name__}") from exc
        finally:
            self._lock.release()

    def execute(self, fragment_id: str, sql: str = "", params: Sequence[Any] = (), timeout: float = 10.0,
                encoded: bytes | None = None, decode: bool = True) -> FragmentAnswer:
        """Run one fragment on the worker; failures come back as an answer with ok=False."""
        body = encoded if encoded is not None else encode_request("query", sql, params)
        try:
            reply, sent, received, round_trip = self._call(body, timeout)
        except (TimeoutError, ConnectionError) as exc:
            return FragmentAnswer(fragment_id, ok=False, error=str(exc))
        answer = FragmentAnswer(
            fragment_id, ok=reply["ok"], row_count=reply.get("row_count", 0), result_bytes=reply["result_bytes"],
            exec_seconds=reply["exec_seconds"], error=reply.get("error"), cache_hit=reply["cache_hit"],
            cache_evictions=reply["evictions"], cache_bytes=reply["cache_bytes"], request_bytes=sent,
            answer_bytes=received, round_trip_seconds=round_trip, result_blob=reply["result"],
            read_bytes=reply.get("read_bytes"))
        if decode:
            answer.decode()
        return answer

    def ping(self, timeout: float = 2.0) -> bool:
        """Whether the worker answers a ping within `timeout`."""
        try:
            self._call(encode_request("ping"), timeout)
            return True
        except (TimeoutError, ConnectionError):
            return False

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the child to stop; terminate, then kill it if it does not."""
        if self._process is None:
            return
        if self._conn is not None:
            try:
                if self._lock.acquire(timeout=1.0):
                    try:
                        self._conn.send_bytes(_ID.pack(0) + encode_request("stop"))
                    finally:
                        self._lock.release()
            except (OSError, ValueError):
                pass
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(2.0)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(2.0)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        logger.info("stopped %s (exit code %s)", self.worker_id, self._process.exitcode)
