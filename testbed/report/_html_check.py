"""The HTML page of ``testbed check --report-dir DIR``: ``DIR/index.html``.

One self-contained page for the deployment checked: the verdict, the RFC 3263 discovery
(NAPTR, SRV, addresses, what AUTO would pick and why), the matrix of every target and
transport with its troubleshooting row, then each check in full (cause and solution when
it failed, what was advertised, the certificate, every step) and the findings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testbed.check import CheckReport, TargetCheck

from ._html import PAGE_FILE, write_page


def write_check_page(report_dir: str | Path, report: CheckReport) -> Path:
    """Write ``report_dir/index.html`` for ``report``; return its path."""
    passed = sum(1 for check in report.checks if check.ok)
    page = {
        "uri": report.uri, "ok": report.ok,
        "totals": f"{passed} of {len(report.checks)} checks passed"
                  + ("" if report.ok else ": the deployment needs attention"),
        "discovery": report.discovery.lines(), "auto": list(report.discovery.auto_trace),
        "notes": list(report.notes), "findings": report.findings,
        "checks": [_check(index, check) for index, check in enumerate(report.checks)],
    }
    return write_page(Path(report_dir) / PAGE_FILE, "check.html.j2", page=page)


def _check(index: int, check: TargetCheck) -> dict[str, Any]:
    return {"id": f"check-{index}", "transport": check.transport.value, "target": check.target,
            "ok": check.ok, "row": check.row, "diagnosis": check.diagnosis,
            "advertised": check.advertised, "certificate": check.certificate or "",
            "steps": list(check.steps), "findings": list(check.findings)}
