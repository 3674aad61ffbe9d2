"""The HTML page of ``testbed load --report-dir DIR``: ``DIR/index.html``.

The run's figures (attempted, succeeded, failed, rate, latency percentiles per
transport, errors and final statuses) and four plots, as SVG drawn by matplotlib: the
attempt and success rate over time, p50/p90/p99 latency per transport over time, the
errors by kind over time (and the retransmissions), and the latency histogram of the
whole run per transport. Every figure over time comes from the run's intervals
(``LoadResult.intervals``, ``--stats-interval`` seconds each).

The load layer and this one do not import each other: the page reads a
:class:`LoadRun` (what a ``testbed.load.LoadResult`` offers), handed over by the
command line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from ._html import PAGE_FILE, write_page
from ._plots import log_axis_ms, plot

PERCENTILES = (50, 90, 99)
BINS_PER_DECADE = 10  # the histogram as drawn (the data's buckets are 2.33 % wide)


class Histogram(Protocol):
    """A latency histogram (``testbed.load.LatencyHistogram``), in seconds."""

    @property
    def count(self) -> int: ...

    def percentile(self, p: float) -> float | None: ...

    def buckets(self) -> Iterator[tuple[float, float, int]]: ...


class Counts(Protocol):
    """What an interval and a whole run count alike."""

    @property
    def attempted(self) -> int: ...

    @property
    def succeeded(self) -> int: ...

    @property
    def failed(self) -> int: ...

    @property
    def retransmissions(self) -> int: ...

    @property
    def errors(self) -> Mapping[str, int]: ...

    @property
    def latencies(self) -> Mapping[str, Any]: ...


class Interval(Counts, Protocol):
    """One interval of a run (``testbed.load.LoadInterval``)."""

    @property
    def start(self) -> float: ...

    @property
    def duration(self) -> float: ...


class LoadRun(Counts, Protocol):
    """A load run's result (``testbed.load.LoadResult``)."""

    @property
    def operation(self) -> str: ...

    @property
    def mode(self) -> str: ...

    @property
    def endpoints(self) -> int: ...

    @property
    def unfinished(self) -> int: ...

    @property
    def elapsed(self) -> float: ...

    @property
    def statuses(self) -> Mapping[int, int]: ...

    @property
    def intervals(self) -> Sequence[Any]: ...

    def summary(self) -> str: ...


def write_load_page(report_dir: str | Path, result: LoadRun, *, target: str = "") -> Path:
    """Write ``report_dir/index.html`` for the load run ``result`` (against ``target``,
    the URI); return its path."""
    intervals: list[Interval] = list(result.intervals)
    latencies: dict[str, Histogram] = dict(result.latencies)
    plots: dict[str, str] = {}
    if intervals:
        _rates(intervals, plots)
        _latency(intervals, plots)
        _errors(intervals, plots)
    if any(h.count for h in latencies.values()):
        _histogram(latencies, plots)
    rate = result.succeeded / result.elapsed if result.elapsed > 0 else 0.0
    page = {
        "target": target, "operation": result.operation, "mode": result.mode.upper(),
        "endpoints": result.endpoints,
        "ok": result.failed == 0 and result.unfinished == 0 and result.attempted > 0,
        "figures": [("attempted", result.attempted), ("succeeded", result.succeeded),
                    ("failed", result.failed), ("unfinished", result.unfinished),
                    ("retransmissions", result.retransmissions),
                    ("success rate", f"{rate:.1f}/s"),
                    ("elapsed", f"{result.elapsed:.2f} s")],
        "latency": [(transport, h.count, *(_ms(h.percentile(p)) for p in PERCENTILES))
                    for transport, h in sorted(latencies.items())],
        "errors": sorted(result.errors.items(), key=lambda kv: (-kv[1], kv[0])),
        "statuses": sorted(result.statuses.items()),
        "intervals": len(intervals), "plots": plots, "summary": result.summary(),
    }
    return write_page(Path(report_dir) / PAGE_FILE, "load.html.j2", page=page)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f}"


def _edges(intervals: Sequence[Interval]) -> list[float]:
    """The intervals' boundaries: every start, then the last end."""
    return [i.start for i in intervals] + [intervals[-1].start + intervals[-1].duration]


def _middles(intervals: Sequence[Interval]) -> list[float]:
    return [i.start + i.duration / 2 for i in intervals]


def _rates(intervals: Sequence[Interval], plots: dict[str, str]) -> None:
    spans = _spans(intervals)
    edges = [start for start, _, _ in spans] + [spans[-1][0] + spans[-1][1]]
    with plot("rate", "Attempts and successes per second", plots) as axes:
        for number, (label, style) in enumerate((("attempted", "-"), ("succeeded", "-"),
                                                 ("failed", ":"))):
            axes.stairs([counts[number] / duration if duration > 0 else 0.0
                         for _, duration, counts in spans], edges,
                        linestyle=style, linewidth=1.5, label=label)
        axes.set_xlabel("time from the first request (s)")
        axes.set_ylabel("operations / s")
        axes.set_ylim(bottom=0)
        axes.legend(loc="lower right")


def _spans(intervals: Sequence[Interval]) -> list[tuple[float, float, tuple[int, int, int]]]:
    """``(start, duration, (attempted, succeeded, failed))`` per interval, an interval
    shorter than half the usual one (the last, cut by the end of the run) folded into
    the one before it: a rate over a few milliseconds says nothing."""
    usual = sorted(i.duration for i in intervals)[len(intervals) // 2]
    spans: list[tuple[float, float, tuple[int, int, int]]] = []
    for i in intervals:
        counts = (i.attempted, i.succeeded, i.failed)
        if spans and i.duration < usual / 2:
            start, duration, (attempted, succeeded, failed) = spans[-1]
            spans[-1] = (start, duration + i.duration, (attempted + i.attempted,
                                                        succeeded + i.succeeded,
                                                        failed + i.failed))
        else:
            spans.append((i.start, i.duration, counts))
    return spans


def _latency(intervals: Sequence[Interval], plots: dict[str, str]) -> None:
    transports = sorted({t for i in intervals for t in i.latencies})
    middles = _middles(intervals)
    with plot("latency", "Latency per transport: p50, p90, p99", plots) as axes:
        for number, transport in enumerate(transports):
            colour = f"C{number}"
            for p, style in zip(PERCENTILES, ("-", "--", ":"), strict=True):
                values = [_percentile_ms(i.latencies.get(transport), p) for i in intervals]
                axes.plot(middles, values, style, color=colour, marker=".", markersize=3,
                          label=f"{transport} p{p}")
        axes.set_xlabel("time from the first request (s)")
        axes.set_ylabel("latency (ms)")
        axes.set_ylim(bottom=0)
        if transports:
            axes.legend(loc="upper left", ncols=len(transports))


def _percentile_ms(histogram: Histogram | None, p: float) -> float:
    value = histogram.percentile(p) if histogram is not None and histogram.count else None
    return float("nan") if value is None else value * 1000


def _errors(intervals: Sequence[Interval], plots: dict[str, str]) -> None:
    kinds = sorted({kind for i in intervals for kind in i.errors})
    starts = [i.start for i in intervals]
    widths = [i.duration * 0.9 for i in intervals]
    with plot("errors", "Errors by kind, and retransmissions", plots) as axes:
        bottom = [0] * len(intervals)
        for kind in kinds:
            counts = [i.errors.get(kind, 0) for i in intervals]
            axes.bar(starts, counts, widths, bottom=bottom, align="edge", label=kind)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        axes.stairs([i.retransmissions for i in intervals], _edges(intervals),
                    color="k", linestyle=":", label="retransmissions")
        axes.set_xlabel("time from the first request (s)")
        axes.set_ylabel("per interval")
        axes.set_ylim(bottom=0)
        axes.legend(loc="upper right", title=None if kinds else "no errors")


def _histogram(latencies: Mapping[str, Histogram], plots: dict[str, str]) -> None:
    with plot("histogram", "Latency histogram of the whole run", plots) as axes:
        for transport, histogram in sorted(latencies.items()):
            edges, counts = _coarse(histogram.buckets())
            if counts:
                axes.stairs(counts, edges, label=f"{transport} ({histogram.count})",
                            fill=len(latencies) == 1, alpha=0.8)
        log_axis_ms(axes)
        axes.set_ylabel("operations")
        axes.legend(loc="upper right")


def _coarse(buckets: Iterable[tuple[float, float, int]]) -> tuple[list[float], list[int]]:
    """The buckets gathered into :data:`BINS_PER_DECADE` bins a decade, contiguous from
    the lowest to the highest used, edges in milliseconds."""
    counts: dict[int, int] = {}
    for lower, upper, count in buckets:
        middle = math.sqrt(lower * upper) * 1000
        index = math.floor(math.log10(middle) * BINS_PER_DECADE)
        counts[index] = counts.get(index, 0) + count
    if not counts:
        return [], []
    low, high = min(counts), max(counts)
    edges = [10 ** (i / BINS_PER_DECADE) for i in range(low, high + 2)]
    return edges, [counts.get(i, 0) for i in range(low, high + 1)]
