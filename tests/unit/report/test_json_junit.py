"""``--json`` and ``--junit`` list every requested scenario: its findings, and the ones
that did not run as not run (a JUnit error, JSON ``not-run``), never as passed."""

import json
import xml.etree.ElementTree as ET

from testbed.report import NotRun, write_json, write_junit, write_scenario_report

from .conftest import REFUSED, result, scenario

FAILED = result("tls-cn-only", passed=False, row="tls-handshake-failure",
                cause="The certificate names the domain only in its CN",
                failures=("expect.diagnosis.row: expected 'healthy', got 'tls-handshake-failure'",))
ENTRIES = [result(), FAILED,
           NotRun.of(scenario("interrupted"), "interrupted by SIGINT while running", 0.25),
           NotRun.of(scenario("never"), "the run was interrupted by SIGINT"),
           NotRun.unloaded("scenarios/typo.yaml", "scenarios/typo.yaml:3: client: bad")]


def test_json_counts_by_status_and_lists_findings(tmp_path):
    path = tmp_path / "results.json"
    write_json(path, ENTRIES, interrupted="SIGINT")
    data = json.loads(path.read_text())
    assert {k: data[k] for k in ("requested", "passed", "failed", "not_run", "interrupted")} == {
        "requested": 5, "passed": 1, "failed": 1, "not_run": 3, "interrupted": "SIGINT"}
    statuses = [(s["name"], s["status"], s["passed"]) for s in data["scenarios"]]
    assert statuses == [("healthy-udp", "passed", True), ("tls-cn-only", "failed", False),
                        ("interrupted", "not-run", False), ("never", "not-run", False),
                        ("typo", "not-run", False)]
    first = data["scenarios"][0]
    assert first["findings"][0] == {"id": REFUSED.id, "sentence": REFUSED.sentence,
                                    "evidence": list(REFUSED.evidence)}
    assert [f["id"] for f in first["findings"]] == ["connection-refused", "failover"]
    interrupted = data["scenarios"][2]
    assert interrupted["error"] == "interrupted by SIGINT while running"
    assert interrupted["duration"] == 0.25
    assert set(interrupted) == set(first)  # the same keys, whatever the status


def test_junit_counts_the_requested_and_marks_the_unrun_as_errors(tmp_path):
    path = tmp_path / "junit.xml"
    write_junit(path, ENTRIES)
    suite = ET.parse(path).getroot()
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "5", "failures": "1", "errors": "3", "skipped": "0"}
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["healthy-udp"].find("failure") is None
    assert cases["healthy-udp"].find("error") is None
    for name in ("interrupted", "never", "typo"):
        error = cases[name].find("error")
        assert error.get("type") == "not-run"
        assert error.get("message").startswith("not run: ")
    assert "client: bad" in cases["typo"].find("error").get("message")


def test_junit_shows_findings_in_system_out_and_the_failure_message(tmp_path):
    path = tmp_path / "junit.xml"
    write_junit(path, ENTRIES)
    cases = {case.get("name"): case for case in ET.parse(path).getroot().iter("testcase")}
    out = cases["healthy-udp"].find("system-out").text
    assert "Symptom: No problem" in out
    assert f"[connection-refused] {REFUSED.sentence}" in out
    assert REFUSED.evidence[0] in out
    failure = cases["tls-cn-only"].find("failure")
    assert failure.get("message") == (
        "expect.diagnosis.row: expected 'healthy', got 'tls-handshake-failure' "
        "(findings: connection-refused, failover)")
    assert f"[connection-refused] {REFUSED.sentence}" in failure.text


def test_the_report_dirs_diagnosis_lists_the_findings_with_evidence(tmp_path):
    folder = write_scenario_report(tmp_path, result(), None)
    text = (folder / "diagnosis.txt").read_text()
    assert "Findings:\n  [connection-refused] 127.0.0.7:5061/TLS refused the connection\n" \
           f"      {REFUSED.evidence[0]}\n  [failover]" in text
    data = json.loads((folder / "result.json").read_text())
    assert [f["id"] for f in data["findings"]] == ["connection-refused", "failover"]


def test_json_and_junit_name_each_scenarios_page_in_the_report_dir(tmp_path):
    report_dir = tmp_path / "report"
    page = write_scenario_report(report_dir, FAILED, None) / "index.html"
    (report_dir / "index.html").write_text("")
    write_json(tmp_path / "r.json", ENTRIES, report_dir=report_dir)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["report"] == str(report_dir / "index.html")
    pages = {s["name"]: s["report"] for s in data["scenarios"]}
    assert pages == {"healthy-udp": None, "tls-cn-only": str(page), "interrupted": None,
                     "never": None, "typo": None}  # only the page that was written
    write_junit(tmp_path / "j.xml", ENTRIES, report_dir=report_dir)
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "j.xml").getroot().iter("testcase")}
    assert cases["tls-cn-only"].find("properties/property[@name='report']").get(
        "value") == str(page)
    assert cases["tls-cn-only"].find("system-out").text.endswith(f"[[ATTACHMENT|{page}]]")
    assert cases["healthy-udp"].find("properties") is None


def test_without_a_report_dir_nothing_names_a_page(tmp_path):
    write_json(tmp_path / "r.json", ENTRIES)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["report"] is None and {s["report"] for s in data["scenarios"]} == {None}
