"""Ours against a reference, in the same run, each at its best window.

Absolute rates on a shared machine move by a factor of three from one week to the
next, and by tens of percent from one minute to the next: only a ratio of figures
taken side by side means anything. :func:`compare` therefore

1. probes each side at a few settings (a window: operations or queries in flight; and
   how many processes share it) with short runs and keeps the setting where it peaks,
   so neither side is compared at a setting that starves or floods it;
2. measures the two sides alternately, ``runs`` times each (ours, theirs, ours, ...),
   so a burst of load from elsewhere falls on both;
3. reports the median of each side, their ratio and the target.
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    """How one side runs: ``window`` operations in flight in all, over ``processes``
    processes (the load client's workers, several SIPp UACs)."""

    window: int
    processes: int = 1

    def __str__(self) -> str:
        return str(self.window) if self.processes == 1 else f"{self.window}x{self.processes}"


Measure = Callable[[Setting, float], Awaitable[dict[str, Any]]]
"""``measure(setting, seconds)``: one run, its figures with ``rate`` (per second)."""


@dataclass
class Side:
    """One side of a comparison: what it is, how to run it, the settings to try (a
    window alone stands for that window in one process)."""

    key: str
    label: str
    measure: Measure
    settings: tuple[Setting | int, ...]

    def candidates(self) -> list[Setting]:
        return [s if isinstance(s, Setting) else Setting(s) for s in self.settings]


async def best_setting(side: Side, seconds: float) -> tuple[Setting, dict[Setting, float]]:
    """The setting where ``side`` peaks over short runs of ``seconds`` (and every probe)."""
    probes: dict[Setting, float] = {}
    for setting in side.candidates():
        probes[setting] = (await side.measure(setting, seconds))["rate"]
    return max(probes, key=lambda s: probes[s]), probes


async def compare(ours: Side, theirs: Side, *, runs: int, seconds: float,
                  probe_seconds: float, target: float,
                  say: Callable[[str], None]) -> dict[str, Any]:
    """Both sides at their best setting, alternately, ``runs`` times: medians and ratio."""
    chosen: dict[str, tuple[Setting, dict[Setting, float]]] = {}
    for side in (ours, theirs):
        candidates = side.candidates()
        if len(candidates) > 1:
            chosen[side.key] = await best_setting(side, probe_seconds)
        else:
            chosen[side.key] = (candidates[0], {})
    figures: dict[str, list[dict[str, Any]]] = {ours.key: [], theirs.key: []}
    for _ in range(runs):
        for side in (ours, theirs):
            figures[side.key].append(await side.measure(chosen[side.key][0], seconds))
    out: dict[str, Any] = {}
    for side in (ours, theirs):
        setting, probes = chosen[side.key]
        rates = [run["rate"] for run in figures[side.key]]
        median = statistics.median(rates)
        out[side.key] = {"rate": median, "window": setting.window,
                         "processes": setting.processes,
                         "probes": {str(s): round(r) for s, r in probes.items()},
                         "runs": figures[side.key]}
        say(f"  {side.label:<44} {median:>10,.0f}/s  window {str(setting):<6} runs: "
            + ", ".join(f"{r:,.0f}" for r in rates))
    theirs_rate = out[theirs.key]["rate"]
    out["ratio"] = out[ours.key]["rate"] / theirs_rate if theirs_rate else None
    out["target"] = target
    if out["ratio"] is not None:
        verdict = "met" if out["ratio"] >= target else "not met"
        say(f"  {'ratio':<44} {out['ratio']:>10.2f}x  target {target:g}x: {verdict}")
    return out
