"""The statistics file of a load run: one CSV row per interval, like SIPp's -trace_stat.

``testbed load ... --stats-csv FILE [--stats-interval 1s]`` writes it when the run ends
(with ``--workers`` too: the workers' intervals are merged first). Columns, in order:

``interval``, ``start_s``, ``end_s``, ``duration_s``
    the interval's number (from 0) and its bounds in seconds from the run's start.
``attempted``, ``succeeded``, ``failed``, ``unfinished``
    operations started, ended well, ended badly, still in flight when the drain time
    ran out (only ever in the last row), in this interval.
``in_flight``
    operations in flight when the interval ended.
``retransmissions``
    requests sent again on UDP (Timers A and E, RFC 3261 §17.1.1.2, §17.1.2.2).
``rate_attempted``, ``rate_succeeded``
    per second over the interval.
``latency_count``, ``latency_mean_ms``, ``latency_p50_ms``, ``latency_p90_ms``,
``latency_p99_ms``, ``latency_max_ms``
    successful operations' latencies ended in the interval, every transport pooled
    (percentiles at the histogram's resolution, 2.33 %); empty when there were none.
``failed_<kind>``
    failures by kind, one column per :data:`testbed.client.ERROR_KINDS` (timeout,
    refused, unreachable, tls, websocket, transport, dns, auth, rejected, error).
``status_<code>``
    final SIP statuses, one column per status seen anywhere in the run, in order.
``cum_<column>``
    the cumulative value, from the run's start to ``end_s``, of each column from
    ``attempted`` to the last ``status_<code>`` (``cum_in_flight`` excepted: it is a
    level, not a count; ``cum_rate_*`` are over ``end_s``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from testbed.client import ERROR_KINDS

from ._stats import LatencySummary, LoadInterval, LoadResult

_LATENCY = ("count", "mean", "p50", "p90", "p99", "max")


def stats_csv_columns(result: LoadResult) -> list[str]:
    """The column names of ``result``'s statistics file."""
    counts = _count_columns(result)
    return ["interval", "start_s", "end_s", "duration_s", *counts[:4], "in_flight",
            *counts[4:], *(f"cum_{c}" for c in counts)]


def _count_columns(result: LoadResult) -> list[str]:
    return ["attempted", "succeeded", "failed", "unfinished", "retransmissions",
            "rate_attempted", "rate_succeeded",
            *(f"latency_{f}" if f == "count" else f"latency_{f}_ms" for f in _LATENCY),
            *(f"failed_{kind}" for kind in ERROR_KINDS),
            *(f"status_{code}" for code in sorted(result.statuses))]


def stats_csv_rows(result: LoadResult) -> Iterator[dict[str, Any]]:
    """One row (column name to value) per interval of ``result``."""
    statuses = sorted(result.statuses)
    for interval, running in zip(result.intervals, result.cumulative(), strict=True):
        row: dict[str, Any] = {"interval": interval.index, "start_s": _s(interval.start),
                               "end_s": _s(interval.end), "duration_s": _s(interval.duration),
                               "in_flight": interval.in_flight}
        row.update(_counts(interval, statuses, interval.duration))
        row.update({f"cum_{name}": value for name, value
                    in _counts(running, statuses, interval.end).items()})
        yield row


def _counts(figures: LoadInterval, statuses: list[int], seconds: float) -> dict[str, Any]:
    latency = figures.latency()
    row: dict[str, Any] = {
        "attempted": figures.attempted, "succeeded": figures.succeeded,
        "failed": figures.failed, "unfinished": figures.unfinished,
        "retransmissions": figures.retransmissions,
        "rate_attempted": _rate(figures.attempted, seconds),
        "rate_succeeded": _rate(figures.succeeded, seconds),
    }
    row.update(_latency(latency))
    row.update({f"failed_{kind}": figures.errors.get(kind, 0) for kind in ERROR_KINDS})
    row.update({f"status_{code}": figures.statuses.get(code, 0) for code in statuses})
    return row


def _latency(summary: LatencySummary) -> dict[str, Any]:
    out: dict[str, Any] = {"latency_count": summary.count}
    for name in _LATENCY[1:]:
        value = getattr(summary, name)
        out[f"latency_{name}_ms"] = "" if value is None else round(value * 1000, 3)
    return out


def _rate(n: int, seconds: float) -> float | str:
    return round(n / seconds, 1) if seconds > 0 else ""


def _s(seconds: float) -> float:
    return round(seconds, 3)


def write_stats_csv(result: LoadResult, target: str | Path | IO[str]) -> int:
    """Write ``result``'s statistics file to a path or an open text stream; the rows."""
    if isinstance(target, str | Path):
        with open(target, "w", newline="", encoding="utf-8") as stream:
            return write_stats_csv(result, stream)
    writer = csv.DictWriter(target, fieldnames=stats_csv_columns(result), lineterminator="\n")
    writer.writeheader()
    rows = 0
    for row in stats_csv_rows(result):
        writer.writerow(row)
        rows += 1
    return rows
