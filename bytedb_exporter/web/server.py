"""A threaded WSGI server in a background thread (for the demo and the Dashboard class)."""
from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


class BackgroundServer:
    """Serves a WSGI app from a daemon thread until stop()."""

    def __init__(self, app: Any, host: str, port: int):
        server = make_server(host, port, app, threaded=True)
        bound_host, bound_port = server.server_address[:2]
        if not isinstance(bound_host, str):  # a bound AF_INET/AF_INET6 socket reports its host as text
            server.server_close()
            raise TypeError(f"expected a text host in the server address, got {bound_host!r}")
        self.url = f"http://{bound_host}:{bound_port}"
        self._server: BaseWSGIServer | None = server
        self._thread = threading.Thread(target=server.serve_forever, name=f"http-{port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._thread.join(timeout=5)
