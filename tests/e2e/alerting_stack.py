"""A real Alertmanager and a webhook receiver for end-to-end tests."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from processes import Process, http_get, start_process, wait_for
from support import free_port


class Webhook:
    """An http.server that keeps every Alertmanager webhook notification it gets, with its path."""

    def __init__(self) -> None:
        self.notifications: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with received._lock:
                    received.notifications.append((self.path, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return list(self.notifications)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def webhook() -> Iterator[Webhook]:
    receiver = Webhook()
    try:
        yield receiver
    finally:
        receiver.close()


def start_alertmanager(binary: str, config_path: Path, workdir: Path) -> tuple[Process, str]:
    """An Alertmanager on a free port (no cluster gossip), its data under `workdir`; waits until ready."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_process("alertmanager", [
        binary, f"--config.file={config_path}", f"--storage.path={workdir / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
    ], workdir / "alertmanager.log", cwd=workdir)

    def ready() -> bool:
        process.assert_running()
        return http_get(f"{url}/-/ready", timeout=2).status == 200

    wait_for(ready, 30, "alertmanager to be ready", on_timeout=process.log_tail)
    return process, url
