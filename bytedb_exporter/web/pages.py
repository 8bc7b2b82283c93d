"""The dashboard page and one query's page."""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, current_app, render_template, url_for

pages = Blueprint("pages", __name__)


@pages.get("/")
def index() -> str:
    hub = current_app.extensions["bytedb"].hub
    return render_template("index.html", stream_interval_ms=int(hub.interval * 1000))


@pages.get("/queries/<path:query_id>")
def query_page(query_id: str) -> str:
    """One query's phases and fragments (drawn by static/query.js from /api/queries/<query_id>)."""
    # Every character of the id is escaped (url_for keeps "/" of a path), so "../.." stays inside the id.
    api_url = f"{url_for('api.queries')}/{quote(query_id, safe='')}"
    return render_template("query.html", query_id=query_id, api_url=api_url)
