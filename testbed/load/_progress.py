"""The live statistics of a load run: periodic and cumulative figures side by side.

Like SIPp's screen, each report shows two rows under one header: ``period``, the
figures since the previous report (operations started, succeeded and failed, UDP
retransmissions, the success rate and latency percentiles of that period alone), and
``total``, the same figures since the run started. On a terminal the two rows are
rewritten in place (ANSI cursor-up) every second; into a file or a pipe (CI logs) both
rows are printed every ``interval`` seconds, so the log shows the run's pace without
flooding.

    load        time    started         ok   failed  retrans  in flight     rate/s   p50 ms   p99 ms
    period     1.0 s      2,000      1,998        0        4         12      1,998     1.20     5.20
    total     12.0 s     24,000     23,990        3       37                 1,999     1.20     4.57

The periodic percentiles come from the difference of two cumulative histograms, at the
histogram's resolution (:mod:`testbed.load._histogram`).
"""

from __future__ import annotations

import sys
from typing import TextIO

from ._histogram import LatencyHistogram
from ._stats import Progress

_UP = "\x1b[1A"  # cursor up one line
_CLEAR = "\x1b[K"  # erase to the end of the line


class ProgressDisplay:
    """A callable for :class:`LoadRunner`'s ``progress``: prints :class:`Progress` snapshots
    as a ``period`` row (since the previous report) and a ``total`` row."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None,
                 interval: float = 5.0, label: str = "load") -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self.label = label
        self.lines = 0
        self._last: Progress | None = None
        self._drawn = False

    @property
    def refresh(self) -> float:
        """How often the runner should call: every second on a terminal, at the interval
        otherwise."""
        return 1.0 if self.tty else self.interval

    def header(self) -> str:
        return (f"{self.label:<7} {'time':>8} {'started':>10} {'ok':>10} {'failed':>8} "
                f"{'retrans':>8} {'in flight':>10} {'rate/s':>10} {'p50 ms':>8} {'p99 ms':>8}")

    def rows(self, progress: Progress) -> tuple[str, str]:
        """The ``period`` row (since the last report) and the ``total`` row."""
        last = self._last or Progress(0.0, 0, 0, 0, 0)
        span = progress.elapsed - last.elapsed
        ok = progress.succeeded - last.succeeded
        latency = progress.latency
        if latency is not None and last.latency is not None:
            latency = latency.since(last.latency)
        period = _row("period", span, progress.attempted - last.attempted, ok,
                      progress.failed - last.failed,
                      progress.retransmissions - last.retransmissions,
                      f"{progress.in_flight:,}", ok / span if span > 0 else None, latency)
        total = _row("total", progress.elapsed, progress.attempted, progress.succeeded,
                     progress.failed, progress.retransmissions, "",
                     progress.succeeded / progress.elapsed if progress.elapsed > 0 else None,
                     progress.latency)
        return period, total + ("  done" if progress.done else "")

    def __call__(self, progress: Progress) -> None:
        last = self._last
        if not self.tty and not progress.done and last is not None \
                and progress.elapsed - last.elapsed < self.interval - 1e-9:
            return
        period, total = self.rows(progress)
        self._last = progress
        write = self.stream.write
        if not self._drawn:
            write(self.header() + "\n")
            self.lines += 1
        if self.tty:
            if self._drawn:
                write("\r" + _UP)
            write(f"\r{period}{_CLEAR}\n{total}{_CLEAR}" + ("\n" if progress.done else ""))
        else:
            write(f"{period}\n{total}\n")
        self._drawn = True
        self.lines += 2
        self.stream.flush()


def _row(name: str, seconds: float, started: int, ok: int, failed: int, retransmissions: int,
         in_flight: str, rate: float | None, latency: LatencyHistogram | None) -> str:
    return (f"{name:<7} {seconds:>6.1f} s {started:>10,} {ok:>10,} {failed:>8,} "
            f"{retransmissions:>8,} {in_flight:>10} "
            f"{'-' if rate is None else f'{rate:,.0f}':>10} "
            f"{_ms(latency, 50):>8} {_ms(latency, 99):>8}")


def _ms(latency: LatencyHistogram | None, p: float) -> str:
    value = None if latency is None else latency.percentile(p)
    return "-" if value is None else f"{value * 1000:.2f}"
