"""Load results: nearest-rank percentiles, summaries, intervals, exact merging, JSON."""

import random
from collections import Counter

import pytest

from testbed.load import (
    LatencyHistogram,
    LatencySummary,
    LoadInterval,
    LoadResult,
    Progress,
    merge_results,
    percentile,
)


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
    r.latencies = {transport: LatencyHistogram.of(0.001 * (i + 1) for i in range(succeeded))}
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
    broken.latencies["UDP"].add(0.5)
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


def test_json_round_trip_is_exact():
    original = result()
    original.resolution = ["A 127.0.0.1"]
    copy = LoadResult.from_json(original.to_json())
    assert copy == original
    data = original.to_json()
    assert 2.0 <= data["latency"]["UDP"]["p50_ms"] <= 2.05 and data["statuses"] == {"200": 3}


def test_summary_names_failures_and_latencies():
    text = result().summary()
    assert "3 succeeded, 1 failed" in text and "timeout 1" in text
    assert "latency UDP: p50 2.0" in text and "retransmissions: 0" in text
    assert "latency UDP histogram: 1-10 ms 3" in text


def test_progress_total():
    parts = [Progress(1.0, 10, 8, 1, 1), Progress(1.5, 5, 5, 0, 0, done=True)]
    assert Progress.total(parts) == Progress(1.5, 15, 13, 1, 1, done=False)
    assert Progress.total([]).done is False
    with_latency = [Progress(1.0, 3, 2, 0, 1, False, 4, LatencyHistogram.of([0.1, 0.2])),
                    Progress(1.0, 1, 1, 0, 0, False, 1, LatencyHistogram.of([0.3]))]
    total = Progress.total(with_latency + [Progress(1.0, 0, 0, 0, 0)])
    assert total.retransmissions == 5
    assert total.latency == LatencyHistogram.of([0.1, 0.2, 0.3])
    assert Progress.from_json(total.to_json()) == total


# -- intervals and exact merging ----------------------------------------------------------


def counted(events, interval=1.0):
    """A result counted as the engine counts: ``events`` are (time, what, detail...)."""
    r = LoadResult("register", "udp", 10, interval=interval)
    if not events:
        return r
    last = max(e[0] for e in events)
    intervals = [LoadInterval(k, k * interval, interval)
                 for k in range(int(last // interval) + 1)]
    for time, what, *detail in events:
        i = intervals[int(time // interval)]
        if what == "start":
            i.attempted += 1
            r.attempted += 1
        elif what == "ok":
            transport, latency, status = detail
            i.succeeded += 1
            r.succeeded += 1
            i.add_latency(transport, latency)
            i.statuses[status] += 1
        elif what == "fail":
            kind, status = detail
            i.failed += 1
            r.failed += 1
            i.errors[kind] += 1
            if status is not None:
                i.statuses[status] += 1
        elif what == "retransmission":
            i.retransmissions += 1
        elif what == "unfinished":
            i.unfinished += 1
    for i in intervals:
        r.fold(i)
    r.elapsed = r.issuing = intervals[-1].end
    return r


def random_events(seed, n=300):
    rng = random.Random(seed)
    events = []
    for _ in range(n):
        start = rng.uniform(0, 8)
        events.append((start, "start"))
        end = start + rng.uniform(0.0001, 2)
        roll = rng.random()
        if roll < 0.7:
            events.append((end, "ok", rng.choice(["UDP", "TCP"]), end - start,
                           rng.choice([200, 200, 202])))
        elif roll < 0.9:
            events.append((end, "fail", rng.choice(["timeout", "auth", "rejected"]),
                           rng.choice([None, 403, 503])))
        else:
            events.append((end, "unfinished"))
        for _ in range(rng.randrange(3)):
            events.append((rng.uniform(start, end), "retransmission"))
    return events


@pytest.mark.parametrize("seed", range(5))
def test_merging_two_slices_of_a_run_gives_the_whole_run(seed):
    events = random_events(seed)
    rng = random.Random(seed + 100)
    picks = [rng.random() < 0.5 for _ in events]
    part_a = counted([e for e, pick in zip(events, picks, strict=True) if pick])
    part_b = counted([e for e, pick in zip(events, picks, strict=True) if not pick])
    whole = counted(events)

    merged = merge_results([part_a, part_b])

    assert merged.check() == [] and whole.check() == []
    assert merged.workers == 2 and merged.endpoints == 20
    merged.workers, merged.endpoints = 1, 10
    assert merged == whole
    assert merge_results([part_b, part_a]) == merge_results([part_a, part_b])
    assert LoadResult.from_json(merged.to_json()) == merged


def test_merge_keeps_intervals_only_one_worker_reached():
    short = counted([(0.5, "start"), (0.6, "ok", "UDP", 0.1, 200)])
    long = counted([(0.2, "start"), (2.5, "ok", "UDP", 2.3, 200)])
    merged = merge_results([short, long])
    assert [i.index for i in merged.intervals] == [0, 1, 2]
    assert [i.succeeded for i in merged.intervals] == [1, 0, 1]
    assert merged.check() == []


def test_check_finds_intervals_that_do_not_add_up():
    r = counted(random_events(1, n=20))
    assert r.check() == []
    r.intervals[0].retransmissions += 1
    assert any("retransmissions" in problem for problem in r.check())
    r = counted(random_events(1, n=20))
    r.intervals[0].statuses[486] += 1
    assert any("statuses" in problem for problem in r.check())


def test_cumulative_figures_at_each_interval_end():
    r = counted([(0.1, "start"), (0.2, "ok", "UDP", 0.1, 200), (1.1, "start"),
                 (1.5, "retransmission"), (2.3, "fail", "timeout", None), (2.4, "start")])
    cumulative = r.cumulative()
    assert [(c.attempted, c.succeeded, c.failed, c.retransmissions) for c in cumulative] == [
        (1, 1, 0, 0), (2, 1, 0, 1), (3, 1, 1, 1)]
    assert [c.end for c in cumulative] == [1.0, 2.0, 3.0]
    assert cumulative[-1].errors == Counter({"timeout": 1})
    assert cumulative[2].latencies["UDP"].count == 1
    data = r.to_json()
    assert [i["cumulative"]["attempted"] for i in data["intervals"]] == [1, 2, 3]
    assert data["intervals"][1]["retransmissions"] == 1 and data["retransmissions"] == 1
    assert data["interval_s"] == 1.0
