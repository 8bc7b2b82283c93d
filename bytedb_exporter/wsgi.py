"""WSGI entry point: `gunicorn -c python:bytedb_exporter.gunicorn_conf 'bytedb_exporter.wsgi:app'`.

The environment chooses what is served:
- BYTEDB_EXPORTER_CONFIG=FILE: serve mode, a coordinator or worker exporter as the YAML file
  says (the same as `bytedb-exporter serve --config FILE`);
- BYTEDB_EXPORTER_DEMO_WORKERS=N: the demo cluster with N worker processes (and
  BYTEDB_EXPORTER_DEMO_QPS, default 20), inside this gunicorn worker;
- otherwise an empty coordinator dashboard, to which a program adds monitors.
"""
from __future__ import annotations

import logging
import os

from flask import Flask

from bytedb_exporter.config.loader import load_config
from bytedb_exporter.demo_app import Demo, DemoOptions
from bytedb_exporter.serve import Service
from bytedb_exporter.web.app import create_app

log = logging.getLogger(__name__)
demo: Demo | None = None
service: Service | None = None


def build_app() -> Flask:
    """The app the environment asks for."""
    global demo, service
    config_path = os.environ.get("BYTEDB_EXPORTER_CONFIG")
    if config_path:
        service = Service(load_config(config_path))
        service.start()
        return service.app
    workers = os.environ.get("BYTEDB_EXPORTER_DEMO_WORKERS")
    if not workers:
        return create_app()
    options = DemoOptions(workers=int(workers), qps=float(os.environ.get("BYTEDB_EXPORTER_DEMO_QPS", "20")),
                          worker_base_port=int(os.environ.get("BYTEDB_EXPORTER_DEMO_WORKER_PORT", "0")))
    demo = Demo(options, log.info)
    demo.start(serve=False)
    return demo.dashboard.app


def shutdown() -> None:
    """Stop what build_app started (the gunicorn config calls this when its worker exits)."""
    if demo is not None:
        demo.stop()
    if service is not None:
        service.stop()


app = build_app()
