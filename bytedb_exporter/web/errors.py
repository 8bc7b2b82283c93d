"""Every HTTP error as JSON: {"error": ..., "detail": ...}."""
from __future__ import annotations

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException


class BadRequest(HTTPException):
    """A 400 whose message names what was wrong."""

    code = 400

    def __init__(self, error: str, detail: str):
        super().__init__(description=detail)
        self.error = error


def json_error(code: int, error: str, detail: str) -> tuple[Response, int]:
    """A JSON error response."""
    return jsonify({"error": error, "detail": detail}), code


def register_error_handlers(app: Flask) -> None:
    """Render every HTTPException (404, 405, 400 ...) as JSON."""

    @app.errorhandler(HTTPException)
    def handle(error: HTTPException) -> tuple[Response, int]:
        name = getattr(error, "error", None) or (error.name or "error").lower().replace(" ", "_")
        response, code = json_error(error.code or 500, name, error.description or "")
        for header, value in error.get_headers():
            if header in ("Allow", "WWW-Authenticate"):
                response.headers[header] = value
        return response, code
