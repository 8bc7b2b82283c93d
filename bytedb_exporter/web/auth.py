"""Optional bearer-token or basic auth in front of every route; /metrics and /healthz on their own setting."""
from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from flask import Flask, request

from bytedb_exporter.config.models import AuthConfig
from bytedb_exporter.web.errors import json_error

OPEN_PATHS = ("/metrics", "/healthz")


def credentials_ok(header: str, auth: AuthConfig) -> bool:
    """True when the Authorization header carries the configured token or user and password (constant time)."""
    scheme, _, value = header.partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer" and auth.bearer_token:
        return hmac.compare_digest(value.encode(), auth.bearer_token.encode())
    if scheme == "basic" and auth.basic_username and auth.basic_password:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user_ok = hmac.compare_digest(user.encode(), auth.basic_username.encode())
        password_ok = hmac.compare_digest(password.encode(), auth.basic_password.encode())
        return user_ok and password_ok
    return False


def install_auth(app: Flask, auth: AuthConfig) -> None:
    """Refuse requests without valid credentials with 401 and no data (no-op when auth is off)."""
    if not auth.enabled:
        return
    challenge = 'Basic realm="bytedb-exporter"' if auth.basic_password else 'Bearer realm="bytedb-exporter"'

    @app.before_request
    def require_credentials() -> Any | None:
        if request.path in OPEN_PATHS and not auth.protect_metrics:
            return None
        if credentials_ok(request.headers.get("Authorization", ""), auth):
            return None
        response, code = json_error(401, "unauthorized", "this endpoint needs credentials: an Authorization "
                                                         "header with the configured bearer token or basic auth")
        response.headers["WWW-Authenticate"] = challenge
        return response, code
