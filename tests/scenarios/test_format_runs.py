"""The format's newer fields, run on real sockets: time_scale, findings, registrar answers."""

import re
from pathlib import Path

import pytest_twisted
from twisted.internet import reactor

from testbed.scenario import parse, run

ROOT = Path(__file__).resolve().parents[2]

NAT_REAL_WORLD = """\
name: nat-real-world
troubleshooting: nat-timeout
time_scale: 0.02
registrars:
  - name: pbx
    listen: [{transport: udp}]
faults:
  - {kind: nat, timeout: 30s}
client:
  transport: udp
  registrar: sip:${pbx}
steps:
  - register:
      expect: {ok: true}
  - wait: 40s
  - inbound:
      expect: {ok: false, received: false}
expect:
  diagnosis: {row: nat-timeout}
"""


@pytest_twisted.ensureDeferred
async def test_a_real_world_nat_runs_scaled():
    """A 30 s NAT and a 40 s wait, run at 1/50: the binding is gone, in about a second."""
    scenario = parse(NAT_REAL_WORLD, "nat.yaml")
    result = await run(scenario, reactor)
    assert result.passed, result.failures
    assert result.duration < 5  # 40 s stated; the inbound OPTIONS's Timer F is 64 x 10 ms
    assert str(scenario.duration(("steps", 1, "wait"))) == "40 s (800 ms scaled)"


@pytest_twisted.ensureDeferred
async def test_the_catalogue_nat_keepalive_states_real_world_figures():
    from testbed.scenario import load

    scenario = load(ROOT / "scenarios" / "faults" / "nat-keepalive.yaml")
    assert scenario.time_scale == 0.1
    assert str(scenario.duration(("faults", 0, "timeout"))) == "30 s (3 s scaled)"
    assert str(scenario.duration(("client", "keepalive"))) == "25 s (2.5 s scaled)"
    text = (ROOT / "scenarios" / "faults" / "nat-keepalive.yaml").read_text(encoding="utf-8")
    without = parse(text.replace("  keepalive: 25s\n", "")
                    .replace("time_scale: 0.1", "time_scale: 0.02")
                    .replace("diagnosis: {row: healthy}", "diagnosis: {row: nat-timeout}")
                    .replace("expect: {ok: true, received: true}",
                             "expect: {ok: false, received: false}"), "no-keepalive.yaml")
    result = await run(without, reactor)
    assert result.passed, result.failures  # the keep-alives are what kept it alive


SRV_FAILOVER = re.sub(r"diagnosis: \{row: healthy.*\}", "diagnosis: {row: healthy}",
                      (ROOT / "scenarios" / "auto" / "srv-failover.yaml").read_text(
                          encoding="utf-8"))


@pytest_twisted.ensureDeferred
async def test_findings_expectations_hold_and_fail_by_name():
    text = SRV_FAILOVER.replace(
        "diagnosis: {row: healthy}",
        "diagnosis: {row: healthy, findings: [connection-refused, failover]}")
    result = await run(parse(text, "failover.yaml"), reactor)
    assert result.passed, result.failures
    found = ", ".join(result.diagnosis.finding_ids)
    text = SRV_FAILOVER.replace(
        "diagnosis: {row: healthy}",
        "diagnosis: {row: healthy, findings_exactly: [connection-refused, dns-servfail]}")
    result = await run(parse(text, "failover.yaml"), reactor)
    assert not result.passed
    assert result.failures == [
        f"expect.diagnosis.findings_exactly: expected connection-refused, dns-servfail, "
        f"found {found} (missing dns-servfail; unexpected failover)"]


PBX = """\
name: pbx-answers
troubleshooting: rejected
timers: {t1: 20ms}
registrars:
  - name: pbx
    listen: [{transport: udp}]
    users: {alice: secret}
client:
  transport: udp
  registrar: sip:${pbx}
  user: alice
  password: secret
steps:
  - register
  - call: {}
"""


@pytest_twisted.ensureDeferred
async def test_invite_challenge_is_407_by_default_and_401_when_asked():
    challenges = {}
    for given, text in (("default", PBX),
                        ("401", PBX.replace("    users:", "    invite_challenge: 401\n"
                                                         "    users:"))):
        result = await run(parse(text, "pbx.yaml"), reactor)
        call = result.outcomes[1]
        assert call.ok, call.summary
        challenges[given] = call.exchanges[0].status
    assert challenges == {"default": 407, "401": 401}


@pytest_twisted.ensureDeferred
async def test_unknown_user_gets_the_configured_answer():
    text = PBX.replace("  user: alice", "  user: mallory").replace(
        "    users:", "    unknown_user: 403\n    users:").replace("  - call: {}\n", "")
    result = await run(parse(text, "pbx.yaml"), reactor)
    register = result.outcomes[0]
    assert (register.ok, register.status, register.error) == (False, 403, "rejected")
    assert result.diagnosis.row == "rejected"


@pytest_twisted.ensureDeferred
async def test_registrar_policy_and_connection_keys_reach_the_registrar():
    text = PBX.replace("  user: alice", "  user: alice\n  aor: sip:bob@${pbx}").replace(
        "    users:", "    registrar_policy: own\n    max_contacts: 3\n"
                     "    connections: {first_message_timeout: 2s, max: 10}\n    users:").replace(
        "  - call: {}\n", "")
    scenario = parse(text, "pbx.yaml")
    result = await run(scenario, reactor)
    register = result.outcomes[0]
    assert (register.ok, register.status) == (False, 403)  # alice may not bind bob's AOR
    permissive = parse(text.replace("registrar_policy: own", "registrar_policy: any"),
                       "pbx.yaml")
    assert (await run(permissive, reactor)).outcomes[0].ok


def test_connections_off_and_keys_become_a_policy():
    from testbed.scenario import connection_policy
    from testbed.transport import ConnectionPolicy

    assert connection_policy("off") == ConnectionPolicy.off()
    policy = connection_policy({"first_message_timeout": 2.0, "max": 10, "backlog": 64})
    assert (policy.first_message_timeout, policy.max_connections, policy.listen_backlog) == \
        (2.0, 10, 64)
    assert connection_policy(None) == ConnectionPolicy()
