"""A client program under test, with a shell standing in for a phone: bad input ends the
scenario with one line and the program's output, nothing outlives the run, a program
that is not installed is skipped (failed under CI) with the install command."""

import os
import select
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from testbed.scenario import parse, run

SCENARIO = """
name: shell-client
troubleshooting: healthy
timers: {t1: 100ms}
registrars:
  - name: pbx
    domain: sip.example.com
    listen: [{transport: udp}]
client:
  CLIENT
  transport: udp
  registrar: sip:sip.example.com
  user: alice
  password: secret
steps:
  - await_register: {within: 1s}
"""


def scenario(client: str, steps: str = ""):
    text = SCENARIO.replace("CLIENT", client)
    if steps:
        text = text.replace("  - await_register: {within: 1s}\n", steps)
    return parse(text, "shell.yaml")


def group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid`` (from /proc; zombies are dead already,
    waiting for whoever adopted them to reap them)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


@pytest_twisted.ensureDeferred
async def test_a_program_that_exits_at_once_ends_the_scenario_with_its_output():
    client = ('command: [sh, -c, "echo starting {user} at {registrar}; '
              'echo no such file {workdir}/x >&2; exit 3"]')
    started = reactor.seconds()
    result = await run(scenario(client), reactor)
    assert not result.passed and result.diagnosis is None
    assert result.error is not None
    assert result.error.startswith("client program sh exited with status 3 before registering")
    assert "  | starting alice at sip:sip.example.com" in result.failures
    assert any("no such file" in line for line in result.failures)
    assert reactor.seconds() - started < 1.0  # it did not wait out the 1 s


@pytest_twisted.ensureDeferred
async def test_a_program_that_never_registers_times_out_and_is_killed_with_its_children(
        tmp_path):
    pidfile = tmp_path / "pid"
    # The shell and its child ignore SIGTERM: only the SIGKILL to the group stops them.
    client = (f'command: [sh, -c, "trap \\"\\" TERM; echo $$ > {pidfile}; sleep 300 & '
              'wait; wait"]')
    result = await run(scenario(client), reactor)
    outcome = result.outcomes[0]
    assert not outcome.ok and outcome.error == "timeout"
    assert outcome.summary == "not registered within 1 s: nothing reached our registrars"
    assert result.diagnosis is not None and result.diagnosis.row == "registration-timeout"
    pid = int(pidfile.read_text())
    assert group_members(pid) == []


@pytest_twisted.ensureDeferred
async def test_a_program_that_dies_during_the_run_is_reported(tmp_path):
    client = 'command: [sh, -c, "sleep 0.2; echo bye >&2; kill -9 $$"]'
    result = await run(scenario(client, "  - wait: 1s\n"), reactor)
    assert not result.passed
    assert result.error == "client program sh killed by signal 9 during the run"
    assert "  | bye" in result.failures


@pytest.mark.parametrize("ci", ["", "true"])
@pytest_twisted.ensureDeferred
async def test_a_program_not_installed_is_skipped_or_fails_under_ci(ci, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    if ci:
        monkeypatch.setenv("CI", ci)
    else:
        monkeypatch.delenv("CI", raising=False)
    result = await run(scenario("kind: linphonec"), reactor)
    assert not result.passed
    if ci:
        assert result.skipped is None
        assert result.error == ("client program linphonec not installed: apt-get install "
                                "linphone-cli (CI is set: a missing client program fails)")
    else:
        assert result.skipped == ("client program linphonec not installed: apt-get install "
                                  "linphone-cli (skipped)")
    assert os.environ["PATH"] == str(tmp_path)


@pytest_twisted.ensureDeferred
async def test_placeholders_are_filled_from_the_world(tmp_path):
    out = tmp_path / "argv"
    client = (f'command: [sh, -c, "echo {{dns}} {{registrar}} {{registrar_host}} {{domain}} '
              f'{{user}} {{password}} {{transport}} {{ca}} > {out}; sleep 5"]')
    result = await run(scenario(client), reactor)
    dns, registrar, host, domain, user, password, transport, ca = out.read_text().split()
    pbx = next(e for e in result.endpoints if e.role == "registrar pbx")
    own_dns = next(e for e in result.endpoints if e.role == "dns")
    assert dns == f"{own_dns.host}:{own_dns.port}"  # a DNS server of its own: A records
    assert (registrar, host, domain) == ("sip:sip.example.com", pbx.host, "sip.example.com")
    assert (user, password, transport) == ("alice", "secret", "udp")
    assert ca.endswith("ca.crt")


_PARENT = """
import sys
from pathlib import Path
from twisted.internet import reactor
from testbed.client import ClientProgram, ProgramSpec

spec = ProgramSpec(name="client", argv=("sh", "-c", "echo ready; exec sleep 600"),
                   workdir=Path(sys.argv[1]))
program = ClientProgram(reactor, spec)
heard = program.outReceived


def out(data):
    heard(data)
    if b"ready" in data:  # past setpriv: the program runs, its parent-death signal set
        print(program.pid, flush=True)


program.outReceived = out
reactor.callWhenRunning(program.start)
reactor.run()
"""


def test_a_program_dies_with_a_testbed_killed_without_a_stop(tmp_path):
    """kill -9 of the testbed process gives its client program no stop(): the kernel
    kills the program (parent-death signal), so no phone outlives a crashed run."""
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        watch = os.pidfd_open(pid)
    finally:
        parent.kill()
        parent.wait()
    try:
        ready, _, _ = select.select([watch], [], [], 10)  # readable once the program ended
    finally:
        os.close(watch)
    assert ready, f"the client program {pid} outlived its killed parent"
