"""`testbed serve` keeps a world up and prints its addresses; dig sees the zone, and
`testbed register --transport auto --dns` registers against it and says why."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "healthy" / "auto.yaml"


@pytest.fixture
def served():
    process = subprocess.Popen(
        [sys.executable, "-m", "testbed.cli", "serve", str(SCENARIO), "--for", "60s"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    lines = []
    try:
        for line in process.stdout:  # the world prints its addresses, then "Ctrl-C stops."
            lines.append(line)
            if line.startswith("Ctrl-C stops"):
                break
        yield "".join(lines)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_prints_every_address_and_dig_sees_the_zone(served):
    assert "registrar pbx" in served and "TLS" in served and "dns" in served
    host, port = re.search(r"dig @(\S+) -p (\d+) NAPTR sip.example.com", served).groups()
    dig = shutil.which("dig") or shutil.which("kdig")
    if dig is None:
        if os.environ.get("CI"):
            pytest.fail("dig is not installed in CI (.ci/run installs dnsutils)")
        pytest.skip("dig not installed: apt-get install dnsutils")
    answer = subprocess.run([dig, f"@{host}", "-p", port, "NAPTR", "sip.example.com", "+short"],
                            capture_output=True, text=True, timeout=20).stdout
    assert '10 10 "s" "SIPS+D2T" "" _sips._tcp.sip.example.com.' in answer
    assert len(answer.strip().splitlines()) == 3

    ca = re.search(r"CA certificate\s+(\S+)", served).group(1)
    register = subprocess.run(
        [sys.executable, "-m", "testbed.cli", "register", "sip:sip.example.com",
         "--transport", "auto", "--dns", f"{host}:{port}", "--user", "alice",
         "--password", "secret", "--ca", ca, "--t1", "20ms"],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert register.returncode == 0, register.stdout + register.stderr
    last = register.stdout.strip().splitlines()[-1]
    assert re.match(r"REGISTERED sip:alice@sip.example.com via \S+:5061/TLS: 200 OK", last)
    assert "resolve: NAPTR sip.example.com" in register.stdout


def serve(temp, *flags):
    return subprocess.Popen(
        [sys.executable, "-m", "testbed.cli", "serve", str(SCENARIO), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env={**os.environ, "TMPDIR": str(temp)})


def test_serve_removes_its_temporary_files_when_it_ends(tmp_path):
    process = serve(tmp_path, "--for", "10ms")
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    ca = re.search(r"CA certificate\s+(\S+)", output).group(1)
    assert ca.startswith(str(tmp_path / "testbed-serve-healthy-auto-"))
    assert list(tmp_path.iterdir()) == []


def test_serve_removes_its_temporary_files_when_stopped(tmp_path):
    process = serve(tmp_path)
    try:
        for line in process.stdout:
            if line.startswith("Ctrl-C stops"):
                break
        assert len(list(tmp_path.iterdir())) == 1  # the CA certificate is there while serving
    finally:
        process.terminate()  # SIGTERM, as a service manager stops it
        process.communicate(timeout=30)
    assert list(tmp_path.iterdir()) == []


def test_serve_keeps_its_temporary_files_when_asked(tmp_path):
    process = serve(tmp_path, "--for", "10ms", "--keep-temp")
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    (folder,) = tmp_path.iterdir()
    assert f"temporary files kept in {folder}" in output
    assert (folder / "ca.crt").exists()


def test_serve_streams_the_capture_with_its_tls_keys_to_the_report_dir(tmp_path):
    """The pcap is written as the world serves (nothing of it kept in memory); the TLS
    keys are appended as they appear, so Wireshark decrypts it in one pass."""
    reports = tmp_path / "reports"
    process = serve(tmp_path, "--report-dir", str(reports))
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C stops"):
                break
        output = "".join(lines)
        folder = reports / "healthy-auto"
        assert f"streaming the capture to {folder / 'capture.pcapng'}" in output
        host = re.search(r"registrar pbx\s+TLS\s+(\S+):5061", output).group(1)
        ca = re.search(r"CA certificate\s+(\S+)", output).group(1)
        register = subprocess.run(
            [sys.executable, "-m", "testbed.cli", "register", "sip:sip.example.com",
             "--transport", "tls", "--host", f"sip.example.com={host}", "--user", "alice",
             "--password", "secret", "--ca", ca, "--t1", "20ms"],
            capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert register.returncode == 0, register.stdout + register.stderr
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert "CLIENT_TRAFFIC_SECRET_0" in (folder / "keys.log").read_text()
    tshark = shutil.which("tshark")
    if tshark is None:
        if os.environ.get("CI"):
            pytest.fail("tshark is not installed in CI (.ci/run installs it)")
        pytest.skip("tshark not installed: apt-get install tshark")
    sip = subprocess.run([tshark, "-n", "-r", str(folder / "capture.pcapng"), "-Y", "sip",
                          "-T", "fields", "-e", "sip.Method", "-e", "sip.Status-Code"],
                         capture_output=True, text=True, timeout=60).stdout.split()
    assert sip == ["REGISTER", "401", "REGISTER", "200"]
