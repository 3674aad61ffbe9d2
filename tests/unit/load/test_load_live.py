"""Live counts (summed over workers, latencies in fixed buckets) and their Prometheus
exposition."""

from prometheus_client.parser import text_string_to_metric_families

from testbed.load import (
    BUCKETS,
    LatencyBuckets,
    LiveCounts,
    LiveTracker,
    LoadMetrics,
    LoadResult,
    Progress,
)


class Running:
    """A recording fake of what LiveTracker reads from a LoadRunner."""

    def __init__(self):
        self.result = LoadResult("register", "udp", 4)
        self.progress = Progress(1.0, 0, 0, 0, 0)

    def snapshot(self):
        return self.progress


def test_tracker_counts_each_latency_once_in_its_bucket():
    running = Running()
    tracker = LiveTracker(running)
    running.result.latencies["UDP"] = [0.0005, 0.0007]
    first = tracker.snapshot().latency["UDP"]
    assert first.counts[0] == 1 and first.counts[1] == 1 and first.count == 2
    running.result.latencies["UDP"] += [31.0, 0.001]
    running.result.errors["timeout"] = 2
    running.progress = Progress(2.0, 7, 4, 2, 1)
    live = tracker.snapshot()
    buckets = live.latency["UDP"]
    assert buckets.counts[1] == 2 and buckets.counts[-1] == 1 and buckets.count == 4
    assert abs(buckets.total - 31.0022) < 1e-9
    assert (live.attempted, live.succeeded, live.failed, live.in_flight) == (7, 4, 2, 1)
    assert live.errors == {"timeout": 2}


def test_live_counts_of_workers_add_up():
    one = LatencyBuckets((1,) + (0,) * len(BUCKETS), 0.0004)
    two = LatencyBuckets((0, 2) + (0,) * (len(BUCKETS) - 1), 0.0018)
    total = LiveCounts.total([
        LiveCounts(5, 3, 1, 1, 0, {"timeout": 1}, {"UDP": one}),
        LiveCounts(6, 4, 2, 0, 0, {"timeout": 1, "auth": 1}, {"UDP": two, "TCP": one},
                   lost=1)])
    assert (total.attempted, total.succeeded, total.failed, total.in_flight) == (11, 7, 3, 1)
    assert total.errors == {"timeout": 2, "auth": 1} and total.workers == 2 and total.lost == 1
    assert total.latency["UDP"].cumulative()[:3] == [1, 3, 3]
    assert total.latency["TCP"] == one


def test_prometheus_exposition():
    metrics = LoadMetrics("call")
    buckets = LatencyBuckets((0, 2) + (0,) * (len(BUCKETS) - 2) + (1,), 40.0)
    metrics.update(LiveCounts(10, 3, 4, 2, 1, {"timeout": 3, "auth": 1}, {"TLS": buckets},
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
    assert samples[("testbed_load_latency_seconds_sum", tls)] == 40.0
    assert samples[("testbed_load_workers", (("state", "running"),))] == 2
    assert samples[("testbed_load_workers", (("state", "lost"),))] == 1
