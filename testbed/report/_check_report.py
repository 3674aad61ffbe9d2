"""``testbed check`` results as text, JSON (``checks``) and JUnit (a test case per check)."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from testbed.check import CheckReport, TargetCheck


def check_text(report: CheckReport, *, width: int = 100) -> str:
    """The discovery, a table of the checks, then each failure's row and solution."""
    lines = [f"testbed check {report.uri}", "", "Discovery (RFC 3263):"]
    lines += [f"  {line}" for line in report.discovery.lines()]
    lines += [f"  note: {note}" for note in report.notes]
    lines += ["", f"{'transport':<9}  {'target':<36}  {'result':<6}  row"]
    for check in report.checks:
        result = "ok" if check.ok else "FAIL"
        lines.append(f"{check.transport:<9}  {check.target:<36}  {result:<6}  {check.row}")
    for check in report.checks:
        lines += ["", f"{check.transport} {check.target}: "
                      + ("ok" if check.ok else check.diagnosis.symptom)]
        if not check.ok:
            lines += _wrapped(f"Likely cause: {check.diagnosis.cause}", width)
            lines += _wrapped(f"Solution: {check.diagnosis.solution}", width)
        lines += _wrapped(f"Advertised: {check.advertised}", width) if check.advertised else []
        if check.certificate:
            lines += _wrapped(f"Certificate: {check.certificate}", width)
        lines += [f"    {step}" for step in check.steps]
    if report.findings:
        lines += ["", "Findings:"] + [f"  [{f.id}] {f.sentence}" for f in report.findings]
    passed = sum(1 for check in report.checks if check.ok)
    lines += ["", f"{passed} of {len(report.checks)} checks passed"
                  + ("" if report.ok else ": the deployment needs attention")]
    return "\n".join(lines)


def _wrapped(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent="  ", subsequent_indent="    ")


def check_json(report: CheckReport) -> dict[str, Any]:
    """The report as data: ``checks`` holds one object per target and transport."""
    return {
        "uri": report.uri,
        "ok": report.ok,
        "discovery": report.discovery.lines(),
        "auto": report.discovery.auto_trace,
        "notes": report.notes,
        "checks": [_check_json(check) for check in report.checks],
        "findings": [{"id": f.id, "sentence": f.sentence, "evidence": list(f.evidence)}
                     for f in report.findings],
    }


def _check_json(check: TargetCheck) -> dict[str, Any]:
    return {
        "transport": check.transport.value, "target": check.target, "ok": check.ok,
        "row": check.row, "advertised": check.advertised,
        "symptom": check.diagnosis.symptom, "cause": check.diagnosis.cause,
        "solution": check.diagnosis.solution, "evidence": check.evidence,
        "certificate": check.certificate,
        "findings": [{"id": f.id, "sentence": f.sentence} for f in check.findings],
    }


def write_check_json(path: str | Path, report: CheckReport) -> None:
    Path(path).write_text(json.dumps(check_json(report), indent=2) + "\n", encoding="utf-8")


def write_check_junit(path: str | Path, report: CheckReport) -> None:
    """A test suite named after the URI, a test case per check."""
    failures = sum(1 for check in report.checks if not check.ok)
    suite = ET.Element("testsuite", name=f"testbed check {report.uri}",
                       tests=str(len(report.checks)), failures=str(failures), errors="0")
    for check in report.checks:
        case = ET.SubElement(suite, "testcase", classname="testbed.check",
                             name=f"{check.transport} {check.target}")
        if not check.ok:
            failure = ET.SubElement(case, "failure", message=f"{check.row}: "
                                    f"{check.diagnosis.symptom}")
            failure.text = "\n".join([check.diagnosis.cause, check.diagnosis.solution,
                                      *check.evidence])
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(check.steps + [f"[{f.id}] {f.sentence}" for f in check.findings])
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


__all__ = ["check_json", "check_text", "write_check_json", "write_check_junit"]
