"""Live counts of a load run in progress, summable across workers (for Prometheus).

:class:`Progress` is what the progress line prints; :class:`LiveCounts` adds what a
metrics scrape needs while the run goes on: failures by error kind and, per transport,
the successful operations' latency histogram (:class:`LatencyHistogram`: merges are
exact). Counts of workers running side by side add up (:meth:`LiveCounts.total`).
:class:`LiveTracker` takes them from a running :class:`LoadRunner`, on its reactor's
thread (the histograms are copied: the run goes on adding to its own).

A Prometheus histogram has cumulative ``le`` buckets: :func:`cumulative` counts a
latency under the first bound of :data:`BUCKETS` at or above the upper end of its
histogram bucket, so the counts are those of the histograms, at their resolution
(a bucket is 2.33 % wide).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ._histogram import LatencyHistogram, bucket_bounds
from ._stats import LoadInterval, LoadResult, Progress

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
           5.0, 10.0, 30.0)
"""Upper bounds (seconds) of the Prometheus latency buckets; ``+Inf`` comes after."""


def cumulative(histogram: LatencyHistogram, bounds: Sequence[float] = BUCKETS) -> list[int]:
    """The latencies at or below each bound, then all of them (Prometheus ``le``)."""
    out = [0] * (len(bounds) + 1)
    for index, n in histogram.counts.items():
        upper = bucket_bounds(index)[1]
        slot = next((i for i, bound in enumerate(bounds) if upper <= bound * (1 + 1e-9)),
                    len(bounds))
        out[slot] += n
    running = 0
    for i, n in enumerate(out):
        running += n
        out[i] = running
    return out


@dataclass(frozen=True)
class LiveCounts:
    """Counts of a run (or of several side by side) at one moment."""

    attempted: int = 0
    succeeded: int = 0
    failed: int = 0
    in_flight: int = 0
    unfinished: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latency: dict[str, LatencyHistogram] = field(default_factory=dict)
    workers: int = 1
    lost: int = 0

    @classmethod
    def total(cls, parts: Sequence[LiveCounts]) -> LiveCounts:
        errors: Counter[str] = Counter()
        latency: dict[str, LatencyHistogram] = {}
        for part in parts:
            errors.update(part.errors)
            for transport, histogram in part.latency.items():
                latency.setdefault(transport, LatencyHistogram()).merge(histogram)
        return cls(sum(p.attempted for p in parts), sum(p.succeeded for p in parts),
                   sum(p.failed for p in parts), sum(p.in_flight for p in parts),
                   sum(p.unfinished for p in parts), dict(errors), latency,
                   sum(p.workers for p in parts), sum(p.lost for p in parts))


class _Clock(Protocol):
    @property
    def current(self) -> LoadInterval: ...


class _Runner(Protocol):
    @property
    def result(self) -> LoadResult: ...

    @property
    def intervals(self) -> _Clock: ...

    def snapshot(self) -> Progress: ...


class LiveTracker:
    """:class:`LiveCounts` of one running :class:`LoadRunner`, on the runner's thread.

    The run's closed intervals are folded into its result; the open one is added here.
    """

    def __init__(self, runner: _Runner) -> None:
        self.runner = runner

    def snapshot(self) -> LiveCounts:
        result, current = self.runner.result, self.runner.intervals.current
        progress = self.runner.snapshot()
        latency: dict[str, LatencyHistogram] = {}
        for latencies in (result.latencies, current.latencies):
            for transport, histogram in latencies.items():
                latency.setdefault(transport, LatencyHistogram()).merge(histogram)
        return LiveCounts(progress.attempted, progress.succeeded, progress.failed,
                          progress.in_flight, result.unfinished + current.unfinished,
                          dict(result.errors + current.errors), latency)
