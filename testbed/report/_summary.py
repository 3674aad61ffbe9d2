"""Plain-text renderings shared by the console and the files: times, diagnoses, ladders.

Renderers only: they never decide pass or fail (the runner did).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from testbed.diagnosis import Diagnosis, Row
from testbed.scenario import Scenario, ScenarioResult

LADDER_EXCERPT_ROWS = 40
"""A ladder with more rows than this is shown as its header and its last rows."""

_LADDER_ROW = re.compile(r"^\s*-?\d+\.\d+\s")
"""A row of the ladder: it starts with its time."""


def format_duration(seconds: float) -> str:
    """A run's time in milliseconds: ``412 ms``, ``3.2 ms`` below 10 ms."""
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def diagnosis_text(diagnosis: Diagnosis) -> str:
    """The diagnosis, then every finding of the journey with its evidence.

        Symptom: ...
        Likely cause: ...
        Solution: ...
        Evidence: ...
        Findings:
          [connection-refused] 127.0.0.7:5061/TLS refused the connection
              REGISTER -> 127.0.0.7:5061/TLS: refused
    """
    lines = [f"Symptom: {diagnosis.symptom}", f"Likely cause: {diagnosis.cause}",
             f"Solution: {diagnosis.solution}"]
    lines += [f"Evidence: {line}" for line in diagnosis.evidence]
    if diagnosis.findings:
        lines.append("Findings:")
    for finding in diagnosis.findings:
        lines.append(f"  {finding}")
        lines += [f"      {line}" for line in finding.evidence]
    return "\n".join(lines)


def finding_ids_text(diagnosis: Diagnosis | None) -> str:
    """``findings: connection-refused, failover``; empty when there are none."""
    if diagnosis is None or not diagnosis.findings:
        return ""
    return "findings: " + ", ".join(diagnosis.finding_ids)


def failure_details(result: ScenarioResult) -> str:
    """What went wrong in a failed scenario, one line each, indented."""
    lines = [f"  {result.scenario.path}:"]
    lines += [f"    {failure}" for failure in result.failures]
    return "\n".join(lines)


def ladder_excerpt(text: str, rows: int = LADDER_EXCERPT_ROWS,
                   whole: str | Path | None = None) -> str:
    """``text`` as it is, or its header and its last ``rows`` lines (where a run ends up).

    The cut is marked with the number of lines left out and, when ``whole`` is given,
    where the whole ladder is.
    """
    lines = text.rstrip("\n").splitlines()
    first = next((i for i, line in enumerate(lines) if _LADDER_ROW.match(line)), 0)
    header, body = lines[:first], lines[first:]
    if len(body) <= rows:
        return "\n".join(lines)
    where = f"; the whole ladder: {whole}" if whole else ""
    return "\n".join([*header, f"   ... {len(body) - rows} earlier lines not shown{where} ...",
                      *body[-rows:]])


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
