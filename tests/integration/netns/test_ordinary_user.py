"""An ordinary user runs scenarios on WSS 443 and DNS 53: ``testbed run`` and the pytest
plugin move their worlds into a private user and network namespace (testbed.netns).

Every command here runs as a user who may not bind ports below 1024 (conftest.py says
how it gets one, even when the suite runs as root).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from .conftest import ROOT, unavailable

WSS = ROOT / "scenarios" / "healthy" / "wss.yaml"
AUTO = ROOT / "scenarios" / "healthy" / "auto.yaml"
PRIVATE = "run in a private user and network namespace"


def test_run_binds_wss_443_and_dns_53_and_writes_the_users_files(ordinary_user):
    out = ordinary_user.home / "reports"
    run = ordinary_user.testbed("run", WSS, AUTO, "--report-dir", out,
                                "--json", out / "results.json", "--junit", out / "junit.xml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"so the worlds (WSS 443, DNS 53) {PRIVATE}" in run.stderr
    results = json.loads((out / "results.json").read_text())
    assert (results["passed"], results["failed"]) == (2, 0)
    ports = {(e["role"], e["transport"]): e["port"]
             for scenario in results["scenarios"] for e in scenario["endpoints"]}
    assert ports[("registrar pbx", "WSS")] == 443
    assert ports[("dns", "UDP+TCP")] == 53  # on the host it would fall back to a high port
    assert ET.parse(out / "junit.xml").getroot().get("failures") == "0"
    written = [out, *out.rglob("*")]
    assert {"healthy-wss", "healthy-auto", "results.json", "junit.xml"} <= {
        path.name for path in written}
    assert {path.stat().st_uid for path in written} == {ordinary_user.uid()}


def test_the_pytest_plugin_runs_them_too(ordinary_user):
    junit = ordinary_user.home / "junit.xml"
    run = ordinary_user.run(ordinary_user.python, "-m", "pytest", "-p", "no:cacheprovider",
                            "-q", f"--junitxml={junit}", WSS, AUTO)
    assert run.returncode == 0, run.stdout + run.stderr
    assert PRIVATE in run.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "0", "0")
    assert junit.stat().st_uid == ordinary_user.uid()


LONG = """\
name: registered-then-waiting
troubleshooting: healthy
timers: {t1: 20ms}
registrars:
  - name: pbx
    domain: sip.example.com
    listen: [{transport: wss}]
client: {transport: wss, registrar: "sip:sip.example.com"}
steps:
  - register: {expect: {ok: true, port: 443}}
  - wait: 60s
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_signals_reach_the_run_in_its_own_network(ordinary_user, signum):
    scenario = ordinary_user.home / "long.yaml"
    scenario.write_text(LONG)
    process = ordinary_user.popen(ordinary_user.python, "-m", "testbed.cli", "run",
                                  WSS, scenario)
    try:
        first = process.stdout.readline()  # the first scenario ran: the reactor is running
        assert "healthy-wss" in first, first + process.stderr.read()
        # The process started is the run itself (no wrapper to relay signals), and its
        # network is not the host's: concurrent runs and the host never meet.
        assert os.readlink(f"/proc/{process.pid}/ns/net") != os.readlink("/proc/self/ns/net")
        process.send_signal(signum)
        # Stopped by the signal, long before the 60 s wait would end (the exit code and
        # the "not run" report of an interrupted run are testbed run's own, as on the host).
        process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
            pytest.fail(f"{signum.name} did not stop the run")


def test_serve_says_how_an_ordinary_user_reaches_its_world(ordinary_user):
    wss = ordinary_user.testbed("serve", WSS, "--for", "10ms")
    assert wss.returncode == 1  # serve stays on the host, where the phones are
    assert "this user may not listen on WSS 443" in wss.stderr
    assert "out of reach of the phones on this host" in wss.stderr
    assert "port: 8443" in wss.stderr and "ip_unprivileged_port_start=0" in wss.stderr
    dns = ordinary_user.testbed("serve", AUTO, "--for", "10ms")
    assert dns.returncode == 0, dns.stdout + dns.stderr
    assert "answers on the port printed below instead of 53" in dns.stderr
    assert "dig @" in dns.stdout and "-p 53 " not in dns.stdout


def test_where_user_namespaces_are_forbidden_one_line_says_what_to_do():
    if shutil.which("unshare") is None:
        unavailable("unshare (util-linux) is needed: apt-get install util-linux")
    # A user namespace whose own limit forbids nested ones: uid 0 in there has no
    # privilege over the host's network, and may not make a namespace of its own.
    forbid = 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"'
    run = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c", forbid, "sh",
                          sys.executable, "-m", "testbed.cli", "run", WSS],
                         capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "NO_COLOR": "1"})
    assert run.returncode == 1, run.stdout + run.stderr
    (line,) = [line for line in run.stderr.splitlines() if "WSS 443" in line]
    assert line.startswith("testbed run: cannot listen on WSS 443: ports below 1024 need root")
    assert "a private network namespace is not allowed" in line
    assert "run as root" in line and "ip_unprivileged_port_start=0" in line
    assert "`sudo sysctl -w user.max_user_namespaces=10000`" in line
    assert "cannot bind WSS port 443: permission denied" in run.stdout
