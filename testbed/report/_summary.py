"""Console output of a run: a progress line per scenario and the summary table.

Renderers only: they never decide pass or fail (the runner did).
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Mapping, Sequence

from testbed.diagnosis import Row
from testbed.scenario import Scenario, ScenarioResult


def _width() -> int:
    return max(80, min(140, shutil.get_terminal_size((100, 20)).columns))


def progress_line(index: int, total: int, result: ScenarioResult) -> str:
    """``[ 3/27] PASS tls-expired-certificate (0.4 s) TLS handshake failure``."""
    status = "PASS" if result.passed else "FAIL"
    diagnosis = result.diagnosis.symptom if result.diagnosis else (result.error or "")
    return (f"[{index:>2}/{total}] {status} {result.scenario.name} "
            f"({result.duration:.1f} s) {diagnosis}")


def failure_details(result: ScenarioResult) -> str:
    """What went wrong in a failed scenario, one line each, indented."""
    lines = [f"  {result.scenario.path}:"]
    lines += [f"    {failure}" for failure in result.failures]
    return "\n".join(lines)


def summary_table(results: Sequence[ScenarioResult]) -> str:
    """The table of scenarios with pass/fail and the diagnosis, and a totals line."""
    width = _width()
    rows = []
    for result in results:
        diagnosis = result.diagnosis
        if diagnosis is None:
            text = result.error or ""
        elif diagnosis.row == "healthy":
            text = diagnosis.symptom
        else:
            text = f"{diagnosis.symptom}: {diagnosis.cause}"
        rows.append(("PASS" if result.passed else "FAIL", result.scenario.name,
                     result.scenario.mode.upper(), f"{result.duration:.1f}s", text))
    name_w = max([len(r[1]) for r in rows] + [8])
    head = f"{'':4}  {'scenario':<{name_w}}  {'mode':<4}  {'time':>5}  diagnosis"
    out = [head, "-" * min(width, len(head) + 40)]
    indent = 4 + 2 + name_w + 2 + 4 + 2 + 5 + 2
    for status, name, mode, took, text in rows:
        wrapped = textwrap.wrap(text, max(30, width - indent)) or [""]
        out.append(f"{status:4}  {name:<{name_w}}  {mode:<4}  {took:>5}  {wrapped[0]}")
        out.extend(" " * indent + line for line in wrapped[1:2])
    passed = sum(1 for r in results if r.passed)
    out.append("")
    out.append(f"{passed} passed, {len(results) - passed} failed")
    return "\n".join(out)


def catalogue_table(scenarios: Sequence[Scenario], rows: Mapping[str, Row]) -> str:
    """``testbed list``: scenario, transport mode, troubleshooting row reproduced."""
    name_w = max([len(s.name) for s in scenarios] + [8])
    out = [f"{'scenario':<{name_w}}  {'mode':<4}  troubleshooting row",
           "-" * (name_w + 40)]
    for scenario in scenarios:
        row = rows.get(scenario.row)
        symptom = row.symptom if row is not None else scenario.row
        out.append(f"{scenario.name:<{name_w}}  {scenario.mode.upper():<4}  {symptom}")
    return "\n".join(out)


def catalogue_markdown(scenarios: Sequence[Scenario], rows: Mapping[str, Row]) -> str:
    """The catalogue as the README's Markdown table: scenario → row → what it proves."""
    out = ["| scenario | mode | troubleshooting row | what it proves |", "|---|---|---|---|"]
    for scenario in sorted(scenarios, key=lambda s: (s.row != "healthy", s.row, s.name)):
        row = rows.get(scenario.row)
        symptom = row.symptom if row is not None else scenario.row
        out.append(f"| [`{scenario.name}`]({scenario.path}) | {scenario.mode.upper()} | "
                   f"{symptom} | {scenario.proves} |")
    return "\n".join(out)
