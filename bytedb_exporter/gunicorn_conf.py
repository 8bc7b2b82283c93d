"""gunicorn settings for the exporter: `gunicorn -c python:bytedb_exporter.gunicorn_conf 'bytedb_exporter.wsgi:app'`.

One worker process: the monitors keep their state in memory, and several processes would each
show a different part of it. Threads serve the requests: every open dashboard holds one
connection to /api/stream for as long as it is open, so `threads` bounds the number of live
viewers plus concurrent scrapes (gthread is used instead of gevent so that psutil, sqlite3 and
multiprocessing run unpatched). Override with GUNICORN_CMD_ARGS, e.g. "--bind 0.0.0.0:8091".

Serve mode: BYTEDB_EXPORTER_CONFIG=/etc/bytedb-exporter/bytedb-exporter.yml serves that exporter
and binds to its listen address (BYTEDB_EXPORTER_BIND still wins); a bad file stops the start
with its problems listed.
"""
import os
import sys

from bytedb_exporter.config.loader import load_config


def _default_bind() -> str:
    """The serve-mode config's listen address, else the dashboard's default."""
    path = os.environ.get("BYTEDB_EXPORTER_CONFIG")
    if not path:
        return "127.0.0.1:8091"
    config = load_config(path)
    return f"{config.host}:{config.port}"


bind = os.environ.get("BYTEDB_EXPORTER_BIND") or _default_bind()
workers = 1
worker_class = "gthread"
threads = int(os.environ.get("BYTEDB_EXPORTER_THREADS", "256"))
timeout = 0  # SSE responses are long-lived; the gthread worker heartbeats on its own
graceful_timeout = 10
keepalive = 5
accesslog = None


def worker_exit(server, worker):  # noqa: ARG001 (gunicorn's hook signature)
    """Stop the demo cluster's child processes with the worker."""
    wsgi = sys.modules.get("bytedb_exporter.wsgi")  # loaded in the worker, never in the master
    if wsgi is not None:
        wsgi.shutdown()
