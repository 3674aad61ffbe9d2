"""Load results: nearest-rank percentiles from known samples, summaries, merging, JSON."""

import random
from collections import Counter

import pytest

from testbed.load import LatencySummary, LoadResult, Progress, percentile


@pytest.mark.parametrize(("p", "expected"), [(50, 50), (90, 90), (99, 99), (100, 100), (1, 1),
                                              (0.5, 1), (99.5, 100)])
def test_nearest_rank_percentiles_of_1_to_100(p, expected):
    samples = list(range(1, 101))
    random.Random(7).shuffle(samples)  # order does not matter
    assert percentile(samples, p) == expected


@pytest.mark.parametrize(("samples", "p50", "p90", "p99"), [
    ([5.0], 5.0, 5.0, 5.0),
    ([1.0, 2.0], 1.0, 2.0, 2.0),
    ([3.0, 1.0, 2.0], 2.0, 3.0, 3.0),
    ([10.0] * 9 + [1000.0], 10.0, 10.0, 1000.0),
    (list(range(1, 11)), 5, 9, 10),
])
def test_percentiles_are_measured_values(samples, p50, p90, p99):
    assert [percentile(samples, p) for p in (50, 90, 99)] == [p50, p90, p99]


def test_percentile_of_nothing_is_none_and_p_is_checked():
    assert percentile([], 50) is None
    for bad in (0, -1, 100.5):
        with pytest.raises(ValueError):
            percentile([1.0], bad)


def test_latency_summary():
    summary = LatencySummary.of([0.004, 0.001, 0.002, 0.003])
    assert (summary.count, summary.p50, summary.p90, summary.p99, summary.max) == (
        4, 0.002, 0.004, 0.004, 0.004)
    assert summary.mean == pytest.approx(0.0025)
    assert summary.to_json() == {"count": 4, "mean_ms": 2.5, "p50_ms": 2.0, "p90_ms": 4.0,
                                 "p99_ms": 4.0, "max_ms": 4.0}
    assert LatencySummary.of([]).to_json()["p50_ms"] is None


def result(succeeded=3, failed=1, unfinished=0, transport="UDP", elapsed=2.0):
    r = LoadResult("register", "udp", 10, rate_requested=100.0)
    r.attempted = succeeded + failed + unfinished
    r.succeeded, r.failed, r.unfinished = succeeded, failed, unfinished
    r.errors = Counter({"timeout": failed}) if failed else Counter()
    r.statuses = Counter({200: succeeded})
    r.latencies = {transport: [0.001 * (i + 1) for i in range(succeeded)]}
    r.elapsed, r.issuing = elapsed, elapsed
    return r


def test_counts_that_add_up_pass_the_check_and_others_do_not():
    assert result().check() == []
    broken = result()
    broken.attempted += 1
    assert "attempted" in broken.check()[0]
    broken = result()
    broken.errors["auth"] += 1
    assert any("errors" in problem for problem in broken.check())
    broken = result()
    broken.latencies["UDP"].append(0.5)
    assert any("latency" in problem for problem in broken.check())


def test_rates():
    r = result(succeeded=300, failed=0, elapsed=3.0)
    assert r.rate_achieved == pytest.approx(100.0)
    assert r.rate_attempted == pytest.approx(100.0)
    assert LoadResult("register", "udp", 1).rate_achieved == 0.0


def test_merge_adds_counts_pools_samples_and_keeps_the_longest_elapsed():
    a, b = result(elapsed=2.0), result(succeeded=2, failed=2, transport="TCP", elapsed=2.5)
    b.errors = Counter({"refused": 2})
    merged = LoadResult.merge([a, b])
    assert (merged.attempted, merged.succeeded, merged.failed) == (8, 5, 3)
    assert merged.errors == Counter({"timeout": 1, "refused": 2})
    assert merged.statuses == Counter({200: 5})
    assert sorted(merged.latencies) == ["TCP", "UDP"]
    assert merged.latency().count == 5
    assert merged.elapsed == 2.5 and merged.endpoints == 20 and merged.workers == 2
    assert merged.rate_requested == 200.0
    assert merged.check() == []


def test_json_round_trip_with_samples():
    original = result()
    original.resolution = ["A 127.0.0.1"]
    copy = LoadResult.from_json(original.to_json(samples=True))
    assert copy.to_json(samples=True) == original.to_json(samples=True)
    assert "samples" not in original.to_json()
    data = original.to_json()
    assert data["latency"]["UDP"]["p50_ms"] == 2.0 and data["statuses"] == {"200": 3}


def test_summary_names_failures_and_latencies():
    text = result().summary()
    assert "3 succeeded, 1 failed" in text and "timeout 1" in text
    assert "latency UDP: p50 2.00 ms" in text


def test_progress_total():
    parts = [Progress(1.0, 10, 8, 1, 1), Progress(1.5, 5, 5, 0, 0, done=True)]
    assert Progress.total(parts) == Progress(1.5, 15, 13, 1, 1, done=False)
    assert Progress.total([]).done is False
