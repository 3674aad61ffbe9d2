"""Ours against a reference, in the same run, each at its best window.

Absolute rates on a shared machine move by a factor of three from one week to the
next, and by tens of percent from one minute to the next: only a ratio of figures
taken side by side means anything. :func:`compare` therefore

1. probes each side at a few windows (operations or queries in flight) with short runs
   and keeps the window where it peaks, so neither side is compared at a setting that
   starves or floods it;
2. measures the two sides alternately, ``runs`` times each (ours, theirs, ours, ...),
   so a burst of load from elsewhere falls on both;
3. reports the median of each side, their ratio and the target.
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Measure = Callable[[int, float], Awaitable[dict[str, Any]]]
"""``measure(window, seconds)``: one run, its figures with ``rate`` (per second)."""


@dataclass
class Side:
    """One side of a comparison: what it is, how to run it, the windows to try."""

    key: str
    label: str
    measure: Measure
    windows: tuple[int, ...]


async def best_window(side: Side, seconds: float) -> tuple[int, dict[int, float]]:
    """The window where ``side`` peaks over short runs of ``seconds`` (and every probe)."""
    probes: dict[int, float] = {}
    for window in side.windows:
        probes[window] = (await side.measure(window, seconds))["rate"]
    return max(probes, key=lambda w: probes[w]), probes


async def compare(ours: Side, theirs: Side, *, runs: int, seconds: float,
                  probe_seconds: float, target: float,
                  say: Callable[[str], None]) -> dict[str, Any]:
    """Both sides at their best window, alternately, ``runs`` times: medians and ratio."""
    chosen: dict[str, tuple[int, dict[int, float]]] = {}
    for side in (ours, theirs):
        if len(side.windows) > 1:
            chosen[side.key] = await best_window(side, probe_seconds)
        else:
            chosen[side.key] = (side.windows[0], {})
    figures: dict[str, list[dict[str, Any]]] = {ours.key: [], theirs.key: []}
    for _ in range(runs):
        for side in (ours, theirs):
            figures[side.key].append(await side.measure(chosen[side.key][0], seconds))
    out: dict[str, Any] = {}
    for side in (ours, theirs):
        window, probes = chosen[side.key]
        rates = [run["rate"] for run in figures[side.key]]
        median = statistics.median(rates)
        out[side.key] = {"rate": median, "window": window,
                         "probes": {str(w): round(r) for w, r in probes.items()},
                         "runs": figures[side.key]}
        say(f"  {side.label:<44} {median:>10,.0f}/s  window {window:<4} runs: "
            + ", ".join(f"{r:,.0f}" for r in rates))
    theirs_rate = out[theirs.key]["rate"]
    out["ratio"] = out[ours.key]["rate"] / theirs_rate if theirs_rate else None
    out["target"] = target
    if out["ratio"] is not None:
        verdict = "met" if out["ratio"] >= target else "not met"
        say(f"  {'ratio':<44} {out['ratio']:>10.2f}x  target {target:g}x: {verdict}")
    return out
