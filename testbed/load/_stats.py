"""Load results: counts by outcome, rates, latency percentiles per transport.

Percentiles use the nearest-rank method: the p-th percentile of n sorted samples is the
sample at rank ``ceil(p / 100 * n)`` (1-based), so it is always a latency that was
actually measured (for the samples 1..100 ms, p50 = 50 ms, p90 = 90 ms, p99 = 99 ms).
Results of several worker processes merge exactly (:meth:`LoadResult.merge`): counts
add up, the samples are pooled, and the elapsed time is the longest worker's.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    """A snapshot of a run in progress (what the live display prints)."""

    elapsed: float
    attempted: int
    succeeded: int
    failed: int
    in_flight: int
    done: bool = False

    @classmethod
    def total(cls, parts: Sequence[Progress]) -> Progress:
        """The sum of the snapshots of workers running side by side."""
        return cls(max((p.elapsed for p in parts), default=0.0),
                   sum(p.attempted for p in parts), sum(p.succeeded for p in parts),
                   sum(p.failed for p in parts), sum(p.in_flight for p in parts),
                   bool(parts) and all(p.done for p in parts))


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
    def of(cls, samples: Iterable[float]) -> LatencySummary:
        ordered = sorted(samples)
        if not ordered:
            return cls(0, None, None, None, None, None)
        p50, p90, p99 = (percentile(ordered, p, presorted=True) for p in PERCENTILES)
        return cls(len(ordered), sum(ordered) / len(ordered), p50, p90, p99, ordered[-1])

    def to_json(self) -> dict[str, Any]:
        """Milliseconds, rounded to the microsecond."""
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 3)

        return {"count": self.count, "mean_ms": ms(self.mean), "p50_ms": ms(self.p50),
                "p90_ms": ms(self.p90), "p99_ms": ms(self.p99), "max_ms": ms(self.max)}


@dataclass
class LoadResult:
    """What a load run achieved.

    ``attempted`` operations were started; each ended ``succeeded``, ``failed`` (with an
    error kind from :data:`testbed.client.ERROR_KINDS` counted in ``errors``) or
    ``unfinished`` (still in flight when the drain time ran out). ``statuses`` counts the
    final SIP status of every operation that got one. ``latencies`` holds, per
    transport, the time from the operation's first request sent to its final response,
    for successful operations, on the client's own clock. ``elapsed`` runs from the first
    operation started to the last one ended.
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
    latencies: dict[str, list[float]] = field(default_factory=dict)
    messages: Counter[str] = field(default_factory=Counter)
    resolution: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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
        if transport is not None:
            return LatencySummary.of(self.latencies.get(transport, ()))
        return LatencySummary.of(s for samples in self.latencies.values() for s in samples)

    def check(self) -> list[str]:
        """Inconsistencies in the counts (empty when they add up)."""
        problems = []
        if self.succeeded + self.failed + self.unfinished != self.attempted:
            problems.append(f"succeeded {self.succeeded} + failed {self.failed} + unfinished "
                            f"{self.unfinished} != attempted {self.attempted}")
        if sum(self.errors.values()) != self.failed:
            problems.append(f"errors {dict(self.errors)} do not add up to failed {self.failed}")
        if sum(len(s) for s in self.latencies.values()) != self.succeeded:
            problems.append("one latency sample per successful operation expected")
        return problems

    @classmethod
    def merge(cls, results: Sequence[LoadResult]) -> LoadResult:
        """One result from those of several workers that ran at the same time."""
        if not results:
            raise ValueError("nothing to merge")
        first = results[0]
        merged = cls(first.operation, first.mode, sum(r.endpoints for r in results),
                     workers=sum(r.workers for r in results))
        rates = [r.rate_requested for r in results if r.rate_requested is not None]
        merged.rate_requested = sum(rates) if len(rates) == len(results) else None
        for result in results:
            merged.attempted += result.attempted
            merged.succeeded += result.succeeded
            merged.failed += result.failed
            merged.unfinished += result.unfinished
            merged.errors.update(result.errors)
            merged.statuses.update(result.statuses)
            merged.messages.update(result.messages)
            for transport, samples in result.latencies.items():
                merged.latencies.setdefault(transport, []).extend(samples)
            merged.notes.extend(n for n in result.notes if n not in merged.notes)
        merged.elapsed = max(r.elapsed for r in results)
        merged.issuing = max(r.issuing for r in results)
        merged.resolution = list(first.resolution)
        return merged

    # -- output -------------------------------------------------------------------------

    def to_json(self, *, samples: bool = False) -> dict[str, Any]:
        """Plain JSON data; ``samples=True`` adds the raw latencies (workers send them)."""
        data = {
            "operation": self.operation,
            "mode": self.mode,
            "endpoints": self.endpoints,
            "workers": self.workers,
            "rate_requested": self.rate_requested,
            "attempted": self.attempted,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "unfinished": self.unfinished,
            "elapsed_s": round(self.elapsed, 6),
            "issuing_s": round(self.issuing, 6),
            "rate_achieved": round(self.rate_achieved, 1),
            "rate_attempted": round(self.rate_attempted, 1),
            "errors": dict(sorted(self.errors.items())),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "latency": {"all": self.latency().to_json(),
                        **{t: self.latency(t).to_json() for t in sorted(self.latencies)}},
            "messages": dict(sorted(self.messages.items())),
            "resolution": list(self.resolution),
            "notes": list(self.notes),
        }
        if samples:
            data["samples"] = {t: list(s) for t, s in self.latencies.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadResult:
        """Rebuild a result written with ``to_json(samples=True)``."""
        result = cls(data["operation"], data["mode"], data["endpoints"], data["workers"],
                     data["rate_requested"], data["attempted"], data["succeeded"],
                     data["failed"], data["unfinished"], data["elapsed_s"], data["issuing_s"])
        result.errors = Counter(data["errors"])
        result.statuses = Counter({int(k): v for k, v in data["statuses"].items()})
        result.latencies = {t: list(s) for t, s in data.get("samples", {}).items()}
        result.messages = Counter(data.get("messages", {}))
        result.resolution = list(data.get("resolution", []))
        result.notes = list(data.get("notes", []))
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
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.2f} ms"
