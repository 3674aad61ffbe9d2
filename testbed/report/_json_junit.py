"""Machine-readable results: ``--json FILE`` and ``--junit FILE``.

Both list every requested scenario: passed, failed, or not run (interrupted, or a file
that could not be loaded), so a run that stopped early never reads as a pass. Given the
run's ``report_dir``, each scenario names its HTML page (``DIR/<scenario>/index.html``):
``report`` in the JSON; in JUnit a ``report`` property of the test case and an
``[[ATTACHMENT|path]]`` line in its ``system-out`` (what Jenkins and GitLab attach).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from testbed.client import Outcome
from testbed.scenario import ScenarioResult

from ._html import PAGE_FILE
from ._html_run import page_path
from ._status import FAILED, NOT_RUN, PASSED, SKIPPED, Entry, NotRun, counts, identity, status
from ._summary import diagnosis_text, finding_ids_text


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
        "status": status(result),
        "passed": result.passed,
        "duration": round(result.duration, 6),
        "error": result.error or result.skipped,
        "failures": list(result.failures),
        "diagnosis": None if diagnosis is None else {
            "row": diagnosis.row, "symptom": diagnosis.symptom, "cause": diagnosis.cause,
            "solution": diagnosis.solution, "evidence": list(diagnosis.evidence)},
        "findings": [] if diagnosis is None else [
            {"id": f.id, "sentence": f.sentence, "evidence": list(f.evidence)}
            for f in diagnosis.findings],
        "steps": [{"index": s.index, "kind": s.kind, "failures": s.failures,
                   "outcome": _outcome_json(s.outcome) if s.outcome else None}
                  for s in result.steps],
        "endpoints": [{"role": e.role, "transport": e.transport, "host": e.host,
                       "port": e.port, "note": e.note} for e in result.endpoints],
    }


def entry_json(entry: Entry, report_dir: str | Path | None = None) -> dict[str, Any]:
    """One requested scenario as JSON: its result, or why it did not run.

    A scenario that did not run has the keys of one that ran, with ``status``
    ``not-run``, ``passed`` false, the reason as ``error`` and nothing judged. ``report``
    is the path of its HTML page under ``report_dir`` (None without one).
    """
    if isinstance(entry, ScenarioResult):
        return {**result_json(entry), "report": report_page(report_dir, entry)}
    return {"name": entry.name, "file": entry.path, "troubleshooting": entry.row or None,
            "mode": entry.mode or None, "status": NOT_RUN, "passed": False,
            "duration": round(entry.duration, 6), "error": entry.reason, "failures": [],
            "diagnosis": None, "findings": [], "steps": [], "endpoints": [],
            "report": None}


def report_page(report_dir: str | Path | None, entry: Entry) -> str | None:
    """The path of ``entry``'s HTML page under ``report_dir``, if it was written there
    (a scenario that did not run has none)."""
    if report_dir is None or not isinstance(entry, ScenarioResult):
        return None
    page = page_path(report_dir, entry.scenario.name)
    return str(page) if page.exists() else None


def write_json(path: str | Path, entries: Sequence[Entry], *,
               interrupted: str | None = None, report_dir: str | Path | None = None) -> None:
    """Every requested scenario as JSON: the counts by status, then each scenario.

    ``interrupted`` names the signal that stopped the run (``SIGINT``), if one did;
    ``report`` the run's HTML index under ``report_dir``, if any.
    """
    found = counts(entries)
    index = Path(report_dir) / PAGE_FILE if report_dir is not None else None
    data = {"requested": len(entries), "passed": found[PASSED], "failed": found[FAILED],
            "not_run": found[NOT_RUN], "skipped": found[SKIPPED], "interrupted": interrupted,
            "report": str(index) if index is not None and index.exists() else None,
            "scenarios": [entry_json(e, report_dir) for e in entries]}
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def write_junit(path: str | Path, entries: Sequence[Entry], *,
                report_dir: str | Path | None = None) -> None:
    """JUnit XML: one testcase per requested scenario.

    A failed scenario is a ``<failure>`` whose message names the failed expectations
    and the findings; one that did not run is an ``<error type="not-run">`` (never a
    pass, never a skip); a scenario skipped for a missing client program is a
    ``<skipped>`` with the install command. ``system-out`` holds the diagnosis and every
    finding, and the scenario's HTML page under ``report_dir`` (a ``report`` property
    and an ``[[ATTACHMENT|path]]`` line).
    """
    found = counts(entries)
    suite = ET.Element("testsuite", name="sip-transport-testbed", tests=str(len(entries)),
                       failures=str(found[FAILED]), errors=str(found[NOT_RUN]),
                       skipped=str(found[SKIPPED]),
                       time=f"{sum(identity(e).duration for e in entries):.3f}")
    for entry in entries:
        ident = identity(entry)
        case = ET.SubElement(suite, "testcase", classname=f"scenarios.{ident.row or 'unknown'}",
                             name=ident.name, file=ident.path, time=f"{ident.duration:.3f}")
        if isinstance(entry, NotRun):
            error = ET.SubElement(case, "error", type=NOT_RUN,
                                  message=f"not run: {entry.reason}"[:_MESSAGE])
            error.text = f"{ident.path}: not run: {entry.reason}"
            continue
        if entry.skipped:
            ET.SubElement(case, "skipped", message=_cut(entry.skipped))
            continue
        diagnosis = entry.diagnosis
        page = report_page(report_dir, entry)
        if page is not None:
            properties = ET.SubElement(case, "properties")
            ET.SubElement(properties, "property", name="report", value=page)
        if not entry.passed:
            message = "; ".join(entry.failures or ["failed"])
            ids = finding_ids_text(diagnosis)
            message = f"{message} ({ids})" if ids else message
            failure = ET.SubElement(case, "failure", message=_cut(message))
            failure.text = "\n".join(entry.failures + (
                ["", diagnosis_text(diagnosis)] if diagnosis is not None else []))
        out = [diagnosis_text(diagnosis)] if diagnosis is not None else []
        out += [f"[[ATTACHMENT|{page}]]"] if page is not None else []
        if out:
            ET.SubElement(case, "system-out").text = "\n".join(out)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


_MESSAGE = 1000
"""A JUnit message longer than this is cut (the whole text is in the element's body)."""


def _cut(message: str) -> str:
    return message if len(message) <= _MESSAGE else message[:_MESSAGE - 3] + "..."
