"""Pure statistics: bucket quantiles, exact percentiles, sliding-window rates, spread."""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Estimate quantile q from cumulative (upper_bound, count) buckets, as PromQL does.

    The last bucket must be +Inf. Returns NaN without observations. Inside a bucket the
    value is interpolated linearly; the first bucket starts at 0 (when its bound is
    positive) and a rank that falls into +Inf returns the highest finite bound.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be between 0 and 1, got {q}")
    if not buckets or not math.isinf(buckets[-1][0]):
        raise ValueError("buckets must end with +Inf")
    total = buckets[-1][1]
    if total <= 0:
        return math.nan
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for index, (bound, count) in enumerate(buckets):
        if count >= rank:
            if math.isinf(bound):
                return buckets[-2][0] if len(buckets) > 1 else math.nan
            if index == 0 and bound <= 0:
                return bound
            in_bucket = count - previous_count
            if in_bucket <= 0:
                return bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / in_bucket
        previous_bound, previous_count = bound, count
    return buckets[-2][0]


def exact_percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of values by linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def coefficient_of_variation(values: Sequence[float]) -> float:
    """Population standard deviation divided by the mean; 0 for no spread or zero mean."""
    if len(values) < 2:
        return 0.0
    mean = statistics.fmean(values)
    return statistics.pstdev(values, mean) / mean if mean else 0.0


def percent(part: float, whole: float) -> float:
    """part / whole x 100, or 0 when whole is 0."""
    return 100.0 * part / whole if whole else 0.0


class SlidingWindowCounter:
    """Counts events in the last `window` seconds with fixed memory (one slot per second).

    Not thread-safe on its own: callers serialize `add` with their own lock.
    """

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        if window < 1:
            raise ValueError("window must be at least 1 second")
        self.window = float(window)
        self._slots = int(math.ceil(window))
        self._counts = [0.0] * self._slots
        self._stamps = [-1] * self._slots
        self._clock = clock
        self._started = clock()

    def add(self, amount: float = 1.0) -> None:
        """Record `amount` events now."""
        second = int(self._clock())
        slot = second % self._slots
        if self._stamps[slot] != second:
            self._stamps[slot] = second
            self._counts[slot] = 0.0
        self._counts[slot] += amount

    def total(self) -> float:
        """Events recorded within the window."""
        now = int(self._clock())
        oldest = now - self._slots + 1
        return sum(count for count, stamp in zip(self._counts, self._stamps, strict=False) if oldest <= stamp <= now)

    def rate(self) -> float:
        """Events per second over the window (or over the time since start, if shorter)."""
        span = min(self.window, max(self._clock() - self._started, 1.0))
        return self.total() / span
