"""The latency histogram: fixed buckets, exact merges, percentiles within one bucket."""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.load import BUCKETS_PER_DECADE, LatencyHistogram, percentile

latencies = st.lists(st.floats(min_value=0.0, max_value=100.0, allow_nan=False), max_size=60)
WIDTH = 10 ** (1 / BUCKETS_PER_DECADE)  # one bucket's ratio of upper to lower bound


@settings(max_examples=200, deadline=None)
@given(latencies, latencies, latencies)
def test_merging_the_histograms_of_slices_gives_the_histogram_of_the_union(a, b, c):
    whole = LatencyHistogram.of(a + b + c)
    assert LatencyHistogram.of(a).merge(LatencyHistogram.of(b)).merge(
        LatencyHistogram.of(c)) == whole
    assert LatencyHistogram.merged([LatencyHistogram.of(c), LatencyHistogram.of(b + a)]) == whole
    assert whole.count == len(a + b + c)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=1e-6, max_value=100.0), min_size=1, max_size=80),
       st.sampled_from([1, 10, 50, 90, 99, 99.9, 100]))
def test_a_percentile_is_at_most_one_bucket_above_the_exact_one_and_never_below(samples, p):
    exact = percentile(samples, p)
    got = LatencyHistogram.of(samples).percentile(p)
    assert exact is not None and got is not None
    assert exact <= got <= exact * WIDTH * (1 + 1e-12)
    assert got <= max(samples)


def test_resolution_is_2_33_percent_and_the_exact_figures_stay_exact():
    assert WIDTH == pytest.approx(1.0233, abs=1e-4)
    samples = [0.001 * (i + 1) for i in range(100)]  # 1..100 ms
    random.Random(3).shuffle(samples)
    histogram = LatencyHistogram.of(samples)
    assert histogram.count == 100 and histogram.min == 0.001 and histogram.max == 0.1
    assert histogram.mean == pytest.approx(0.0505, abs=1e-9)
    assert histogram.percentile(100) == 0.1
    assert 0.050 <= histogram.percentile(50) <= 0.050 * WIDTH
    assert 0.099 <= histogram.percentile(99) <= 0.099 * WIDTH


def test_zero_and_tiny_latencies_share_the_first_bucket():
    histogram = LatencyHistogram.of([0.0, 1e-9, 1e-7])
    assert list(histogram.counts) == [0]
    assert histogram.percentile(50) == 1e-7  # capped at the largest seen
    assert LatencyHistogram().percentile(50) is None and LatencyHistogram().mean is None


def test_memory_is_bounded_by_the_buckets_not_the_samples():
    rng = random.Random(1)
    histogram = LatencyHistogram.of(rng.uniform(1e-4, 10.0) for _ in range(50_000))
    assert len(histogram.counts) <= 5 * BUCKETS_PER_DECADE  # 100 µs .. 10 s: 5 decades
    assert histogram.count == 50_000


def test_buckets_are_contiguous_and_hold_their_samples():
    histogram = LatencyHistogram.of([0.0123, 0.0125, 1.5])
    rows = list(histogram.buckets())
    assert sum(n for _, _, n in rows) == 3
    for value in (0.0123, 0.0125, 1.5):
        assert any(lower <= value < upper for lower, upper, _ in rows)
    for lower, upper, _ in rows:
        assert upper / lower == pytest.approx(WIDTH)


def test_since_subtracts_an_earlier_copy():
    before = LatencyHistogram.of([0.001, 0.002])
    after = before.copy().merge(LatencyHistogram.of([0.010, 0.020, 0.030]))
    period = after.since(before)
    assert period.count == 3 and period.total_ns == 60_000_000
    assert 0.020 <= period.percentile(50) <= 0.020 * WIDTH
    assert period.percentile(100) <= 0.030 * WIDTH and period.min >= 0.010 / WIDTH


def test_json_round_trip_is_exact_and_readable():
    histogram = LatencyHistogram.of([0.0, 0.0021, 0.35, 7.0])
    data = histogram.to_json()
    assert LatencyHistogram.from_json(data) == histogram
    assert data["count"] == 4 and data["buckets_per_decade"] == BUCKETS_PER_DECADE
    index, upper_ms, count = data["buckets"][-1]
    assert count == 1 and 7000 <= upper_ms <= 7000 * WIDTH
    empty = LatencyHistogram.from_json(LatencyHistogram().to_json())
    assert empty == LatencyHistogram() and empty.min == math.inf
    with pytest.raises(ValueError, match="buckets per decade"):
        LatencyHistogram.from_json({**data, "buckets_per_decade": 10})
