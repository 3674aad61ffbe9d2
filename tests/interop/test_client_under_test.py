"""baresip and linphonec as the client under test of a scenario (``client: {kind:}``),
judged from what our registrar, DNS server and relays saw; the program is gone after
the run, whatever happened."""

from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from testbed.client import PROGRAM_KINDS
from testbed.scenario import World, load, parse, run

from .conftest import require_peer

pytestmark = pytest.mark.interop

CATALOGUE = Path(__file__).resolve().parents[2] / "scenarios" / "real-clients"
KINDS = ["baresip", "linphonec"]


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def run_program(scenario, kind):
    require_peer(PROGRAM_KINDS[kind].binary, PROGRAM_KINDS[kind].package)
    pids = []
    original = World._start_program

    def start_and_note(world, spec, used):
        original(world, spec, used)
        pids.append(world.program.program.pid)

    World._start_program = start_and_note
    try:
        result = await run(scenario, reactor)
    finally:
        World._start_program = original
    assert pids and not running(pids[0]), f"{kind} still runs after the scenario"
    return result


@pytest.mark.parametrize("kind", KINDS)
@pytest_twisted.ensureDeferred
async def test_discovery_registration_and_a_call(kind):
    result = await run_program(load(CATALOGUE / f"{kind}-naptr-srv.yaml"), kind)
    assert result.passed, result.failures
    register, call = result.outcomes
    assert register.ok and register.transport == ("TCP" if kind == "baresip" else "UDP")
    asked = [(q.type, q.name.rstrip(".")) for q in register.queries]
    if kind == "baresip":
        assert ("NAPTR", "sip.example.com") in asked
    else:  # belle-sip asks no NAPTR: SRV straight away
        assert ("NAPTR", "sip.example.com") not in asked
        assert ("SRV", "_sip._udp.sip.example.com") in asked
    assert call.ok and call.status == 200


@pytest.mark.parametrize("kind, accepted", [("baresip", True), ("linphonec", False)])
@pytest_twisted.ensureDeferred
async def test_an_expired_certificate(kind, accepted):
    result = await run_program(load(CATALOGUE / f"{kind}-expired-certificate.yaml"), kind)
    assert result.passed, result.failures
    ids = result.diagnosis.finding_ids
    assert ("accepted-bad-certificate" in ids) is accepted
    assert (result.diagnosis.row == "tls-handshake-failure") is not accepted


@pytest.mark.parametrize("kind", KINDS)
@pytest_twisted.ensureDeferred
async def test_a_registrar_nobody_listens_on_is_a_timeout_in_bounded_time(kind):
    text = f"""
name: nobody-home
troubleshooting: registration-timeout
timers: {{t1: 100ms}}
registrars:
  - name: pbx
    domain: sip.example.com
    listen: [{{transport: udp}}]
client:
  kind: {kind}
  transport: udp
  registrar: sip:nowhere.example.net
  user: alice
  password: secret
steps:
  - await_register: {{within: 1s}}
"""
    started = reactor.seconds()
    result = await run_program(parse(text, "nobody.yaml"), kind)
    outcome = result.outcomes[0]
    assert not outcome.ok
    assert outcome.summary.startswith("not registered within 1 s: ")
    assert reactor.seconds() - started < 1.0 + 2.0 + 2.0  # within, stop grace, slack
