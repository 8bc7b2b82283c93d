"""Real processes and HTTP for end-to-end tests: every wait is bounded, every process is stopped.

Processes run in their own process group; `stop_process` signals and then SIGKILLs what is left.
On Linux a child also gets SIGTERM when the test process dies, so nothing outlives a killed run.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import psutil

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
T = TypeVar("T")


# --------------------------------------------------------------------------- waiting

def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5,
              on_timeout: Callable[[], str] = lambda: "") -> T:
    """Call `check` until it returns something truthy; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except (OSError, ValueError, urllib.error.URLError) as error:  # not up yet
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}\n{on_timeout()}")
        time.sleep(interval)


# --------------------------------------------------------------------------- ports

def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_block(count: int, attempts: int = 50) -> int:
    """First port of `count` consecutive ports on 127.0.0.1 that were free a moment ago."""
    for _ in range(attempts):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = sock.getsockname()[1]
        if base + count <= 65535 and all(port_is_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no block of {count} free ports found")


# --------------------------------------------------------------------------- processes

_PR_SET_PDEATHSIG = 1
try:  # loaded here, in the parent: no dlopen between fork and exec
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):
    _PRCTL = None


def _die_with_parent() -> None:
    """In the child (Linux): get SIGTERM when the test process dies, so nothing is left behind."""
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"[{self.name}: no log]"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last lines of {self.name} log ({self.log_path}) ---\n{tail}"

    def assert_running(self) -> None:
        code = self.popen.poll()
        if code is not None:
            raise AssertionError(f"{self.name} exited with code {code}\n{self.log_tail()}")


def start_process(name: str, argv: Sequence[str], log_path: Path, cwd: Path | None = None,
                  env: dict | None = None) -> Process:
    """Start `argv` in a new session (own process group), stdout+stderr to `log_path`; `env` adds
    variables to this process's environment."""
    log = open(log_path, "wb")  # noqa: SIM115 - the child keeps it; closed when we close ours below
    try:
        popen = subprocess.Popen(
            list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=str(cwd) if cwd else None, env={**os.environ, **(env or {})}, start_new_session=True,
            # prctl only, no locks or allocation in the child: safe despite threads in the parent.
            preexec_fn=_die_with_parent if _PRCTL is not None else None,  # noqa: PLW1509
        )
    finally:
        log.close()
    return Process(name, popen, log_path)


def _signal_group(popen: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(popen.pid, sig)  # the child is its own group leader (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def stop_process(process: Process, sig: int = signal.SIGTERM, timeout: float = 15.0, group: bool = True,
                 kill_leftovers: bool = True) -> int | None:
    """Send `sig` to the process group (or only the leader), wait up to `timeout`, then SIGKILL the
    group unless `kill_leftovers` is False (to check first that the process stopped its own children)."""
    popen = process.popen
    if popen.poll() is None:
        if group:
            _signal_group(popen, sig)
        else:
            popen.send_signal(sig)
        try:
            popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(popen, signal.SIGKILL)
    if kill_leftovers:
        kill_group(process)
    return popen.returncode


def kill_group(process: Process) -> None:
    """SIGKILL whatever is left in the process group (e.g. the demo's worker processes)."""
    _signal_group(process.popen, signal.SIGKILL)
    try:
        process.popen.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def descendants(process: Process) -> list[psutil.Process]:
    """The process's children, grandchildren, ... now."""
    try:
        return psutil.Process(process.popen.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def leftovers(children: list[psutil.Process], timeout: float = 10.0) -> list[psutil.Process]:
    """The children still alive after `timeout` seconds (helpers such as multiprocessing's
    resource tracker leave shortly after their parent)."""
    _, alive = psutil.wait_procs(children, timeout=timeout)
    return [child for child in alive if child.status() != psutil.STATUS_ZOMBIE]


# --------------------------------------------------------------------------- HTTP

class Response(NamedTuple):
    status: int
    content_type: str
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> Response:
    """A GET; HTTP errors are returned, not raised."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Response(response.status, response.headers.get("Content-Type", ""), response.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, error.headers.get("Content-Type", ""), error.read())


def get_json(url: str) -> Any:
    """The JSON body of a GET that must answer 200."""
    response = http_get(url)
    assert response.status == 200, (url, response.status, response.text)
    return response.json()


def http_post(url: str, timeout: float = 5.0) -> int:
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def read_sse_events(url: str, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The first `count` data events of an event stream."""
    events: list[dict[str, Any]] = []
    with urllib.request.urlopen(url, timeout=timeout) as response:
        assert response.headers.get("Content-Type", "").startswith("text/event-stream")
        data: list[str] = []
        deadline = time.monotonic() + timeout
        while len(events) < count and time.monotonic() < deadline:
            line = response.readline().decode()
            if not line:
                break
            line = line.rstrip("\n")
            if line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and data:
                events.append(json.loads("".join(data)))
                data = []
    return events
