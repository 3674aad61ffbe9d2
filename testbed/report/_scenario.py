"""``--report-dir``: the artefacts of one scenario run, in ``DIR/<scenario name>/``."""

from __future__ import annotations

import json
from pathlib import Path

from ._machine import result_json


def write_scenario_report(report_dir: Path, result: object, keylog: str | None) -> Path:
    """Write diagnosis.txt, result.json, and the ladder, message log and pcap."""
    folder = Path(report_dir) / result.scenario.name
    folder.mkdir(parents=True, exist_ok=True)
    diagnosis = result.diagnosis
    lines = [f"scenario: {result.scenario.name} ({result.scenario.path})",
             f"result: {'PASS' if result.passed else 'FAIL'}"]
    lines += [f"  {failure}" for failure in result.failures]
    if diagnosis is not None:
        lines += ["", str(diagnosis)]
    lines += ["", "world:"] + [f"  {endpoint}" for endpoint in result.endpoints]
    (folder / "diagnosis.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "result.json").write_text(json.dumps(result_json(result), indent=2) + "\n",
                                        encoding="utf-8")
    from . import _artefacts

    keylog_text = Path(keylog).read_text() if keylog and Path(keylog).exists() else None
    _artefacts.write_artefacts(Path(report_dir), result.scenario.name, result.trace_events,
                               result.dns_log, result.capture, keylog_text,
                               names=result.names or None)
    return folder
