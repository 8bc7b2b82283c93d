"""The web adapter: Flask app, JSON API, live stream and /metrics."""
from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
