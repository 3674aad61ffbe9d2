"""What a report says of each requested scenario: passed, failed, skipped, or not run.

A run reports every scenario it was asked for. One that ran has a
:class:`~testbed.scenario.ScenarioResult`; one that did not run to its end (the run was
interrupted before or while it ran, its file could not be loaded) has a :class:`NotRun`
with the reason. A report never counts a scenario that did not run as passed. A
scenario whose client program is not installed is skipped (its result says how to
install it); under CI it fails instead (see testbed.scenario.run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from testbed.scenario import Scenario, ScenarioResult

PASSED, FAILED, NOT_RUN, SKIPPED = "passed", "failed", "not-run", "skipped"
"""The status of a requested scenario, as JSON writes it."""


@dataclass(frozen=True)
class NotRun:
    """A requested scenario that did not run to its end, and why."""

    name: str
    path: str
    reason: str
    row: str = ""
    mode: str = ""
    duration: float = 0.0

    @classmethod
    def of(cls, scenario: Scenario, reason: str, duration: float = 0.0) -> NotRun:
        return cls(scenario.name, scenario.path, reason, scenario.row, scenario.mode, duration)

    @classmethod
    def unloaded(cls, path: str, reason: str) -> NotRun:
        """A file that could not be loaded: named after the file."""
        return cls(Path(path).stem, path, reason)


Entry = ScenarioResult | NotRun
"""One requested scenario in a report."""


def status(entry: Entry) -> str:
    """``passed``, ``failed``, ``skipped`` or ``not-run``."""
    if isinstance(entry, NotRun):
        return NOT_RUN
    if entry.skipped:
        return SKIPPED
    return PASSED if entry.passed else FAILED


def counts(entries: Sequence[Entry]) -> dict[str, int]:
    """How many passed, failed and did not run (every status present, zeros included)."""
    found = {PASSED: 0, FAILED: 0, NOT_RUN: 0, SKIPPED: 0}
    for entry in entries:
        found[status(entry)] += 1
    return found


def totals_line(entries: Sequence[Entry]) -> str:
    """``12 passed, 1 failed`` and, when some were skipped or did not run,
    ``, 2 skipped, 3 not run``."""
    found = counts(entries)
    line = f"{found[PASSED]} passed, {found[FAILED]} failed"
    line += f", {found[SKIPPED]} skipped" if found[SKIPPED] else ""
    return line + (f", {found[NOT_RUN]} not run" if found[NOT_RUN] else "")


@dataclass(frozen=True)
class Identity:
    """What every report line names: the scenario, its file, row, mode and time."""

    name: str
    path: str
    row: str
    mode: str
    duration: float


def identity(entry: Entry) -> Identity:
    if isinstance(entry, NotRun):
        return Identity(entry.name, entry.path, entry.row, entry.mode, entry.duration)
    scenario = entry.scenario
    return Identity(scenario.name, scenario.path, scenario.row, scenario.mode, entry.duration)
