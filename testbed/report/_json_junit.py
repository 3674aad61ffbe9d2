"""Machine-readable results: ``--json FILE`` and ``--junit FILE``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from testbed.client import Outcome
from testbed.scenario import ScenarioResult


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    return {
        "operation": outcome.operation,
        "ok": outcome.ok,
        "summary": outcome.summary,
        "status": outcome.status,
        "error": outcome.error,
        "transport": outcome.transport,
        "remote": list(outcome.remote) if outcome.remote else None,
        "tls_failure": getattr(outcome.tls_failure, "kind", None),
        "resolution": list(outcome.resolution),
        "exchanges": [
            {"method": e.method, "transport": e.transport, "remote": list(e.remote),
             "status": e.status, "reason": e.reason, "error": e.error, "detail": e.detail,
             "transmissions": e.transmissions,
             "duration": round((e.ended or e.started) - e.started, 6)}
            for e in outcome.exchanges],
    }


def result_json(result: ScenarioResult) -> dict[str, Any]:
    """One scenario result as plain JSON data."""
    diagnosis = result.diagnosis
    return {
        "name": result.scenario.name,
        "file": result.scenario.path,
        "troubleshooting": result.scenario.row,
        "mode": result.scenario.mode,
        "passed": result.passed,
        "duration": round(result.duration, 6),
        "error": result.error,
        "failures": list(result.failures),
        "diagnosis": None if diagnosis is None else {
            "row": diagnosis.row, "symptom": diagnosis.symptom, "cause": diagnosis.cause,
            "solution": diagnosis.solution, "evidence": list(diagnosis.evidence)},
        "steps": [{"index": s.index, "kind": s.kind, "failures": s.failures,
                   "outcome": _outcome_json(s.outcome) if s.outcome else None}
                  for s in result.steps],
        "endpoints": [{"role": e.role, "transport": e.transport, "host": e.host,
                       "port": e.port, "note": e.note} for e in result.endpoints],
    }


def write_json(path: str | Path, results: Sequence[ScenarioResult]) -> None:
    """Every result as JSON: how many passed and failed, then each scenario."""
    passed = sum(1 for r in results if r.passed)
    data = {"passed": passed, "failed": len(results) - passed,
            "scenarios": [result_json(r) for r in results]}
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def write_junit(path: str | Path, results: Sequence[ScenarioResult]) -> None:
    """JUnit XML: one testcase per scenario; the failures and diagnosis as the message."""
    suite = ET.Element("testsuite", name="sip-transport-testbed", tests=str(len(results)),
                       failures=str(sum(1 for r in results if not r.passed)),
                       time=f"{sum(r.duration for r in results):.3f}")
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=f"scenarios.{result.scenario.row}",
                             name=result.scenario.name, file=result.scenario.path,
                             time=f"{result.duration:.3f}")
        if not result.passed:
            failure = ET.SubElement(case, "failure",
                                    message=(result.failures or ["failed"])[0][:500])
            failure.text = "\n".join(result.failures)
        if result.diagnosis is not None:
            ET.SubElement(case, "system-out").text = str(result.diagnosis)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
