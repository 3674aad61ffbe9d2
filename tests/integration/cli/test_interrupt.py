"""SIGINT/SIGTERM during ``testbed run``: the run stops at once, says what did not run,
exits 130/143, and the JUnit/JSON files mark every scenario that did not run as not run.

Real processes and real signals: ``testbed run`` on scenarios that wait a minute, the
signal sent once its output shows the first scenario finished.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HEALTHY = (ROOT / "scenarios" / "healthy" / "udp.yaml").read_text(encoding="utf-8")
STOP_WITHIN = 1.0  # seconds from the signal to the exit, the interpreter's own exit included


def slow_scenarios(folder: Path, count: int = 4) -> list[str]:
    """``count`` scenarios: the first quick, the others waiting a minute mid-way."""
    names = []
    for index in range(1, count + 1):
        wait = "10ms" if index == 1 else "60s"
        text = HEALTHY.replace("name: healthy-udp", f"name: slow-{index}").replace(
            "  - call:", f"  - wait: {wait}\n  - call:")
        (folder / f"slow{index}.yaml").write_text(text, encoding="utf-8")
        names.append(f"slow-{index}")
    return names


def read_until(process: subprocess.Popen, prefix: str) -> list[str]:
    """The lines ``process`` printed up to the first that starts with ``prefix``."""
    guard = threading.Timer(120, process.kill)  # a run that never gets there fails, not hangs
    guard.start()
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith(prefix):
                return lines
    finally:
        guard.cancel()
    raise AssertionError(f"the run ended before {prefix!r}:\n{''.join(lines)}")


def start_run(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, Path, Path]:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    slow_scenarios(folder)
    results, junit = tmp_path / "results.json", tmp_path / "junit.xml"
    process = subprocess.Popen(
        [sys.executable, "-m", "testbed.cli", "run", str(folder), "--json", str(results),
         "--junit", str(junit), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, results, junit


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_run_and_every_unrun_scenario_is_reported(tmp_path, signum, code):
    process, results, junit = start_run(tmp_path)
    read_until(process, "[1/4] PASS slow-1")
    sent = time.monotonic()
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    took = time.monotonic() - sent
    name = signal.Signals(signum).name

    assert process.returncode == code, out + err
    print(f"{name}: exited {took * 1000:.0f} ms after the signal")
    assert took < STOP_WITHIN, f"stopped {took:.2f} s after {name}"
    assert "interrupted: 3 not run" in err
    assert "Traceback" not in err
    assert "[2/4] NOT RUN slow-2" in out and f"interrupted by {name} while running" in out
    assert "1 passed, 0 failed, 3 not run" in out

    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "0", "3")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == ["slow-1", "slow-2", "slow-3", "slow-4"]
    assert cases["slow-1"].find("error") is None and cases["slow-1"].find("failure") is None
    for unrun in ("slow-2", "slow-3", "slow-4"):
        error = cases[unrun].find("error")
        assert error is not None and error.get("type") == "not-run"
        assert name in error.get("message")

    data = json.loads(results.read_text())
    assert (data["requested"], data["passed"], data["failed"], data["not_run"]) == (4, 1, 0, 3)
    assert data["interrupted"] == name
    assert [(s["name"], s["status"], s["passed"]) for s in data["scenarios"]] == [
        ("slow-1", "passed", True), ("slow-2", "not-run", False),
        ("slow-3", "not-run", False), ("slow-4", "not-run", False)]


def test_an_invalid_file_is_requested_and_not_run(tmp_path):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "good.yaml").write_text(HEALTHY, encoding="utf-8")
    (folder / "typo.yaml").write_text(HEALTHY.replace("transport: udp\n  registrar",
                                                      "transport: udpp\n  registrar"))
    junit = tmp_path / "junit.xml"
    result = subprocess.run([sys.executable, "-m", "testbed.cli", "run", str(folder),
                             "--junit", str(junit)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed, 0 failed, 1 not run" in result.stdout
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("errors")) == ("2", "1")
    (error,) = suite.iter("error")
    assert "client.transport" in error.get("message")


def make_or_skip() -> str:
    make = shutil.which("make")
    if make is None:
        if os.environ.get("CI"):
            pytest.fail("make is missing (apt-get install make)")
        pytest.skip("make is missing: apt-get install make")
    return make


@pytest.mark.parametrize(("signum", "group"), [(signal.SIGTERM, False), (signal.SIGINT, True)])
def test_make_run_passes_the_interruption_on(tmp_path, signum, group):
    """``make run`` stopped by a CI timeout (SIGTERM to make) or Ctrl-C (SIGINT to the
    process group) ends by that signal, never as a success, and its JUnit says not run."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    slow_scenarios(folder)
    venv = Path(sys.executable).parent.parent
    reports = tmp_path / "reports"
    process = subprocess.Popen(
        [make_or_skip(), "-s", "-o", f"{venv}/.installed", "run", f"VENV={venv}",
         f"SCENARIOS={folder}", f"REPORTS={reports}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    read_until(process, "[1/4] PASS slow-1")
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == -signum, out + err
    assert "interrupted: 3 not run" in err
    suite = ET.parse(reports / "junit.xml").getroot()
    assert (suite.get("tests"), suite.get("errors")) == ("4", "3")
