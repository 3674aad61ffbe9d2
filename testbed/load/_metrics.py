"""Live load metrics for Prometheus, served by the driver for every worker together.

:class:`LoadMetrics` is a prometheus-client collector over the latest summed
:class:`LiveCounts` (``update`` is called at every progress report, from any thread);
``serve(port)`` exposes them at ``http://HOST:PORT/metrics``:

    testbed_load_attempts_total{operation}             operations started
    testbed_load_successes_total{operation}            operations that succeeded
    testbed_load_failures_total{operation,kind}        failed, by error kind
    testbed_load_unfinished_total{operation}           given up (drain time over, worker lost)
    testbed_load_in_flight{operation}                  operations in flight now
    testbed_load_latency_seconds{operation,transport}  successful operations' latency
    testbed_load_workers{state}                        workers running, lost

Its own registry (no global state), so several runs in one process do not collide.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from ._live import BUCKETS, LiveCounts, cumulative

PREFIX = "testbed_load"


class LoadMetrics:
    """The collector; see the module docstring."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self._counts = LiveCounts(workers=0)
        self._lock = threading.Lock()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def update(self, counts: LiveCounts) -> None:
        with self._lock:
            self._counts = counts

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts = self._counts
        op = [self.operation]

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            family = CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=["operation"])
            family.add_metric(op, value)
            return family

        yield counter("attempts", "Operations started", counts.attempted)
        yield counter("successes", "Operations that succeeded", counts.succeeded)
        failures = CounterMetricFamily(f"{PREFIX}_failures", "Operations that failed, by "
                                       "error kind", labels=["operation", "kind"])
        for kind, n in sorted(counts.errors.items()):
            failures.add_metric([self.operation, kind], n)
        yield failures
        yield counter("unfinished", "Operations given up (drain time over, worker lost)",
                      counts.unfinished)
        in_flight = GaugeMetricFamily(f"{PREFIX}_in_flight", "Operations in flight",
                                      labels=["operation"])
        in_flight.add_metric(op, counts.in_flight)
        yield in_flight
        latency = HistogramMetricFamily(f"{PREFIX}_latency_seconds", "Latency of the "
                                        "successful operations, from first request to final "
                                        "response", labels=["operation", "transport"])
        for transport, histogram in sorted(counts.latency.items()):
            below = cumulative(histogram)
            pairs = [(_le(bound), float(n)) for bound, n in zip(BUCKETS, below, strict=False)]
            pairs.append(("+Inf", float(below[-1])))
            latency.add_metric([self.operation, transport], pairs,
                               sum_value=histogram.total_ns / 1e9)
        yield latency
        workers = GaugeMetricFamily(f"{PREFIX}_workers", "Workers of the run, by state",
                                    labels=["state"])
        workers.add_metric(["running"], counts.workers - counts.lost)
        workers.add_metric(["lost"], counts.lost)
        yield workers

    def text(self) -> str:
        """The exposition text a scrape gets."""
        return generate_latest(self.registry).decode("utf-8")

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Serve ``/metrics`` on ``host:port`` (0: any free port); the port."""
        self._server, self._thread = start_http_server(port, addr=host,
                                                       registry=self.registry)
        return int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _le(bound: float) -> str:
    return f"{bound:g}" if bound < 1 else f"{bound:.1f}"
