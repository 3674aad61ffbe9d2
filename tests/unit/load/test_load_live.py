"""Live counts (summed over workers, latencies in mergeable histograms) and their
Prometheus exposition."""

from prometheus_client.parser import text_string_to_metric_families

from testbed.load import (
    BUCKETS,
    LatencyHistogram,
    LiveCounts,
    LiveTracker,
    LoadInterval,
    LoadMetrics,
    LoadResult,
    Progress,
    cumulative,
)


class Running:
    """A recording fake of what LiveTracker reads from a LoadRunner."""

    def __init__(self):
        self.result = LoadResult("register", "udp", 4)
        self.progress = Progress(1.0, 0, 0, 0, 0)
        self.intervals = self  # the interval clock: its open interval
        self.current = LoadInterval(1, 1.0)

    def snapshot(self):
        return self.progress


def test_tracker_copies_the_runs_counts_and_histograms():
    running = Running()
    tracker = LiveTracker(running)
    running.result.latencies["UDP"] = LatencyHistogram.of([0.0004, 0.0007])
    running.result.errors["timeout"] = 2
    running.current.latencies["UDP"] = LatencyHistogram.of([0.002])  # not folded yet
    running.current.errors["auth"] = 1
    running.current.unfinished = 1
    running.progress = Progress(2.0, 8, 4, 3, 0)
    live = tracker.snapshot()
    running.result.latencies["UDP"].add(31.0)  # the run goes on: the snapshot stays
    assert live.latency["UDP"].count == 3 and running.result.latencies["UDP"].count == 3
    assert (live.attempted, live.succeeded, live.failed, live.in_flight) == (8, 4, 3, 0)
    assert live.errors == {"timeout": 2, "auth": 1} and live.unfinished == 1


def test_cumulative_buckets_follow_the_histogram():
    histogram = LatencyHistogram.of([0.0004, 0.0007, 0.0009, 0.02, 31.0, 45.0])
    below = cumulative(histogram)
    assert len(below) == len(BUCKETS) + 1
    assert below[:2] == [1, 3]                      # <= 0.5 ms, <= 1 ms
    assert below[BUCKETS.index(0.025)] == 4         # <= 25 ms
    assert below[BUCKETS.index(30.0)] == 4 and below[-1] == 6
    assert below == sorted(below)


def test_live_counts_of_workers_add_up():
    one, two = LatencyHistogram.of([0.0004]), LatencyHistogram.of([0.0008, 0.0009])
    total = LiveCounts.total([
        LiveCounts(5, 3, 1, 1, 0, {"timeout": 1}, {"UDP": one}),
        LiveCounts(6, 4, 2, 0, 0, {"timeout": 1, "auth": 1}, {"UDP": two, "TCP": one},
                   lost=1)])
    assert (total.attempted, total.succeeded, total.failed, total.in_flight) == (11, 7, 3, 1)
    assert total.errors == {"timeout": 2, "auth": 1} and total.workers == 2 and total.lost == 1
    assert cumulative(total.latency["UDP"])[:2] == [1, 3]
    assert total.latency["TCP"].count == 1 and one.count == 1  # the parts are untouched


def test_prometheus_exposition():
    metrics = LoadMetrics("call")
    metrics.update(LiveCounts(10, 3, 4, 2, 1, {"timeout": 3, "auth": 1},
                              {"TLS": LatencyHistogram.of([0.0007, 0.0008, 40.0])},
                              workers=3, lost=1))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(metrics.text())
               for s in family.samples}
    op = (("operation", "call"),)
    assert samples[("testbed_load_attempts_total", op)] == 10
    assert samples[("testbed_load_successes_total", op)] == 3
    assert samples[("testbed_load_failures_total", (("kind", "timeout"), *op))] == 3
    assert samples[("testbed_load_failures_total", (("kind", "auth"), *op))] == 1
    assert samples[("testbed_load_unfinished_total", op)] == 1
    assert samples[("testbed_load_in_flight", op)] == 2
    tls = (("operation", "call"), ("transport", "TLS"))
    assert samples[("testbed_load_latency_seconds_bucket", (("le", "0.0005"), *tls))] == 0
    assert samples[("testbed_load_latency_seconds_bucket", (("le", "0.001"), *tls))] == 2
    assert samples[("testbed_load_latency_seconds_bucket", (("le", "30.0"), *tls))] == 2
    assert samples[("testbed_load_latency_seconds_bucket", (("le", "+Inf"), *tls))] == 3
    assert abs(samples[("testbed_load_latency_seconds_sum", tls)] - 40.0015) < 1e-9
    assert samples[("testbed_load_workers", (("state", "running"),))] == 2
    assert samples[("testbed_load_workers", (("state", "lost"),))] == 1
