"""The dashboard page."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template

pages = Blueprint("pages", __name__)


@pages.get("/")
def index() -> str:
    hub = current_app.extensions["bytedb"].hub
    return render_template("index.html", stream_interval_ms=int(hub.interval * 1000))
