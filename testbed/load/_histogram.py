"""A latency histogram with fixed log-spaced buckets: bounded memory, exact merges.

A load run cannot keep every latency it measures (a long run makes millions), and the
results of several workers must merge into the histogram of the whole run. So latencies
go into buckets whose bounds never depend on the data: bucket ``i`` holds the latencies
in ``[10**((i - 600) / 100), 10**((i - 599) / 100))`` seconds, 100 buckets per decade
from 1 µs up (bucket 0 also holds everything below 1 µs, zero included). Counts are
integers and the sum is kept in integer nanoseconds, so merging the histograms of two
slices of a run gives exactly the histogram of the whole run, in any order.

Resolution: a bucket is 2.33 % wide (``10**0.01``). :meth:`LatencyHistogram.percentile`
uses the nearest rank like :func:`percentile` on raw samples, and answers the upper
bound of the bucket holding that rank, capped at the largest latency seen: never below
the exact nearest-rank value, and at most 2.33 % above it (for latencies of 1 µs and
more). ``count``, ``min``, ``max`` and the mean are exact (the mean to the nanosecond).
Memory is one dictionary entry per bucket in use: a spread from 100 µs to 10 s is at
most 500 entries, however many latencies were added.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

BUCKETS_PER_DECADE = 100
"""Resolution of :class:`LatencyHistogram`: buckets per factor of ten."""
LOWEST = 1e-6
"""The lower bound of bucket 1 (seconds): bucket 0 holds everything below."""
_OFFSET = round(-math.log10(LOWEST) * BUCKETS_PER_DECADE)
_log10 = math.log10
_floor = math.floor


def bucket_of(seconds: float) -> int:
    """The index of the bucket that holds ``seconds``."""
    if seconds <= LOWEST:
        return 0
    return max(_floor(_log10(seconds) * BUCKETS_PER_DECADE) + _OFFSET, 0)


def bucket_bounds(index: int) -> tuple[float, float]:
    """The ``[lower, upper)`` bounds of bucket ``index`` in seconds (bucket 0 from 0)."""
    upper = 10 ** ((index + 1 - _OFFSET) / BUCKETS_PER_DECADE)
    lower = 0.0 if index == 0 else 10 ** ((index - _OFFSET) / BUCKETS_PER_DECADE)
    return lower, upper


class LatencyHistogram:
    """Latencies (seconds) counted in fixed log-spaced buckets; see the module docstring."""

    __slots__ = ("counts", "count", "total_ns", "min", "max")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.total_ns = 0
        self.min = math.inf
        self.max = -math.inf

    @classmethod
    def of(cls, samples: Iterable[float]) -> LatencyHistogram:
        histogram = cls()
        for seconds in samples:
            histogram.add(seconds)
        return histogram

    @classmethod
    def merged(cls, histograms: Iterable[LatencyHistogram]) -> LatencyHistogram:
        """A new histogram holding every latency of ``histograms``."""
        total = cls()
        for histogram in histograms:
            total.merge(histogram)
        return total

    def add(self, seconds: float) -> None:
        """Count one latency."""
        if seconds <= LOWEST:
            index = 0
        else:
            index = _floor(_log10(seconds) * BUCKETS_PER_DECADE) + _OFFSET
            if index < 0:
                index = 0
        counts = self.counts
        counts[index] = counts.get(index, 0) + 1
        self.count += 1
        self.total_ns += round(seconds * 1e9)
        if seconds < self.min:
            self.min = seconds
        if seconds > self.max:
            self.max = seconds

    def merge(self, other: LatencyHistogram) -> LatencyHistogram:
        """Add every latency of ``other`` to this histogram (exact); returns self."""
        counts = self.counts
        for index, n in other.counts.items():
            counts[index] = counts.get(index, 0) + n
        self.count += other.count
        self.total_ns += other.total_ns
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        return self

    def since(self, earlier: LatencyHistogram) -> LatencyHistogram:
        """The latencies added after ``earlier`` was a copy of this histogram.

        Counts and the sum subtract exactly; the smallest and largest latency of the
        difference are not known, so they become the bounds of its outermost buckets
        (within this histogram's own ``min`` and ``max``).
        """
        difference = LatencyHistogram()
        for index, n in self.counts.items():
            left = n - earlier.counts.get(index, 0)
            if left > 0:
                difference.counts[index] = left
        difference.count = sum(difference.counts.values())
        difference.total_ns = self.total_ns - earlier.total_ns
        if difference.counts:
            difference.min = max(bucket_bounds(min(difference.counts))[0], self.min)
            difference.max = min(bucket_bounds(max(difference.counts))[1], self.max)
        return difference

    def copy(self) -> LatencyHistogram:
        return LatencyHistogram().merge(self)

    # -- figures ------------------------------------------------------------------------

    def percentile(self, p: float) -> float | None:
        """The nearest-rank ``p``-th percentile (0 < p <= 100) at bucket resolution.

        The upper bound of the bucket that holds the sample of rank ``ceil(p/100*n)``,
        capped at :attr:`max` (so ``percentile(100) == max``); None when empty.
        """
        if not 0 < p <= 100:
            raise ValueError(f"percentile must be in (0, 100], not {p!r}")
        if not self.count:
            return None
        rank = max(math.ceil(p / 100 * self.count), 1)
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return min(max(bucket_bounds(index)[1], self.min), self.max)
        return self.max  # not reached: the counts add up to count

    @property
    def mean(self) -> float | None:
        return self.total_ns / self.count / 1e9 if self.count else None

    def buckets(self) -> Iterator[tuple[float, float, int]]:
        """``(lower, upper, count)`` of every bucket in use, in order (seconds)."""
        for index in sorted(self.counts):
            lower, upper = bucket_bounds(index)
            yield lower, upper, self.counts[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatencyHistogram):
            return NotImplemented
        return (self.counts == other.counts and self.count == other.count
                and self.total_ns == other.total_ns and self.min == other.min
                and self.max == other.max)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (f"LatencyHistogram(count={self.count}, min={self.min!r}, max={self.max!r}, "
                f"buckets={len(self.counts)})")

    # -- JSON ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Exact plain data: ``buckets`` lists ``[index, upper bound in ms, count]``."""
        return {
            "count": self.count,
            "sum_ns": self.total_ns,
            "min_s": self.min if self.count else None,
            "max_s": self.max if self.count else None,
            "buckets_per_decade": BUCKETS_PER_DECADE,
            "buckets": [[index, round(bucket_bounds(index)[1] * 1000, 6), self.counts[index]]
                        for index in sorted(self.counts)],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LatencyHistogram:
        if data.get("buckets_per_decade", BUCKETS_PER_DECADE) != BUCKETS_PER_DECADE:
            raise ValueError(f"a histogram of {data['buckets_per_decade']} buckets per decade "
                             f"cannot merge with ours ({BUCKETS_PER_DECADE})")
        histogram = cls()
        histogram.counts = {int(index): int(n) for index, _, n in data["buckets"]}
        histogram.count = int(data["count"])
        histogram.total_ns = int(data["sum_ns"])
        if histogram.count:
            histogram.min = float(data["min_s"])
            histogram.max = float(data["max_s"])
        return histogram
