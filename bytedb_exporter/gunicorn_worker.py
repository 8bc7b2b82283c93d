"""GuardedThreadWorker: gunicorn's gthread worker that reads request headers in its event loop, not in a thread.

gunicorn 27's ThreadWorker hands a connection to a thread as soon as its first byte arrives, and
the thread then blocks in the HTTP parser until the header block is complete: a client that sends
headers slowly (slowloris) holds a thread for as long as it likes. Here every connection, new or
kept alive, passes through `enqueue_req` (gunicorn's one entry to the thread pool): its bytes are
read without blocking into a buffer in the event loop until `\\r\\n\\r\\n`, then the connection goes
to the pool with the buffer given back to the parser (`unreader.unread`). A connection whose
headers are not complete within `header_timeout` seconds is closed, and so is a new one from an
address that already has `max_incomplete_per_client` connections with incomplete headers.
TLS, HTTP/2 prior knowledge, the PROXY protocol and uwsgi take gunicorn's own path unchanged.
"""
from __future__ import annotations

import selectors
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from socket import socket

from gunicorn.http.parser import Parser
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import TConn, ThreadWorker

HEADERS_END = b"\r\n\r\n"
READ_SIZE = 65536
STOP_LINGER = 2.0  # seconds a stopping worker still waits for headers (gunicorn's STOP_KEEPALIVE_LINGER)
_TOO_LARGE_BODY = b'{"error": "headers_too_large", "detail": "the request header block is too long"}'
TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\n"
             b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_TOO_LARGE_BODY), _TOO_LARGE_BODY))


@dataclass(eq=False)
class HeaderWait:
    """A connection whose request headers are still arriving."""

    conn: TConn
    client: str
    deadline: float
    data: bytearray = field(default_factory=bytearray)


class GuardedThreadWorker(ThreadWorker):
    """gthread with request headers read in the event loop, a header timeout and a per-address bound."""

    header_timeout = 10.0  # seconds from arrival (or from a kept-alive connection's next byte) to \r\n\r\n
    max_incomplete_per_client = 64  # connections of one address with incomplete headers; beyond: closed at once
    max_header_bytes = 64 * 1024  # a longer header block is answered 431 and closed

    def init_process(self) -> None:
        self.waiting: dict[TConn, HeaderWait] = {}  # oldest first: deadlines are arrival + the same timeout
        self.incomplete: Counter[str] = Counter()
        self.stop_deadline: float | None = None
        super().init_process()

    def enqueue_req(self, conn: TConn) -> None:
        """Give `conn` to a thread once its request headers are in; until then read them here."""
        if not self._reads_headers(conn):
            super().enqueue_req(conn)
            return
        conn.sock.setblocking(False)  # a connection with read-ahead comes here still blocking
        held = conn.parser.unreader.take_buffered() if isinstance(conn.parser, Parser) else b""
        deadline = min(time.monotonic() + self.header_timeout, self.stop_deadline or float("inf"))
        wait = HeaderWait(conn, _address(conn), deadline, bytearray(held))
        if self._read(wait):
            return
        if self.incomplete[wait.client] >= self.max_incomplete_per_client:
            self._close(wait)
            return
        self.waiting[conn] = wait
        self.incomplete[wait.client] += 1
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, wait))

    def _reads_headers(self, conn: TConn) -> bool:
        """Plain HTTP/1.x, whose header block ends with \\r\\n\\r\\n: the only kind read here."""
        cfg = self.cfg
        return (not cfg.is_ssl and not conn.is_http2 and cfg.proxy_protocol == "off"
                and getattr(cfg, "protocol", "http") == "http"
                and not negotiation.prior_knowledge_allowed(cfg, conn.client))

    def _on_readable(self, wait: HeaderWait, _sock: socket) -> None:
        self._read(wait)

    def _read(self, wait: HeaderWait) -> bool:
        """Read what is there; True once the connection is handed over or closed."""
        if HEADERS_END not in wait.data:
            try:
                chunk = wait.conn.sock.recv(READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                chunk = b""
            if not chunk:
                self._close(wait)
                return True
            start = max(0, len(wait.data) - len(HEADERS_END) + 1)
            wait.data += chunk
            if wait.data.find(HEADERS_END, start) < 0:
                if len(wait.data) <= self.max_header_bytes:
                    return False
                _send_quietly(wait.conn.sock, TOO_LARGE)
                self._close(wait)
                return True
        self._hand_over(wait)
        return True

    def _hand_over(self, wait: HeaderWait) -> None:
        self._forget(wait)
        conn = wait.conn
        conn.init()  # plain HTTP/1.x: only makes the parser (no I/O); idempotent for kept-alive connections
        if not isinstance(conn.parser, Parser):
            raise TypeError(f"expected an HTTP/1.x parser, got {type(conn.parser).__name__}")
        conn.parser.unreader.unread(bytes(wait.data))
        conn.data_ready = True
        super().enqueue_req(conn)

    def _forget(self, wait: HeaderWait) -> None:
        """Stop watching a waiting connection (it was handed over or closed)."""
        if self.waiting.pop(wait.conn, None) is None:
            return
        self.poller.unregister(wait.conn.sock)
        self.incomplete[wait.client] -= 1
        if self.incomplete[wait.client] <= 0:
            del self.incomplete[wait.client]

    def _close(self, wait: HeaderWait) -> None:
        self._forget(wait)
        self.nr_conns -= 1
        wait.conn.close()

    def murder_pending(self) -> None:
        """gunicorn's sweep of deferred connections, then the header timeout (capped once the worker stops)."""
        super().murder_pending()
        now = time.monotonic()
        if not self.alive and self.stop_deadline is None:
            self.stop_deadline = now + STOP_LINGER
            for wait in self.waiting.values():
                wait.deadline = min(wait.deadline, self.stop_deadline)
        while self.waiting:
            oldest = next(iter(self.waiting.values()))
            if oldest.deadline > now:
                break
            self._close(oldest)


def _address(conn: TConn) -> str:
    """The client's address without the port ('' for a Unix socket)."""
    client = conn.client
    return str(client[0]) if isinstance(client, tuple) and client else ""


def _send_quietly(sock: socket, data: bytes) -> None:
    try:
        sock.send(data)
    except OSError:
        pass
