"""The time averages a worker's load is built from: CPU percent and running queries over a window."""
from __future__ import annotations

from collections import deque

MAX_CHANGES = 100_000
"""Changes of the running count remembered; beyond it the oldest go and the window starts later."""


class LoadWindow:
    """CPU percent and the mean number of running queries over the last `seconds` (docs/metrics.md).

    The caller serializes access (WorkerMonitor holds its lock) and passes the time of its own clock.
    Before `seconds` have passed the averages cover the time since the window started.
    """

    def __init__(self, seconds: float, now: float):
        if seconds <= 0:
            raise ValueError("window seconds must be positive")
        self.seconds = seconds
        # Running count: (time of a change, integral of the count up to then, count from then on).
        self._changes: deque[tuple[float, float, int]] = deque([(now, 0.0, 0)], maxlen=MAX_CHANGES)
        # CPU: (time of a sample, CPU seconds the process had used) for one pid.
        self._cpu: deque[tuple[float, float]] = deque()
        self._cpu_pid: int | None = None

    def running(self, now: float, count: int) -> None:
        """The number of running queries is `count` from `now` on."""
        when, integral, previous = self._changes[-1]
        now = max(now, when)
        self._changes.append((now, integral + previous * (now - when), count))
        self._forget_changes(now)

    def mean_running(self, now: float) -> float:
        """Time-weighted mean of the running count over the window ending `now`."""
        when, integral, count = self._changes[-1]
        now = max(now, when)
        start = max(self._changes[0][0], now - self.seconds)
        if now <= start:
            return float(count)
        return (integral + count * (now - when) - self._integral_at(start)) / (now - start)

    def _integral_at(self, at: float) -> float:
        """Integral of the running count up to `at` (at or after the first remembered change)."""
        before = self._changes[0]
        for change in self._changes:
            if change[0] > at:
                break
            before = change
        when, integral, count = before
        return integral + count * (at - when)

    def _forget_changes(self, now: float) -> None:
        """Drop changes that ended before the window (the last one before it stays: it spans its start)."""
        horizon = now - self.seconds
        while len(self._changes) > 1 and self._changes[1][0] <= horizon:
            self._changes.popleft()

    def cpu_sample(self, now: float, pid: int | None, cpu_seconds: float | None) -> None:
        """A sample of the process: its CPU seconds, or None when it was not read (the history restarts)."""
        if pid is None or cpu_seconds is None:
            self._cpu.clear()
            self._cpu_pid = None
            return
        if pid != self._cpu_pid or (self._cpu and cpu_seconds < self._cpu[-1][1]):
            self._cpu.clear()
            self._cpu_pid = pid
        self._cpu.append((now, cpu_seconds))
        while len(self._cpu) > 2 and self._cpu[1][0] <= now - self.seconds:
            self._cpu.popleft()

    def cpu_percent(self) -> float | None:
        """100 x CPU seconds used / seconds elapsed, from the newest sample at least `seconds` older than
        the newest one (the oldest while there is none) to the newest; None before two samples of one process."""
        if len(self._cpu) < 2:
            return None
        (first, used_first), (last, used_last) = self._cpu[0], self._cpu[-1]
        if last <= first:
            return None
        return 100.0 * (used_last - used_first) / (last - first)
