"""Start and stop real child processes for end-to-end tests, with bounded waits."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import psutil


def start(args: Sequence[str], log_path: Path, env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    """Start a child in its own process group, output to `log_path`."""
    log = open(log_path, "wb")
    return subprocess.Popen(list(args), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **(env or {})})


def descendants(process: subprocess.Popen) -> List[psutil.Process]:
    try:
        return psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def leftovers(children: List[psutil.Process], timeout: float = 10.0) -> List[psutil.Process]:
    """The children still alive after `timeout` seconds (helpers such as multiprocessing's
    resource tracker leave shortly after their parent)."""
    _, alive = psutil.wait_procs(children, timeout=timeout)
    return [child for child in alive if child.status() != psutil.STATUS_ZOMBIE]


def stop(process: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 30.0) -> Optional[int]:
    """Ask the child to stop; kill its whole group when it does not within `timeout`."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    return process.returncode


def http_get(url: str, headers: Optional[Dict[str, str]] = None, timeout: float = 10.0):
    """(status, content type, body text) of a GET; HTTP errors are returned, not raised."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read().decode()


def get_json(url: str) -> Any:
    status, _, body = http_get(url)
    assert status == 200, (url, status, body)
    return json.loads(body)


def wait_until(check, timeout: float, what: str, process: Optional[subprocess.Popen] = None,
               log_path: Optional[Path] = None) -> Any:
    """Poll `check()` until it returns a truthy value; fail naming `what` (with the child's log) otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            break
        try:
            result = check()
        except (OSError, AssertionError, ValueError):
            result = None
        if result:
            return result
        time.sleep(0.25)
    log = log_path.read_text(errors="replace")[-3000:] if log_path and log_path.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{log}")


def read_sse_events(url: str, count: int, timeout: float = 20.0) -> List[Dict[str, Any]]:
    """The first `count` data events of an event stream."""
    events: List[Dict[str, Any]] = []
    with urllib.request.urlopen(url, timeout=timeout) as response:
        assert response.headers.get("Content-Type", "").startswith("text/event-stream")
        data: List[str] = []
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


PYTHON = sys.executable
