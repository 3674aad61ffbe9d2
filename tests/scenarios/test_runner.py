"""The runner judges: a broken expectation fails the run and names the field; the CLI
exit code follows; a world that cannot be built is one clear line."""

import subprocess
import sys
from pathlib import Path

import pytest_twisted
from twisted.internet import reactor

from testbed.scenario import parse

ROOT = Path(__file__).resolve().parents[2]
HEALTHY = (ROOT / "scenarios" / "healthy" / "udp.yaml").read_text(encoding="utf-8")


@pytest_twisted.ensureDeferred
async def test_a_broken_expectation_fails_and_names_the_field():
    from testbed.scenario import run

    text = HEALTHY.replace("port: 5060, exchanges: 2", "port: 5999, exchanges: 2")
    result = await run(parse(text, "copy.yaml"), reactor)
    assert not result.passed
    assert result.failures[0] == "steps[0].register.expect.port: expected 5999, got 5060"


@pytest_twisted.ensureDeferred
async def test_a_wrong_diagnosis_expectation_fails():
    from testbed.scenario import run

    text = HEALTHY.replace("diagnosis: {row: healthy}", "diagnosis: {row: nat-timeout}")
    result = await run(parse(text, "copy.yaml"), reactor)
    assert not result.passed
    assert result.failures == ["expect.diagnosis.row: expected 'nat-timeout', got 'healthy'"]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "testbed.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_cli_run_exit_codes(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(HEALTHY)
    bad = tmp_path / "bad.yaml"
    bad.write_text(HEALTHY.replace("transport: UDP, port: 5060", "transport: TCP, port: 5060"))
    ok = cli("run", str(good), "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "j.xml"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 passed, 0 failed" in ok.stdout
    assert '"passed": 1' in (tmp_path / "r.json").read_text()
    assert 'tests="1"' in (tmp_path / "j.xml").read_text()
    failed = cli("run", str(bad))
    assert failed.returncode == 1
    assert "steps[0].register.expect.transport: expected 'TCP', got 'UDP'" in failed.stdout


def test_cli_validate_prints_file_line_field(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(HEALTHY.replace("transport: udp\n  registrar", "transport: udpp\n  registrar"))
    result = cli("validate", str(broken))
    assert result.returncode == 1
    assert f"{broken}:15: client.transport: 'udpp' is not one of" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_list_shows_the_catalogue():
    result = cli("list")
    assert result.returncode == 0
    assert "healthy-udp" in result.stdout and "TLS handshake failure" in result.stdout
