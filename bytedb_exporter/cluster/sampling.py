"""Non-blocking psutil sampling of one process and of a data path's disk."""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

PidProvider = Callable[[], int | None]


@dataclass(frozen=True)
class ResourceSample:
    """One reading of a process and its data path; status is ok, process_gone, access_denied or not_sampled.

    A figure that was not read is None (the process fields unless status is ok, the disk fields when
    the data path is unset or unreadable); `pid` is the process read, or the one that exited.
    """

    status: str = "not_sampled"
    cpu_percent: float | None = None
    memory_bytes: int | None = None
    memory_percent: float | None = None
    open_fds: int | None = None
    connections: int | None = None
    threads: int | None = None
    disk_used_bytes: int | None = None
    disk_total_bytes: int | None = None
    disk_percent: float | None = None
    pid: int | None = None
    io_read_bytes: int = 0
    io_write_bytes: int = 0
    cpu_seconds: float | None = None

    @property
    def ok(self) -> bool:
        """True when the process was read."""
        return self.status == "ok"


class ProcessSampler:
    """Samples a process (this one by default) without sleeping.

    CPU percent is measured since the previous measurement (`cpu_percent(interval=None)`), so
    the first sample of a process reports 0.0; samples closer than `min_cpu_interval` seconds
    repeat the last figure, because a few milliseconds of CPU time are below the clock tick.
    With `pid_provider`, a vanished process is looked up again on the next sample; until one is
    found, samples say process_gone with the pid of the process last read.
    """

    def __init__(self, pid: int | None = None, pid_provider: PidProvider | None = None,
                 data_path: str | None = None, min_cpu_interval: float = 0.1):
        if pid is not None and pid_provider is not None:
            raise ValueError("give either pid or pid_provider, not both")
        self.data_path = data_path
        self._pid_provider = pid_provider
        self._pid = os.getpid() if pid is None and pid_provider is None else pid
        self._process: psutil.Process | None = None
        self._last_pid: int | None = None
        self._min_cpu_interval = min_cpu_interval
        self._cpu = (0.0, 0.0)  # (percent, monotonic time of the measurement)
        self._total_memory = psutil.virtual_memory().total
        self._lock = threading.Lock()
        self._disk_error_logged = False

    def _resolve(self) -> psutil.Process | None:
        """The live Process, created or re-resolved when needed (raises psutil.Error)."""
        if self._process is not None and (self._pid_provider is None or self._process.is_running()):
            return self._process
        pid = self._pid_provider() if self._pid_provider is not None else self._pid
        if pid is None:
            return None
        self._process = psutil.Process(pid)
        self._process.cpu_percent(interval=None)  # prime: the next call measures from here
        self._cpu = (0.0, time.monotonic())
        return self._process

    def sample(self) -> ResourceSample:
        """Read the process and the disk; a vanished or forbidden process sets the status, never raises."""
        with self._lock:
            disk = self._disk()
            try:
                process = self._resolve()
                if process is None:
                    return ResourceSample(status="process_gone", pid=self._last_pid, **disk)
                sample = self._read(process, disk)
                self._last_pid = sample.pid
                return sample
            except psutil.NoSuchProcess:
                status = "process_gone"
            except psutil.AccessDenied:
                status = "access_denied"
            except psutil.Error as error:
                log.warning("cannot sample process %s: %s", self._pid, error)
                status = "process_gone"
            pid = self._process.pid if self._process is not None else self._pid
            pid = pid if pid is not None else self._last_pid
            if status == "process_gone" and self._pid_provider is not None:
                self._process = None
            return ResourceSample(status=status, pid=pid, **disk)

    def _read(self, process: psutil.Process, disk: dict) -> ResourceSample:
        with process.oneshot():
            if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
                raise psutil.NoSuchProcess(process.pid)
            cpu, measured = self._cpu
            if time.monotonic() - measured >= self._min_cpu_interval:
                cpu = process.cpu_percent(interval=None)
                self._cpu = (cpu, time.monotonic())
            rss = process.memory_info().rss
            times = process.cpu_times()
            threads = process.num_threads()
            if sys.platform == "win32":
                fds = process.num_handles()
            else:
                fds = process.num_fds()
            io = _io_counters(process)
        connections = len(process.net_connections(kind="inet"))
        return ResourceSample(
            status="ok", cpu_percent=cpu, memory_bytes=rss,
            memory_percent=100.0 * rss / self._total_memory if self._total_memory else None,
            open_fds=fds, connections=connections, threads=threads, pid=process.pid,
            io_read_bytes=io[0], io_write_bytes=io[1], cpu_seconds=times.user + times.system, **disk,
        )

    def _disk(self) -> dict:
        if not self.data_path:
            return {}
        try:
            usage = psutil.disk_usage(self.data_path)
        except OSError as error:
            if not self._disk_error_logged:
                log.warning("cannot read disk usage of %s: %s", self.data_path, error)
                self._disk_error_logged = True
            return {}
        self._disk_error_logged = False
        return {"disk_used_bytes": usage.used, "disk_total_bytes": usage.total, "disk_percent": usage.percent}


def _io_counters(process: psutil.Process) -> tuple[int, int]:
    """(read bytes, written bytes) of the process; zeros where the platform or permissions hide them."""
    try:
        counters = process.io_counters()
    except (AttributeError, psutil.AccessDenied):
        return 0, 0
    return counters.read_bytes, counters.write_bytes


def pid_file_provider(path: str) -> PidProvider:
    """A PidProvider reading the pid from a file each time (None while it is missing or not a pid)."""
    def provide() -> int | None:
        try:
            text = Path(path).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return int(text) if text.isdigit() and psutil.pid_exists(int(text)) else None

    return provide


def process_name_provider(name: str) -> PidProvider:
    """A PidProvider finding the oldest process whose name or executable base name is `name`."""
    def provide() -> int | None:
        found = []
        for process in psutil.process_iter(["name", "exe", "create_time"]):
            info = process.info
            if name in (info.get("name"), os.path.basename(info.get("exe") or "")) and process.pid != os.getpid():
                found.append((info.get("create_time") or 0.0, process.pid))
        return min(found)[1] if found else None

    return provide
