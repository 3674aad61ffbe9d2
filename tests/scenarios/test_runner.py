"""The runner judges: a broken expectation fails the run and names the field; the CLI
exit code follows; a world that cannot be built is one clear line."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task

from testbed.scenario import parse
from testbed.sip import parse_duration

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


@pytest_twisted.ensureDeferred
async def test_step_kinds_come_from_the_caller():
    from testbed.load import load_step
    from testbed.scenario import load, run

    scenario = load(ROOT / "scenarios" / "load" / "register-50.yaml")
    alone = await run(scenario, reactor)
    assert not alone.passed
    assert alone.failures[0].startswith("steps[0].load: this runner was not given a 'load' step")
    given = await run(scenario, reactor, steps={"load": load_step})
    assert given.passed, given.failures
    assert given.outcomes[0].load["succeeded"] == 50


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "testbed.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120, env=env)


def test_cli_run_leaves_no_temporary_files_unless_asked(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(HEALTHY)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    assert cli("run", str(good), env=env).returncode == 0
    assert list(temp.iterdir()) == []

    kept = cli("run", str(good), "--keep-temp", env=env)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    (folder,) = temp.iterdir()
    assert folder.name.startswith("testbed-run-")
    assert f"temporary files kept in {folder}" in kept.stdout
    assert (folder / "healthy-udp" / "ca.crt").read_text().startswith("-----BEGIN CERTIFICATE")


def test_cli_run_writes_the_worlds_files_into_the_report_dir(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(HEALTHY)
    temp = tmp_path / "tmp"
    temp.mkdir()
    reports = tmp_path / "reports"
    result = cli("run", str(good), "--report-dir", str(reports),
                 env={**os.environ, "TMPDIR": str(temp)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(temp.iterdir()) == []
    assert (reports / "healthy-udp" / "ca.crt").exists()
    assert (reports / "healthy-udp" / "ladder.txt").exists()


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


# -- cancellation: testbed run cancels the scenario in flight at SIGINT/SIGTERM ----------

TCP = (ROOT / "scenarios" / "healthy" / "tcp.yaml").read_text(encoding="utf-8")
REGISTER_THEN_WAIT = TCP[:TCP.index("steps:")] + """steps:
  - register:
      expect: {ok: true}
  - wait: 60s
"""


def _in_use(endpoint) -> bool:
    """Whether something still listens on ``endpoint`` (a bind there fails)."""
    kind = socket.SOCK_DGRAM if endpoint.transport == "UDP" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as probe:
        if kind == socket.SOCK_STREAM:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((endpoint.host, endpoint.port))
        except OSError:
            return True
    return False


@pytest_twisted.ensureDeferred
async def test_cancelling_a_run_stops_the_step_and_the_world_at_once():
    from testbed.scenario import run

    readers_before = set(reactor.getReaders())
    reached = defer.Deferred()

    async def wait(world, body):  # the built-in wait, telling the test once it has begun
        world.reactor.callLater(0, reached.callback, world)
        await task.deferLater(world.reactor, parse_duration(body), lambda: None)

    running = defer.ensureDeferred(run(parse(REGISTER_THEN_WAIT, "wait.yaml"), reactor,
                                       steps={"wait": wait}))
    world = await reached
    listening = [e for e in world.endpoints if e.transport in ("UDP", "TCP")]
    assert listening and all(_in_use(e) for e in listening)
    cancelled_at = reactor.seconds()
    running.cancel()
    with pytest.raises(defer.CancelledError):
        await running
    assert reactor.seconds() - cancelled_at < 1.0
    assert not [e for e in listening if _in_use(e)]
    assert set(reactor.getReaders()) <= readers_before


@pytest_twisted.ensureDeferred
async def test_a_cancellation_during_the_worlds_stop_lets_it_stop_to_the_end():
    from testbed.scenario import run

    readers_before = set(reactor.getReaders())
    seen = []
    running: list[defer.Deferred] = []

    async def wait(world, body):  # the last step: cancel once the world has begun to stop
        seen.append(world)
        world.reactor.callLater(0, running[0].cancel)

    running.append(defer.ensureDeferred(run(parse(REGISTER_THEN_WAIT, "wait.yaml"), reactor,
                                            steps={"wait": wait})))
    with pytest.raises(defer.CancelledError):
        await running[0]
    (world,) = seen
    assert not [e for e in world.endpoints if _in_use(e)]
    assert set(reactor.getReaders()) <= readers_before
