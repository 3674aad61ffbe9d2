"""``testbed check`` against live worlds: real DNS, registrars, faults and certificates.

Each world is a scenario's, built and served on loopback exactly as ``testbed serve``
does; the check only knows the DNS server's address and the credentials, as it would
for a customer's deployment.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import pytest_twisted
from twisted.internet import reactor

from testbed.check import ProbeSettings, plan_targets, run_check
from testbed.dns import Target
from testbed.dns.client import DnsClient
from testbed.report import check_json, check_text, write_check_junit
from testbed.scenario import World, parse
from testbed.sip import Timers, Transport, parse_uri

ZONE = """
dns:
  zones:
    - origin: sip.example.com
      records:
        - {name: sip.example.com, type: NAPTR, order: 10, preference: 10, flags: s, service: SIPS+D2T, regexp: "", replacement: _sips._tcp.sip.example.com}
        - {name: sip.example.com, type: NAPTR, order: 20, preference: 10, flags: s, service: SIP+D2U, regexp: "", replacement: _sip._udp.sip.example.com}
        - {name: _sips._tcp.sip.example.com, type: SRV, priority: 10, weight: 10, port: 5061, target: pbx.sip.example.com}
        - {name: _sip._udp.sip.example.com, type: SRV, priority: 10, weight: 10, port: 5060, target: pbx.sip.example.com}
        - {name: pbx.sip.example.com, type: A, address: "${pbx}"}
"""

HEALTHY = f"""
name: check-healthy
troubleshooting: healthy
timers: {{t1: 20ms}}
{ZONE}
registrars:
  - name: pbx
    domain: sip.example.com
    listen: [{{transport: udp}}, {{transport: tls}}]
    users: {{alice: secret}}
client: {{transport: udp, registrar: "sip:sip.example.com", user: alice}}
steps: [wait: 1ms]
"""

BROKEN = f"""
name: check-broken
troubleshooting: healthy
timers: {{t1: 20ms}}
{ZONE}
registrars:
  - name: pbx
    domain: sip.example.com
    listen: [{{transport: udp}}, {{transport: tls, certificate: expired}}]
    users: {{alice: secret}}
faults:
  - {{kind: mtu, mtu: 1300, transport: udp}}
client: {{transport: udp, registrar: "sip:sip.example.com", user: alice}}
steps: [wait: 1ms]
"""


async def _checked(tmp_path, text, **settings):
    world = World(parse(text, "check.yaml"), reactor, workdir=tmp_path)
    world.start()
    dns = DnsClient([world.dns_address], reactor)
    try:
        return await run_check(reactor, ProbeSettings(
            parse_uri("sip:sip.example.com"), ca_file=str(world.ca_file),
            timers=Timers.scaled(0.02), **settings), dns)
    finally:
        dns.close()
        await world.stop()


@pytest_twisted.ensureDeferred
async def test_a_healthy_deployment_passes_every_check(tmp_path):
    report = await _checked(tmp_path, HEALTHY, user="alice", password="secret")

    assert report.ok
    assert [(c.transport, c.ok, c.row) for c in report.checks] == [
        ("UDP", True, "healthy"), ("TLS", True, "healthy")]
    udp, tls = report.checks
    assert any(step.startswith("REGISTERED sip:alice@sip.example.com") for step in udp.steps)
    assert any(step.startswith("UNREGISTERED") for step in udp.steps)  # nothing left behind
    assert any("large request (" in step and "answered" in step for step in udp.steps)
    assert "DNS:sip.example.com" in tls.certificate and "TLSv1" in tls.certificate
    lines = report.discovery.lines()
    assert any(line.startswith("NAPTR sip.example.com: SIPS+D2T") for line in lines)
    assert "SRV _sip._tcp.sip.example.com (TCP): missing" in lines
    assert any(line.startswith("AUTO would use TLS") for line in lines)
    assert "TCP: nothing advertised" in " ".join(report.notes)  # no address to fall back to


@pytest_twisted.ensureDeferred
async def test_an_expired_certificate_and_a_small_mtu_fail_with_their_rows(tmp_path):
    report = await _checked(tmp_path, BROKEN, user="alice", password="secret")

    assert not report.ok
    udp, tls = report.checks
    assert (udp.ok, udp.row) == (False, "message-too-large")
    assert any("REGISTERED" in step for step in udp.steps)  # small requests get through
    assert (tls.ok, tls.row) == (False, "tls-handshake-failure")
    assert "expired" in tls.diagnosis.cause and "expired" in tls.certificate
    text = check_text(report)
    assert "0 of 2 checks passed" in text and "Solution:" in text


@pytest_twisted.ensureDeferred
async def test_json_and_junit_have_one_entry_per_target_and_transport(tmp_path):
    report = await _checked(tmp_path, BROKEN)  # no credentials: no REGISTER

    data = json.loads(json.dumps(check_json(report)))
    assert [(c["transport"], c["ok"], c["row"]) for c in data["checks"]] == [
        ("UDP", False, "message-too-large"), ("TLS", False, "tls-handshake-failure")]
    assert all(c["target"].startswith("pbx.sip.example.com:") and c["evidence"]
               for c in data["checks"])
    assert not any("REGISTER" in line for c in data["checks"] for line in c["evidence"])
    path = tmp_path / "check.xml"
    write_check_junit(path, report)
    suite = ET.parse(path).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("2", "2")


@pytest_twisted.ensureDeferred
async def test_a_transport_asked_for_by_name_that_nothing_offers_fails(tmp_path):
    world = World(parse(HEALTHY, "check.yaml"), reactor, workdir=tmp_path)
    world.start()
    dns = DnsClient([world.dns_address], reactor)
    try:
        report = await run_check(reactor, ProbeSettings(
            parse_uri("sip:sip.example.com"), ca_file=str(world.ca_file),
            timers=Timers.scaled(0.02)), dns, transports=[Transport.UDP, Transport.WSS],
            required=[Transport.UDP, Transport.WSS])
    finally:
        dns.close()
        await world.stop()
    assert [(c.transport, c.ok) for c in report.checks] == [("UDP", True), ("WSS", False)]
    assert report.checks[1].row == "dns-failure" and not report.ok


@pytest.mark.parametrize("advertised, addresses, transports, expected", [
    ([Target("TLS", "pbx", 5061, "127.0.0.9")], [], [Transport.TLS, Transport.UDP],
     ["TLS 127.0.0.9:5061"]),
    ([], ["127.0.0.7"], [Transport.UDP, Transport.TLS], ["UDP 127.0.0.7:5060",
                                                         "TLS 127.0.0.7:5061"]),
])
def test_plan_targets(advertised, addresses, transports, expected):
    from testbed.check import Discovery, SrvSet

    discovery = Discovery("example.com", addresses=addresses,
                          srv=[SrvSet("_x", t.transport, "found", targets=[t])
                               for t in advertised])
    targets, _ = plan_targets(discovery, transports)
    assert [f"{t.transport} {t.address}:{t.port}" for t in targets] == expected


def test_the_command_refuses_to_guess_a_dns_server(capsys):
    from testbed.cli import main

    assert main(["check", "sip:sip.example.com"]) == 2
    err = capsys.readouterr().err
    assert "no DNS server given" in err and "system resolver is never used" in err


def test_an_unknown_transport_is_one_line(capsys):
    from testbed.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["check", "sip:example.com", "--transports", "udp,pigeon"])
    assert exit_.value.code == 2
    assert "unknown transport 'pigeon'" in capsys.readouterr().err
