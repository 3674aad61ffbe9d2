"""Load results: counts by outcome, rates, retransmissions, latency histograms, intervals.

A run's figures are kept twice over, like SIPp's periodic and cumulative statistics:
per interval (:class:`LoadInterval`, ``LoadConfig.stats_interval`` seconds each, 1 s by
default) and for the whole run (:class:`LoadResult`). Latencies go into
:class:`LatencyHistogram` (fixed log-spaced buckets, 2.33 % wide), so memory does not
grow with the number of operations and every figure merges exactly:
:func:`merge_results` turns the results of workers that ran side by side into one, and
merging the results of two slices of a run gives the result of the whole run.

Percentiles use the nearest-rank method: the p-th percentile of n sorted samples is the
sample at rank ``ceil(p / 100 * n)`` (1-based). :func:`percentile` computes it on raw
samples; a histogram answers the upper bound of the bucket holding that sample (at most
2.33 % above it, never below, never above the largest latency).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._histogram import LatencyHistogram

PERCENTILES = (50, 90, 99)


def percentile(samples: Sequence[float], p: float, *, presorted: bool = False) -> float | None:
    """The nearest-rank ``p``-th percentile (0 < p <= 100) of ``samples``; None if empty."""
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {p!r}")
    if not samples:
        return None
    ordered = samples if presorted else sorted(samples)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot of a run in progress (what the live display prints): cumulative figures.

    ``latency`` pools every transport's latencies so far (None when not measured); the
    display takes the periodic figures from the difference of two snapshots.
    """

    elapsed: float
    attempted: int
    succeeded: int
    failed: int
    in_flight: int
    done: bool = False
    retransmissions: int = 0
    latency: LatencyHistogram | None = None

    @classmethod
    def total(cls, parts: Sequence[Progress]) -> Progress:
        """The sum of the snapshots of workers running side by side."""
        latencies = [p.latency for p in parts if p.latency is not None]
        return cls(max((p.elapsed for p in parts), default=0.0),
                   sum(p.attempted for p in parts), sum(p.succeeded for p in parts),
                   sum(p.failed for p in parts), sum(p.in_flight for p in parts),
                   bool(parts) and all(p.done for p in parts),
                   sum(p.retransmissions for p in parts),
                   LatencyHistogram.merged(latencies) if latencies else None)

    def to_json(self) -> dict[str, Any]:
        return {"elapsed": self.elapsed, "attempted": self.attempted,
                "succeeded": self.succeeded, "failed": self.failed,
                "in_flight": self.in_flight, "done": self.done,
                "retransmissions": self.retransmissions,
                "latency": None if self.latency is None else self.latency.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Progress:
        latency = data.get("latency")
        return cls(data["elapsed"], data["attempted"], data["succeeded"], data["failed"],
                   data["in_flight"], data.get("done", False), data.get("retransmissions", 0),
                   None if latency is None else LatencyHistogram.from_json(latency))


@dataclass(frozen=True)
class LatencySummary:
    """Count, mean, max and the p50/p90/p99 of a set of latencies (seconds)."""

    count: int
    mean: float | None
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None

    @classmethod
    def of(cls, samples: Iterable[float] | LatencyHistogram) -> LatencySummary:
        """Exact for raw samples; at bucket resolution for a histogram."""
        if isinstance(samples, LatencyHistogram):
            if not samples.count:
                return cls(0, None, None, None, None, None)
            p50, p90, p99 = (samples.percentile(p) for p in PERCENTILES)
            return cls(samples.count, samples.mean, p50, p90, p99, samples.max)
        ordered = sorted(samples)
        if not ordered:
            return cls(0, None, None, None, None, None)
        p50, p90, p99 = (percentile(ordered, p, presorted=True) for p in PERCENTILES)
        return cls(len(ordered), sum(ordered) / len(ordered), p50, p90, p99, ordered[-1])

    def to_json(self) -> dict[str, Any]:
        """Milliseconds, rounded to the microsecond."""
        return {"count": self.count, "mean_ms": _round_ms(self.mean),
                "p50_ms": _round_ms(self.p50), "p90_ms": _round_ms(self.p90),
                "p99_ms": _round_ms(self.p99), "max_ms": _round_ms(self.max)}


def _round_ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


def _merge_latencies(into: dict[str, LatencyHistogram],
                     latencies: dict[str, LatencyHistogram]) -> None:
    for transport, histogram in latencies.items():
        mine = into.get(transport)
        if mine is None:
            into[transport] = histogram.copy()
        else:
            mine.merge(histogram)


@dataclass(slots=True)
class LoadInterval:
    """What happened in one interval of a run: ``start`` and ``duration`` in seconds from
    the run's start (the first operation issued).

    Operations count where they happened: ``attempted`` when started, ``succeeded`` or
    ``failed`` (``errors`` by kind, ``statuses`` by final SIP status, ``latencies`` per
    transport) when they ended, ``unfinished`` in the interval where the drain time ran
    out, ``retransmissions`` when a request went out again (Timer A or E, RFC 3261
    §17.1.1.2, §17.1.2.2). ``in_flight`` is the number of operations in flight when the
    interval ended. ``index`` numbers the intervals from 0.
    """

    index: int
    start: float
    duration: float = 0.0
    attempted: int = 0
    succeeded: int = 0
    failed: int = 0
    unfinished: int = 0
    retransmissions: int = 0
    in_flight: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: dict[str, LatencyHistogram] = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.start + self.duration

    def add_latency(self, transport: str, seconds: float) -> None:
        histogram = self.latencies.get(transport)
        if histogram is None:
            histogram = self.latencies[transport] = LatencyHistogram()
        histogram.add(seconds)

    def latency(self, transport: str | None = None) -> LatencySummary:
        """The summary for one transport, or for all of them pooled."""
        return LatencySummary.of(_pooled(self.latencies, transport))

    @property
    def rate_succeeded(self) -> float:
        return self.succeeded / self.duration if self.duration > 0 else 0.0

    @property
    def rate_attempted(self) -> float:
        return self.attempted / self.duration if self.duration > 0 else 0.0

    def add(self, other: LoadInterval) -> None:
        """Add ``other``'s counts and latencies to this interval's (times untouched)."""
        self.attempted += other.attempted
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.unfinished += other.unfinished
        self.retransmissions += other.retransmissions
        self.in_flight += other.in_flight
        self.errors.update(other.errors)
        self.statuses.update(other.statuses)
        _merge_latencies(self.latencies, other.latencies)

    @classmethod
    def merge(cls, intervals: Sequence[LoadInterval]) -> LoadInterval:
        """The same interval of several workers: counts added, from the earliest start to
        the latest end."""
        start = min(i.start for i in intervals)
        merged = cls(intervals[0].index, start, max(i.end for i in intervals) - start)
        for interval in intervals:
            merged.add(interval)
        return merged

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start_s": round(self.start, 6),
            "duration_s": round(self.duration, 6),
            "attempted": self.attempted,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "unfinished": self.unfinished,
            "in_flight": self.in_flight,
            "retransmissions": self.retransmissions,
            "errors": dict(sorted(self.errors.items())),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "latency": _latency_json(self.latencies),
            "histograms": {t: h.to_json() for t, h in sorted(self.latencies.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadInterval:
        return cls(data["index"], data["start_s"], data["duration_s"], data["attempted"],
                   data["succeeded"], data["failed"], data["unfinished"],
                   data["retransmissions"], data["in_flight"], Counter(data["errors"]),
                   Counter({int(k): v for k, v in data["statuses"].items()}),
                   {t: LatencyHistogram.from_json(h) for t, h in data["histograms"].items()})


def _pooled(latencies: dict[str, LatencyHistogram],
            transport: str | None) -> LatencyHistogram:
    if transport is not None:
        return latencies.get(transport) or LatencyHistogram()
    if len(latencies) == 1:
        return next(iter(latencies.values()))
    return LatencyHistogram.merged(latencies.values())


def _latency_json(latencies: dict[str, LatencyHistogram]) -> dict[str, Any]:
    return {"all": LatencySummary.of(_pooled(latencies, None)).to_json(),
            **{t: LatencySummary.of(h).to_json() for t, h in sorted(latencies.items())}}


@dataclass
class LoadResult:
    """What a load run achieved.

    ``attempted`` operations were started; each ended ``succeeded``, ``failed`` (with an
    error kind from :data:`testbed.client.ERROR_KINDS` counted in ``errors``) or
    ``unfinished`` (still in flight when the drain time ran out). ``statuses`` counts the
    final SIP status of every operation that got one. ``latencies`` holds, per
    transport, a histogram of the time from the operation's first request sent to its
    final response, for successful operations, on the client's own clock.
    ``retransmissions`` counts the requests sent again on UDP. ``elapsed`` runs from the
    first operation started to the last one ended. ``intervals`` holds the same figures
    per ``interval`` seconds (the periodic statistics); the fields above are their sums
    (the cumulative statistics; :meth:`cumulative` gives them at each interval's end).
    """

    operation: str
    mode: str
    endpoints: int
    workers: int = 1
    rate_requested: float | None = None
    attempted: int = 0
    succeeded: int = 0
    failed: int = 0
    unfinished: int = 0
    elapsed: float = 0.0
    issuing: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: dict[str, LatencyHistogram] = field(default_factory=dict)
    messages: Counter[str] = field(default_factory=Counter)
    resolution: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    retransmissions: int = 0
    interval: float = 1.0
    intervals: list[LoadInterval] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return self.succeeded + self.failed

    @property
    def rate_achieved(self) -> float:
        """Successful operations per second over the elapsed time."""
        return self.succeeded / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def rate_attempted(self) -> float:
        """Operations started per second over the issuing phase."""
        return self.attempted / self.issuing if self.issuing > 0 else 0.0

    def latency(self, transport: str | None = None) -> LatencySummary:
        """The summary for one transport, or for all of them pooled."""
        return LatencySummary.of(_pooled(self.latencies, transport))

    def fold(self, interval: LoadInterval) -> None:
        """Append a finished interval and add what it counted past the live counters
        (the engine counts ``attempted``, ``succeeded`` and ``failed`` as they happen)."""
        self.intervals.append(interval)
        self.unfinished += interval.unfinished
        self.retransmissions += interval.retransmissions
        self.errors.update(interval.errors)
        self.statuses.update(interval.statuses)
        _merge_latencies(self.latencies, interval.latencies)

    def cumulative(self) -> list[LoadInterval]:
        """The cumulative figures at the end of each interval: from 0 to its end."""
        running = LoadInterval(0, 0.0)
        out = []
        for interval in self.intervals:
            running.add(interval)
            out.append(LoadInterval(
                interval.index, 0.0, interval.end, running.attempted, running.succeeded,
                running.failed, running.unfinished, running.retransmissions,
                interval.in_flight,  # a level, not a count: the latest
                Counter(running.errors), Counter(running.statuses),
                {t: h.copy() for t, h in running.latencies.items()}))
        return out

    def check(self) -> list[str]:
        """Inconsistencies in the counts (empty when they add up)."""
        problems = []
        if self.succeeded + self.failed + self.unfinished != self.attempted:
            problems.append(f"succeeded {self.succeeded} + failed {self.failed} + unfinished "
                            f"{self.unfinished} != attempted {self.attempted}")
        if sum(self.errors.values()) != self.failed:
            problems.append(f"errors {dict(self.errors)} do not add up to failed {self.failed}")
        if sum(h.count for h in self.latencies.values()) != self.succeeded:
            problems.append("one latency per successful operation expected")
        if self.intervals:
            total = LoadInterval(0, 0.0)
            for interval in self.intervals:
                total.add(interval)
            for name in ("attempted", "succeeded", "failed", "unfinished", "retransmissions",
                         "errors", "statuses", "latencies"):
                if getattr(total, name) != getattr(self, name):
                    problems.append(f"the intervals' {name} do not add up to the run's")
            ends = [i.end for i in self.intervals]
            if any(i.index != n for n, i in enumerate(self.intervals)) or ends != sorted(ends):
                problems.append("intervals out of order")
        return problems

    @classmethod
    def merge(cls, results: Sequence[LoadResult]) -> LoadResult:
        """One result from those of several workers that ran at the same time."""
        return merge_results(results)

    # -- output -------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data, exact (:meth:`from_json` rebuilds the same result).

        Besides the totals: ``latency`` summaries and ``histograms`` per transport, and
        ``intervals``, each with its ``cumulative`` figures at its end.
        """
        intervals = []
        for interval, running in zip(self.intervals, self.cumulative(), strict=True):
            data = interval.to_json()
            data["cumulative"] = {
                "end_s": round(running.duration, 6), "attempted": running.attempted,
                "succeeded": running.succeeded, "failed": running.failed,
                "unfinished": running.unfinished, "retransmissions": running.retransmissions,
                "errors": dict(sorted(running.errors.items())),
                "statuses": {str(k): v for k, v in sorted(running.statuses.items())},
                "latency": _latency_json(running.latencies)}
            intervals.append(data)
        return {
            "operation": self.operation,
            "mode": self.mode,
            "endpoints": self.endpoints,
            "workers": self.workers,
            "rate_requested": self.rate_requested,
            "attempted": self.attempted,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "unfinished": self.unfinished,
            "retransmissions": self.retransmissions,
            "elapsed_s": round(self.elapsed, 6),
            "issuing_s": round(self.issuing, 6),
            "rate_achieved": round(self.rate_achieved, 1),
            "rate_attempted": round(self.rate_attempted, 1),
            "errors": dict(sorted(self.errors.items())),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "latency": _latency_json(self.latencies),
            "histograms": {t: h.to_json() for t, h in sorted(self.latencies.items())},
            "messages": dict(sorted(self.messages.items())),
            "resolution": list(self.resolution),
            "notes": list(self.notes),
            "interval_s": self.interval,
            "intervals": intervals,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadResult:
        """Rebuild a result written with :meth:`to_json`."""
        result = cls(data["operation"], data["mode"], data["endpoints"], data["workers"],
                     data["rate_requested"], data["attempted"], data["succeeded"],
                     data["failed"], data["unfinished"], data["elapsed_s"], data["issuing_s"])
        result.errors = Counter(data["errors"])
        result.statuses = Counter({int(k): v for k, v in data["statuses"].items()})
        result.latencies = {t: LatencyHistogram.from_json(h)
                            for t, h in data.get("histograms", {}).items()}
        result.messages = Counter(data.get("messages", {}))
        result.resolution = list(data.get("resolution", []))
        result.notes = list(data.get("notes", []))
        result.retransmissions = data.get("retransmissions", 0)
        result.interval = data.get("interval_s", 1.0)
        result.intervals = [LoadInterval.from_json(i) for i in data.get("intervals", [])]
        return result

    def summary(self) -> str:
        """A few lines for the terminal."""
        rate = (f"{self.rate_requested:g}/s requested, " if self.rate_requested else "")
        lines = [
            f"{self.operation} load, {self.mode.upper()}, {self.endpoints} endpoints"
            + (f", {self.workers} workers" if self.workers > 1 else "") + ":",
            f"  {self.attempted} attempted, {self.succeeded} succeeded, {self.failed} failed"
            + (f", {self.unfinished} unfinished" if self.unfinished else "")
            + f" in {self.elapsed:.2f} s",
            f"  rate: {rate}{self.rate_achieved:,.1f}/s achieved",
            f"  retransmissions: {self.retransmissions}",
        ]
        if self.errors:
            lines.append("  failures: " + ", ".join(f"{kind} {n}" for kind, n
                                                    in sorted(self.errors.items())))
        if self.statuses:
            lines.append("  final statuses: " + ", ".join(f"{status} x{n}" for status, n
                                                         in sorted(self.statuses.items())))
        for transport in sorted(self.latencies):
            lat = self.latency(transport)
            lines.append(f"  latency {transport}: p50 {_ms(lat.p50)}  p90 {_ms(lat.p90)}  "
                         f"p99 {_ms(lat.p99)}  max {_ms(lat.max)}  ({lat.count} samples)")
            lines.append(f"  latency {transport} histogram: "
                         + decades(self.latencies[transport]))
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)


def decades(histogram: LatencyHistogram) -> str:
    """Counts per decade of latency, like SIPp's response-time repartition."""
    per: Counter[int] = Counter()
    for lower, _, n in histogram.buckets():
        per[math.floor(math.log10(lower) + 1e-9) if lower > 0 else -7] += n
    parts = []
    for exponent in range(min(per), max(per) + 1) if per else ():
        lower, upper = 10.0 ** exponent, 10.0 ** (exponent + 1)
        low, high = _short(lower), _short(upper)
        if low.split()[1] == high.split()[1]:  # the same unit: "1-10 ms"
            low = low.split()[0]
        span = f"<{high}" if exponent == -7 else f"{low}-{high}"
        parts.append(f"{span} {per[exponent]}")
    return ", ".join(parts) or "-"


def _short(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:g} ms"
    return f"{seconds * 1e6:g} µs"


def merge_results(results: Sequence[LoadResult]) -> LoadResult:
    """One result from those of several workers that ran at the same time.

    Every count adds up (by error kind, by status, retransmissions), histograms merge
    exactly, intervals merge by index (counts added, from the earliest start to the
    latest end), and the elapsed and issuing times are the longest worker's.
    """
    if not results:
        raise ValueError("nothing to merge")
    first = results[0]
    merged = LoadResult(first.operation, first.mode, sum(r.endpoints for r in results),
                        workers=sum(r.workers for r in results))
    rates = [r.rate_requested for r in results if r.rate_requested is not None]
    merged.rate_requested = sum(rates) if len(rates) == len(results) else None
    by_index: dict[int, list[LoadInterval]] = {}
    for result in results:
        merged.attempted += result.attempted
        merged.succeeded += result.succeeded
        merged.failed += result.failed
        merged.unfinished += result.unfinished
        merged.retransmissions += result.retransmissions
        merged.errors.update(result.errors)
        merged.statuses.update(result.statuses)
        merged.messages.update(result.messages)
        _merge_latencies(merged.latencies, result.latencies)
        merged.notes.extend(n for n in result.notes if n not in merged.notes)
        for interval in result.intervals:
            by_index.setdefault(interval.index, []).append(interval)
    merged.elapsed = max(r.elapsed for r in results)
    merged.issuing = max(r.issuing for r in results)
    merged.resolution = list(first.resolution)
    merged.interval = first.interval
    merged.intervals = [LoadInterval.merge(by_index[i]) for i in sorted(by_index)]
    return merged


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.2f} ms"
