"""Live counts of a load run in progress, summable across workers (for Prometheus).

:class:`Progress` is what the progress line prints; :class:`LiveCounts` adds what a
metrics scrape needs while the run goes on: failures by error kind and, per transport,
the successful operations' latencies counted in the fixed buckets :data:`BUCKETS` (the
cumulative ``le`` buckets of a Prometheus histogram). Counts of workers running side by
side add up (:meth:`LiveCounts.total`). :class:`LiveTracker` takes them from a running
:class:`LoadRunner`, counting only the latencies added since its previous look.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ._stats import LoadResult, Progress

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
           5.0, 10.0, 30.0)
"""Upper bounds (seconds, inclusive) of the latency buckets; a last one is unbounded."""


@dataclass(frozen=True)
class LatencyBuckets:
    """Latencies in :data:`BUCKETS`: ``counts[i]`` in ``(BUCKETS[i-1], BUCKETS[i]]``,
    the last entry above the last bound; ``total`` their sum in seconds."""

    counts: tuple[int, ...] = (0,) * (len(BUCKETS) + 1)
    total: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[int]:
        """Counts at or below each bound, then the count of all (Prometheus ``le``)."""
        running, out = 0, []
        for n in self.counts:
            running += n
            out.append(running)
        return out

    def __add__(self, other: LatencyBuckets) -> LatencyBuckets:
        return LatencyBuckets(tuple(a + b for a, b in zip(self.counts, other.counts,
                                                          strict=True)),
                              self.total + other.total)


@dataclass(frozen=True)
class LiveCounts:
    """Counts of a run (or of several side by side) at one moment."""

    attempted: int = 0
    succeeded: int = 0
    failed: int = 0
    in_flight: int = 0
    unfinished: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latency: dict[str, LatencyBuckets] = field(default_factory=dict)
    workers: int = 1
    lost: int = 0

    @classmethod
    def total(cls, parts: Sequence[LiveCounts]) -> LiveCounts:
        errors: Counter[str] = Counter()
        latency: dict[str, LatencyBuckets] = {}
        for part in parts:
            errors.update(part.errors)
            for transport, buckets in part.latency.items():
                latency[transport] = latency.get(transport, LatencyBuckets()) + buckets
        return cls(sum(p.attempted for p in parts), sum(p.succeeded for p in parts),
                   sum(p.failed for p in parts), sum(p.in_flight for p in parts),
                   sum(p.unfinished for p in parts), dict(errors), latency,
                   sum(p.workers for p in parts), sum(p.lost for p in parts))


class _Runner(Protocol):
    result: LoadResult

    def snapshot(self) -> Progress: ...


class LiveTracker:
    """:class:`LiveCounts` of one running :class:`LoadRunner`, on the runner's thread."""

    def __init__(self, runner: _Runner) -> None:
        self.runner = runner
        self._seen: dict[str, int] = {}
        self._counts: dict[str, list[int]] = {}
        self._totals: dict[str, float] = {}

    def snapshot(self) -> LiveCounts:
        result = self.runner.result
        progress = self.runner.snapshot()
        latency = {}
        for transport, samples in result.latencies.items():
            counts = self._counts.setdefault(transport, [0] * (len(BUCKETS) + 1))
            seen = self._seen.get(transport, 0)
            total = self._totals.get(transport, 0.0)
            for seconds in samples[seen:]:
                counts[bisect_left(BUCKETS, seconds)] += 1
                total += seconds
            self._seen[transport] = len(samples)
            self._totals[transport] = total
            latency[transport] = LatencyBuckets(tuple(counts), total)
        return LiveCounts(progress.attempted, progress.succeeded, progress.failed,
                          progress.in_flight, result.unfinished, dict(result.errors), latency)
