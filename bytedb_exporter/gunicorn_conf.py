"""gunicorn settings for the exporter: `gunicorn -c python:bytedb_exporter.gunicorn_conf 'bytedb_exporter.wsgi:app'`.

One worker process: the monitors keep their state in memory, and several processes would each
show a different part of it. Threads serve the requests (gthread rather than gevent, so that
psutil, sqlite3 and multiprocessing run unpatched), and nobody can take all of them:

- Live streams: every open dashboard holds a thread on /api/stream for as long as it is open. The
  app's cap (`limits.max_streams`, default 200) is lowered to `threads - RESERVED_THREADS` (32) in
  the worker, so at least 32 threads always stay for /metrics, /healthz and ingest; beyond the cap
  /api/stream answers 503 with Retry-After at once.
- Slow clients: the worker class is `GuardedThreadWorker` (bytedb_exporter/gunicorn_worker.py), which
  reads request headers in the event loop and hands a connection to a thread only once its header
  block is complete. Headers must be complete within 10 s (BYTEDB_EXPORTER_HEADER_TIMEOUT), and an
  address may have at most 64 connections with incomplete headers
  (BYTEDB_EXPORTER_INCOMPLETE_PER_CLIENT); beyond that its new connections are closed at once.
- Connections: `worker_connections` (4096, BYTEDB_EXPORTER_CONNECTIONS) bounds open sockets of every
  kind (streams, kept-alive, waiting for headers), far above streams plus one address's incomplete
  ones; the soft open-files limit is raised towards it (up to the hard limit) and it is lowered to
  what that limit allows, less 256 descriptors kept for the process itself.

Override with GUNICORN_CMD_ARGS, e.g. "--bind 0.0.0.0:8091", or BYTEDB_EXPORTER_THREADS.

Serve mode: BYTEDB_EXPORTER_CONFIG=/etc/bytedb-exporter/bytedb-exporter.yml serves that exporter
and binds to its listen address (BYTEDB_EXPORTER_BIND still wins); a bad file stops the start
with its problems listed.
"""
from __future__ import annotations

import os
import resource
import sys

from flask import Flask
from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from bytedb_exporter.config.loader import load_config
from bytedb_exporter.gunicorn_worker import GuardedThreadWorker

RESERVED_THREADS = 32  # threads no stream may take: /metrics, /healthz, the JSON API and ingest
FD_RESERVE = 256  # descriptors kept for the process itself (logs, SQLite, pipes, the demo's workers)
# How often a thread holding the GIL hands it on (Python's default 5 ms): a large scrape is pure Python,
# and at 1 ms /healthz p99 during back-to-back 1000-worker scrapes fell from 261-423 ms to ~55 ms
# (bench/bench_http.py). BYTEDB_EXPORTER_SWITCH_INTERVAL overrides.
SWITCH_INTERVAL = float(os.environ.get("BYTEDB_EXPORTER_SWITCH_INTERVAL", "0.001"))


def _default_bind() -> str:
    """The serve-mode config's listen address, else the dashboard's default."""
    path = os.environ.get("BYTEDB_EXPORTER_CONFIG")
    if not path:
        return "127.0.0.1:8091"
    config = load_config(path)
    return f"{config.host}:{config.port}"


def _open_files_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE to `wanted` if the hard limit allows (children inherit it); the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


bind = os.environ.get("BYTEDB_EXPORTER_BIND") or _default_bind()
workers = 1
worker_class = "bytedb_exporter.gunicorn_worker.GuardedThreadWorker"
threads = int(os.environ.get("BYTEDB_EXPORTER_THREADS", "256"))
CONNECTIONS = int(os.environ.get("BYTEDB_EXPORTER_CONNECTIONS", "4096"))
worker_connections = max(threads + 64, min(CONNECTIONS, _open_files_limit(CONNECTIONS + FD_RESERVE) - FD_RESERVE))
HEADER_TIMEOUT = float(os.environ.get("BYTEDB_EXPORTER_HEADER_TIMEOUT", "10"))
INCOMPLETE_PER_CLIENT = int(os.environ.get("BYTEDB_EXPORTER_INCOMPLETE_PER_CLIENT", "64"))
timeout = 0  # SSE responses are long-lived; the gthread worker heartbeats on its own
graceful_timeout = 10
keepalive = 5
accesslog = None


def post_fork(server: Arbiter, worker: Worker) -> None:
    """Give the worker this file's header timeout, per-address bound and GIL switch interval."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    if isinstance(worker, GuardedThreadWorker):
        worker.header_timeout = HEADER_TIMEOUT
        worker.max_incomplete_per_client = INCOMPLETE_PER_CLIENT


def post_worker_init(worker: Worker) -> None:
    """Keep RESERVED_THREADS threads free of streams: cap the loaded app's streams at threads - RESERVED_THREADS."""
    app = worker.wsgi
    if isinstance(app, Flask) and "bytedb" in app.extensions:
        hub = app.extensions["bytedb"].hub
        configured = hub.max_clients
        hub.cap(threads - RESERVED_THREADS)
        if hub.max_clients < configured:
            worker.log.info("at most %d live streams (%d threads, %d reserved), not max_streams %d",
                            hub.max_clients, threads, RESERVED_THREADS, configured)


def worker_exit(server: Arbiter, worker: Worker) -> None:
    """Stop the demo cluster's child processes with the worker."""
    wsgi = sys.modules.get("bytedb_exporter.wsgi")  # loaded in the worker, never in the master
    if wsgi is not None:
        wsgi.shutdown()
