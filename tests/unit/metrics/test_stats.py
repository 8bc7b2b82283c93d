import math
import random

import pytest

from bytedb_exporter.metrics.stats import (
    SlidingWindowCounter,
    coefficient_of_variation,
    exact_percentile,
    histogram_quantile,
    percent,
)


def cumulative(values, bounds):
    return [(b, float(sum(v <= b for v in values))) for b in bounds] + [(math.inf, float(len(values)))]


def test_quantile_matches_promql_interpolation():
    # 10 values in (0,1], 10 in (1,2]: the median is the top of the first bucket.
    buckets = [(1.0, 10.0), (2.0, 20.0), (math.inf, 20.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(1.0)
    assert histogram_quantile(0.75, buckets) == pytest.approx(1.5)
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.5)


def test_quantile_in_inf_bucket_returns_highest_finite_bound():
    assert histogram_quantile(0.99, [(1.0, 1.0), (math.inf, 10.0)]) == 1.0


def test_quantile_without_observations_is_nan():
    assert math.isnan(histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]))


@pytest.mark.parametrize("q", [0.0, -0.1, 1.5])
def test_quantile_rejects_bad_q_or_buckets(q):
    if 0 <= q <= 1:
        with pytest.raises(ValueError):
            histogram_quantile(q, [(1.0, 1.0)])
    else:
        with pytest.raises(ValueError):
            histogram_quantile(q, [(math.inf, 1.0)])


def test_quantile_estimate_is_within_one_bucket_of_exact_percentile():
    rng = random.Random(7)
    values = [rng.lognormvariate(-3, 1) for _ in range(5000)]
    bounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
    buckets = cumulative(values, bounds)
    for q in (0.5, 0.9, 0.95, 0.99):
        exact = exact_percentile(values, q)
        estimate = histogram_quantile(q, buckets)
        upper = next(b for b in bounds + [math.inf] if exact <= b)
        lower = max([0.0] + [b for b in bounds if b < exact])
        assert lower <= estimate <= upper, (q, exact, estimate)


def test_exact_percentile():
    assert exact_percentile([1, 2, 3, 4, 5], 0.5) == 3
    assert exact_percentile([1, 2], 0.5) == 1.5
    assert math.isnan(exact_percentile([], 0.5))


def test_coefficient_of_variation_uses_population_stddev():
    assert coefficient_of_variation([10, 90]) == pytest.approx(0.8)
    assert coefficient_of_variation([5, 5, 5]) == 0
    assert coefficient_of_variation([0, 0]) == 0
    assert coefficient_of_variation([42]) == 0


def test_percent():
    assert percent(1, 4) == 25
    assert percent(3, 0) == 0


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def test_sliding_window_forgets_old_events():
    clock = FakeClock()
    window = SlidingWindowCounter(60, clock=clock)
    for _ in range(30):
        window.add()
    clock.now += 30
    assert window.total() == 30
    assert window.rate() == pytest.approx(1.0)  # 30 events over the 30 s since start
    window.add(30)
    clock.now += 45
    assert window.total() == 30  # the first 30 fell out of the window
    assert window.rate() == pytest.approx(0.5)
    clock.now += 100
    assert window.total() == 0 and window.rate() == 0


def test_sliding_window_memory_is_fixed():
    clock = FakeClock()
    window = SlidingWindowCounter(10, clock=clock)
    for _step in range(10_000):
        clock.now += 0.01
        window.add()
    assert len(window._counts) == 10
    assert window.total() == pytest.approx(1000, abs=100)
