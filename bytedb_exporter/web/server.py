"""A threaded WSGI server in a background thread (for the demo and the Dashboard class)."""
from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


class BackgroundServer:
    """Serves a WSGI app from a daemon thread until stop()."""

    def __init__(self, app: Any, host: str, port: int):
        self._server: BaseWSGIServer | None = make_server(host, port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"http-{port}", daemon=True)
        self._thread.start()
        address = self._server.server_address
        self.url = f"http://{address[0]}:{address[1]}"

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._thread.join(timeout=5)
