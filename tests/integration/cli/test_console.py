"""The console of the real command: colour and a live line on a terminal (a pty), plain
text in a pipe or with NO_COLOR, no traceback on a closed pipe, ``--version``, and
``-v``'s ladder and findings next to the same findings in every file."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import tomllib
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HEALTHY = ROOT / "scenarios" / "healthy" / "udp.yaml"
FAILOVER = ROOT / "scenarios" / "auto" / "srv-failover.yaml"
COMMAND = [sys.executable, "-m", "testbed.cli"]


def clean_environ(**extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS", "LINES")}
    return {**environ, "TERM": "xterm-256color", **extra}


def on_a_terminal(*args: str, environ: dict[str, str]) -> tuple[int, str]:
    """Run the command with its stdout on a pseudo-terminal (120x40); exit code, output."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen([*COMMAND, *args], cwd=ROOT, stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=subprocess.PIPE, env=environ)
    os.close(follower)
    guard = threading.Timer(120, process.kill)
    guard.start()
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side closed
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        guard.cancel()
        os.close(leader)
    process.wait(timeout=60)
    return process.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_gets_colour_and_a_live_line():
    code, out = on_a_terminal("run", str(HEALTHY), environ=clean_environ())
    assert code == 0, out
    assert "\x1b[1;32mPASS" in out  # PASS in bold green
    assert re.search(r"running \x1b\[1mhealthy-udp", out)  # the live line
    assert "\x1b[2K" in out  # ... erased once the scenario ended


def test_no_color_on_a_terminal_is_plain_text():
    code, out = on_a_terminal("run", str(HEALTHY), environ=clean_environ(NO_COLOR="1"))
    assert code == 0, out
    assert "\x1b" not in out
    assert "[1/1] PASS healthy-udp" in out


def test_a_pipe_gets_plain_text_and_times_in_milliseconds():
    result = subprocess.run([*COMMAND, "run", str(HEALTHY)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env=clean_environ())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\x1b" not in result.stdout
    assert re.search(r"\[1/1\] PASS healthy-udp \(\d+(\.\d)? ms\) No problem", result.stdout)
    assert " s)" not in result.stdout


def closed_pipe(*args: str) -> subprocess.CompletedProcess:
    """Run the command with stdout a pipe whose reading end is already closed."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run([*COMMAND, *args], cwd=ROOT, stdout=writer,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(writer)


@pytest.mark.parametrize("args", [["list"], ["schema"], ["validate", "scenarios"]])
def test_a_closed_pipe_ends_quietly(args):
    result = closed_pipe(*args)
    assert result.returncode == 1
    assert result.stderr == ""


def test_a_run_into_a_closed_pipe_ends_quietly_and_reports_the_rest_as_not_run(tmp_path):
    junit = tmp_path / "junit.xml"
    result = closed_pipe("run", str(HEALTHY), str(FAILOVER), "--junit", str(junit))
    assert result.returncode == 1
    assert result.stderr == ""
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "0", "1")
    error = next(suite.iter("error"))
    assert error.get("message") == "not run: the output was closed"


def test_head_reads_one_line_and_the_rest_goes_nowhere():
    """``testbed list | head -1``: the reader goes away after one line."""
    process = subprocess.Popen([*COMMAND, "list"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, bufsize=1)
    first = process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read()
    process.wait(timeout=60)
    assert first.startswith("scenario")
    assert "Traceback" not in err and "BrokenPipeError" not in err
    assert process.returncode in (0, 1)  # 0 if everything was written before the close


def test_version_is_the_installed_packages():
    result = subprocess.run([*COMMAND, "--version"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert result.stdout.strip() == f"testbed {metadata.version('sip-transport-testbed')}"
    assert result.stdout.strip() == f"testbed {declared}"


def test_verbose_findings_everywhere(tmp_path):
    """A healthy failover run: its findings in -v, the summary, JSON, JUnit, diagnosis.txt."""
    reports, results, junit = tmp_path / "reports", tmp_path / "r.json", tmp_path / "j.xml"
    result = subprocess.run(
        [*COMMAND, "run", str(FAILOVER), "-v", "--report-dir", str(reports), "--json",
         str(results), "--junit", str(junit)], cwd=ROOT, capture_output=True, text=True,
        timeout=120, env=clean_environ())
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "    Findings:\n      [connection-refused] " in out
    assert f"  Ladder ({reports}/auto-srv-failover/ladder.txt):" in out
    assert "401 Unauthorized (CSeq 1 REGISTER)" in out  # a row of the ladder
    assert "findings: connection-refused, failover" in out  # the summary table

    data = json.loads(results.read_text())
    (scenario,) = data["scenarios"]
    assert [f["id"] for f in scenario["findings"]] == ["connection-refused", "failover"]
    assert all(f["sentence"] and f["evidence"] for f in scenario["findings"])
    system_out = ET.parse(junit).getroot().find("testcase/system-out").text
    assert "[connection-refused]" in system_out and "[failover]" in system_out
    diagnosis = (reports / "auto-srv-failover" / "diagnosis.txt").read_text()
    assert "Findings:\n  [connection-refused]" in diagnosis


@pytest.mark.parametrize("kind", ["baresip", "linphonec"])
def test_a_real_client_with_a_relative_report_dir(tmp_path, kind):
    """``make run`` passes ``--report-dir reports``: the phone, which runs in its own
    folder under it, must still find its configuration (it once looked for
    ``reports/<scenario>/client`` inside itself)."""
    import shutil

    if shutil.which(kind) is None:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"{kind} not installed")
    scenario = ROOT / "scenarios" / "real-clients" / f"{kind}-srv-failover.yaml"
    completed = subprocess.run([*COMMAND, "run", str(scenario), "--report-dir", "reports"],
                               cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "1 passed, 0 failed" in completed.stdout
    assert (tmp_path / "reports" / f"{kind}-srv-failover" / "client").is_dir()
