"""The pytest plugin, seen from a project that uses it (pytester).

Collection, markers and broken files run pytest in-process (no reactor needed); the
runs that start scenario worlds use a subprocess, since pytest-twisted's reactor
cannot be driven from inside this suite's own.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from testbed.diagnosis import ROWS
from testbed.pytest_plugin import failure_text, is_scenario_file, row_marker
from testbed.scenario import ScenarioResult, parse
from testbed.sip import MODES

AUTO_DNS = """\
dns:
  zones:
    - origin: sip.example.com
      records: [{name: sip.example.com, type: A, address: "${pbx}"}]
"""
LISTEN = {"udp": "udp", "tcp": "tcp", "tls": "tls", "wss": "wss", "auto": "udp"}


def scenario(name: str, transport: str = "udp", row: str = "healthy",
             listen: str | None = None) -> str:
    """A small valid scenario: one registrar on ``listen``, the client on ``transport``."""
    dns = AUTO_DNS if transport == "auto" else ""
    return f"""\
name: {name}
troubleshooting: {row}
timers: {{t1: 20ms}}
{dns}registrars:
  - name: pbx
    domain: sip.example.com
    listen: [{{transport: {listen or LISTEN[transport]}}}]
    users: {{alice: secret}}
client:
  transport: {transport}
  registrar: sip:sip.example.com
  user: alice
  password: secret
steps:
  - register
"""


# A NAPTR/SRV zone whose first target (TLS) refuses: the client fails over to TCP and
# registers. The expectations are wrong on purpose (UDP, row connection-refused).
FAILING = """\
name: wrong-expectations
troubleshooting: healthy
timers: {t1: 20ms}
dns:
  zones:
    - origin: sip.example.com
      records:
        - {name: sip.example.com, type: NAPTR, order: 10, preference: 10, flags: s, service: SIPS+D2T, regexp: "", replacement: _sips._tcp.sip.example.com}
        - {name: sip.example.com, type: NAPTR, order: 20, preference: 10, flags: s, service: SIP+D2T, regexp: "", replacement: _sip._tcp.sip.example.com}
        - {name: _sips._tcp.sip.example.com, type: SRV, priority: 10, weight: 10, port: 5061, target: pbx.sip.example.com}
        - {name: _sip._tcp.sip.example.com, type: SRV, priority: 10, weight: 10, port: 5060, target: pbx.sip.example.com}
        - {name: pbx.sip.example.com, type: A, address: "${pbx}"}
registrars:
  - name: pbx
    domain: sip.example.com
    listen: [{transport: tcp}]
    users: {alice: secret}
client:
  transport: auto
  registrar: sip:sip.example.com
  user: alice
  password: secret
steps:
  - register:
      expect: {ok: true, transport: UDP}
expect:
  diagnosis: {row: connection-refused}
"""

NOT_SCENARIOS = {
    "docker-compose.yml": "services:\n  pbx:\n    image: kamailio/kamailio\n    ports: ['5060:5060/udp']\n",
    # Top-level steps lists, as Cloud Build, Drone and Azure Pipelines write them.
    "cloudbuild.yaml": "steps:\n  - name: gcr.io/cloud-builders/docker\n    args: [build, .]\n",
    ".drone.yml": "kind: pipeline\nname: default\nsteps:\n  - name: test\n    image: python\n",
    "azure-pipelines.yml": "trigger: [main]\npool: {vmImage: ubuntu-latest}\nsteps:\n  - script: make test\n",
    ".gitlab-ci.yml": "test:\n  script:\n    - !reference [.setup, script]\n    - make test\n",
    "two-documents.yaml": "steps: [register]\nclient: {}\n---\nsteps: [register]\n",
    "a-list.yaml": "- steps: [register]\n  client: {}\n",
    "not-yaml.yml": "key: [unclosed\n",
    "empty.yaml": "",
}


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with the catalogue's layout: scenarios/ and other YAML beside them."""
    pytester.makefile(".yaml", **{"scenarios/udp": scenario("plain-udp")})
    return pytester


def in_process(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in this process, without pytest-twisted: its unconfigure would stop
    the reactor this suite runs on (nothing here runs a scenario world)."""
    return pytester.runpytest_inprocess("-p", "no:twisted", *args)


def collected(result: pytest.RunResult) -> list[str]:
    """The node ids a ``--collect-only -q`` run printed."""
    return sorted(line for line in result.outlines if "::" in line)


def test_without_the_option_the_scenarios_folder_is_collected(project: pytest.Pytester) -> None:
    project.makefile(".yaml", **{"lab/tls": scenario("lab-tls", "tls")})

    result = in_process(project, "--collect-only", "-q")

    assert collected(result) == ["scenarios/udp.yaml::plain-udp"]


def test_the_ini_option_names_the_folders(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\ntestbed_scenarios = scenarios other/dir\n")
    project.makefile(".yml", **{"other/dir/deep/tcp": scenario("other-tcp", "tcp")})
    project.makefile(".yaml", **{"lab/tls": scenario("lab-tls", "tls")})
    project.makefile(".yaml", **{"scenarios/invalid/broken": "name: x\nsteps: [register]\nclient: 1\n"})

    result = in_process(project, "--collect-only", "-q")

    assert collected(result) == ["other/dir/deep/tcp.yml::other-tcp",
                                 "scenarios/udp.yaml::plain-udp"]


def test_a_folder_given_in_pyproject_is_collected(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\ntestbed_scenarios = ["cases"]\n')
    pytester.makefile(".yaml", **{"cases/udp": scenario("case-udp")})
    pytester.makefile(".yaml", **{"scenarios/tcp": scenario("not-configured", "tcp")})

    result = in_process(pytester, "--collect-only", "-q")

    assert collected(result) == ["cases/udp.yaml::case-udp"]


def test_a_missing_configured_folder_is_named(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\ntestbed_scenarios = scenarios scenarois\n")

    result = in_process(project, "--collect-only", "-q")

    result.stdout.fnmatch_lines(["*testbed_scenarios: */scenarois is not a folder*"])
    assert collected(result) == ["scenarios/udp.yaml::plain-udp"]


def test_other_yaml_beside_scenarios_is_not_collected(project: pytest.Pytester) -> None:
    for name, text in NOT_SCENARIOS.items():
        (project.path / "scenarios" / name).write_text(text, encoding="utf-8")

    result = in_process(project, "--collect-only", "-q")

    assert result.ret == pytest.ExitCode.OK
    assert collected(result) == ["scenarios/udp.yaml::plain-udp"]
    assert "error" not in result.stdout.str().lower()


@pytest.mark.parametrize("name", sorted(NOT_SCENARIOS))
def test_content_tells_a_scenario_from_other_yaml(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text(NOT_SCENARIOS[name], encoding="utf-8")
    (tmp_path / "scenario.yaml").write_text(scenario("plain-udp"), encoding="utf-8")

    assert not is_scenario_file(tmp_path / name)
    assert is_scenario_file(tmp_path / "scenario.yaml")


def test_a_file_named_on_the_command_line_is_collected_if_it_is_a_scenario(
        project: pytest.Pytester) -> None:
    project.makefile(".yaml", **{"lab/tls": scenario("lab-tls", "tls")})

    result = in_process(project, "--collect-only", "-q", "lab/tls.yaml")

    assert collected(result) == ["lab/tls.yaml::lab-tls"]


def test_a_broken_scenario_fails_with_file_line_and_field(project: pytest.Pytester) -> None:
    broken = scenario("broken").replace("  user: alice\n", "  usr: alice\n")
    project.makefile(".yaml", **{"scenarios/broken": broken})
    project.makefile(".yaml", **{"scenarios/bad-syntax": "name: bad\nsteps:\n  - register\n  x: [\n"})

    result = in_process(project, "scenarios/broken.yaml", "scenarios/bad-syntax.yaml")

    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["scenarios/broken.yaml:12: client*usr*",
                                 "scenarios/bad-syntax.yaml:*: invalid YAML*"])
    assert "Traceback" not in result.stdout.str()
    assert "pytest_plugin.py" not in result.stdout.str()


@pytest.fixture
def catalogue(pytester: pytest.Pytester) -> pytest.Pytester:
    """One scenario per transport mode, and two rows."""
    for mode in MODES:
        pytester.makefile(".yaml", **{f"scenarios/{mode}": scenario(f"healthy-{mode}", mode)})
    refused = scenario("refused-tcp", "tcp", row="connection-refused", listen="udp")
    pytester.makefile(".yaml", **{"scenarios/refused": refused})
    return pytester


@pytest.mark.parametrize(("expression", "selected"), [
    ("tls", ["healthy-tls"]),
    ("udp", ["healthy-udp"]),
    ("auto", ["healthy-auto"]),
    ("tcp", ["healthy-tcp", "refused-tcp"]),
    ("row_connection_refused", ["refused-tcp"]),
    ("tcp and row_healthy", ["healthy-tcp"]),
    ("scenario and not row_healthy", ["refused-tcp"]),
])
def test_markers_select_by_transport_and_row(catalogue: pytest.Pytester, expression: str,
                                             selected: list[str]) -> None:
    result = in_process(catalogue, "--collect-only", "-q", "--strict-markers", "-m", expression)

    assert result.ret == pytest.ExitCode.OK
    assert sorted(line.split("::")[1] for line in collected(result)) == selected


def test_every_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = in_process(pytester, "--markers")

    registered = set(re.findall(r"^@pytest\.mark\.(\w+):", result.stdout.str(), re.MULTILINE))
    expected = {"scenario", *MODES, *(row_marker(row.id) for row in ROWS)}
    assert expected <= registered
    assert row_marker("tls-handshake-failure") == "row_tls_handshake_failure"


def test_a_failure_shows_expectations_findings_ladder_and_artefacts(
        pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntestbed_scenarios = scenarios\ntestbed_ladder_lines = 3\n")
    pytester.makefile(".yaml", **{"scenarios/failing": FAILING,
                                  "scenarios/passing": scenario("plain-udp")})

    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest",
                                           "--testbed-report-dir", "reports",
                                           "--junitxml", "junit.xml")

    result.assert_outcomes(passed=1, failed=1)
    artefacts = pytester.path / "reports" / "wrong-expectations"
    result.stdout.fnmatch_lines([
        "*_ scenario: wrong-expectations _*",
        "steps[[]0[]].register.expect.transport: *UDP*TCP*",
        "expect.diagnosis.row: *connection-refused*healthy*",
        "",
        "diagnosis:",
        "  row: healthy",
        "  Symptom: No problem",
        "*",
        "  Findings:",
        "    [[]connection-refused[]] *:5061/TLS: refused*",
        "        REGISTER to *:5061/TLS: refused*",
        "    [[]failover[]] *",
        "*",
        "ladder:",
        f"*earlier lines not shown; the whole ladder: {artefacts / 'ladder.txt'} ...",
        "*200 OK (CSeq 2 REGISTER)",
        "*",
        f"artefacts in {artefacts}/:",
        "  capture.pcapng",
        "  diagnosis.txt",
        "  keys.log",
        "  ladder.txt",
        "  messages.log",
        "  result.json",
        "*short test summary info*",
        "FAILED scenarios/failing.yaml::wrong-expectations - steps[[]0[]].register.expect*",
    ])
    output = result.stdout.str()
    assert "Traceback" not in output and "pytest_plugin.py" not in output
    assert "NAPTR sip.example.com?" not in output  # the ladder's first rows are left out
    assert "NAPTR sip.example.com?" in (artefacts / "ladder.txt").read_text()
    assert (pytester.path / "reports" / "plain-udp" / "ladder.txt").exists()
    junit = ElementTree.parse(pytester.path / "junit.xml")
    case = next(c for c in junit.iter("testcase") if c.get("name") == "wrong-expectations")
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties == {"diagnosis": "healthy", "findings": "connection-refused failover"}


def test_without_a_report_dir_a_failure_names_no_artefacts() -> None:
    parsed = parse(scenario("plain-udp"), "plain-udp.yaml")
    result = ScenarioResult(parsed, False, [], None, ["world: cannot bind 127.0.0.2:5060"], 0.1)

    text = failure_text(result, None, 40)

    assert text.splitlines() == ["world: cannot bind 127.0.0.2:5060", "", "ladder:",
                                 "  (no messages)"]
    assert failure_text(result, None, 0) == "world: cannot bind 127.0.0.2:5060"


def test_a_bad_ladder_lines_value_is_one_line(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\ntestbed_ladder_lines = many\n")

    result = in_process(project, "--collect-only", "-q")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: testbed_ladder_lines: expected a number of lines, got 'many'"])
