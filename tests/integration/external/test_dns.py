"""Scenarios that resolve through a real DNS server, with DNS faults relayed in front.

The "real" DNS server and the "real" registrar are ours, started by the test outside
the scenario's world (tests/interop/test_nsd.py puts NSD there): the world knows only
their addresses, as it would know a deployment's.
"""

from __future__ import annotations

import socket

import pytest
import pytest_twisted
from twisted.internet import reactor

from servers.dns import DnsServer
from testbed.scenario import parse, run

ZONE = {
    "origin": "sip.example.com",
    "records": [
        {"name": "sip.example.com", "type": "NAPTR", "order": 10, "preference": 10,
         "flags": "s", "service": "SIP+D2T", "regexp": "",
         "replacement": "_sip._tcp.sip.example.com"},
        {"name": "_sip._tcp.sip.example.com", "type": "SRV", "priority": 10, "weight": 10,
         "port": 5060, "target": "pbx.sip.example.com"},
    ],
}

SCENARIO = """\
name: real-dns
troubleshooting: healthy
timers: {t1: 20ms}
dns:
  server: "@SERVER@"
@FAULTS@
registrars:
  - name: pbx
    domain: sip.example.com
    external: {udp: "@PBX@:5060", tcp: "@PBX@:5060"}
client:
  transport: auto
  registrar: sip:sip.example.com
  user: alice
  password: secret
steps:
@STEPS@
"""


@pytest.fixture
def real_dns():
    """``real_dns(address)``: our DNS server as the real one, the zone's A record
    pointing at ``address``; returns it and its ``HOST:PORT``."""
    started: list[DnsServer] = []

    def start(address: str) -> tuple[DnsServer, str]:
        zone = {**ZONE, "records": [*ZONE["records"], {"name": "pbx.sip.example.com",
                                                        "type": "A", "address": address}]}
        server = DnsServer([zone], reactor)
        started.append(server)
        return server, server.listen("127.0.0.1", 0).address

    yield start
    for server in started:
        pytest_twisted.blockon(server.stop())


async def run_with(real_dns, servers, faults: str, steps: str):
    """Run the scenario against a real DNS server whose zone names a real registrar."""
    registrar, bound = servers.registrar({"UDP": 5060, "TCP": 5060}, realm="sip.example.com",
                                         users={"alice": "secret"})
    host = bound["UDP"][0]
    server, address = real_dns(host)
    text = (SCENARIO.replace("@SERVER@", address).replace("@FAULTS@", faults)
            .replace("@STEPS@", steps).replace("@PBX@", host))
    return server, await run(parse(text, "real-dns.yaml"), reactor)


@pytest_twisted.ensureDeferred
async def test_resolution_goes_through_the_real_server_and_is_logged(real_dns, servers):
    server, result = await run_with(real_dns, servers, "", """\
  - register: {expect: {ok: true, transport: TCP, port: 5060}}
expect: {diagnosis: {row: healthy, findings_exactly: []}}""")

    assert result.passed, result.failures
    probe, *log = server.log  # the world's probe at start, then the client's queries
    assert (probe.qtype, probe.qname) == ("NS", ".")
    asked = [(e.qtype, e.qname) for e in log]
    assert asked[:3] == [("NAPTR", "sip.example.com"), ("SRV", "_sip._tcp.sip.example.com"),
                         ("A", "pbx.sip.example.com")]
    relayed = [(e.qtype, e.rcode, e.note.split(" over ")[0]) for e in result.dns_log]
    assert relayed[0] == ("NAPTR", "NOERROR",
                          f"relayed to 127.0.0.1:{server.listening[0].port}")
    (dns,) = [e for e in result.endpoints if e.role == "dns"]
    assert dns.note == f"relays to the DNS server 127.0.0.1:{server.listening[0].port}"
    client_dns = [s for s in result.capture if s.dst == (dns.host, dns.port)]
    upstream = [s for s in result.capture if s.dst == ("127.0.0.1", server.listening[0].port)]
    assert client_dns and upstream  # both legs in the pcap


@pytest_twisted.ensureDeferred
async def test_a_servfail_in_front_of_the_real_server_is_a_finding(real_dns, servers):
    server, result = await run_with(real_dns, servers, """\
  faults:
    - {name: sip.example.com, type: NAPTR, fault: servfail}""", """\
  - register: {expect: {ok: true}}
expect: {diagnosis: {findings: [dns-servfail]}}""")

    assert result.passed, result.failures
    assert ("NAPTR", "sip.example.com") not in [(e.qtype, e.qname) for e in server.log]
    assert result.dns_log[0].fault == "servfail"


@pytest_twisted.ensureDeferred
async def test_a_timeout_in_front_of_every_name_fails_resolution(real_dns, servers):
    server, result = await run_with(real_dns, servers, """\
  faults:
    - {name: "*.example.com", fault: timeout}
    - {name: sip.example.com, fault: timeout}""", """\
  - register: {expect: {ok: false, error: dns}}
expect: {diagnosis: {row: dns-server-failure}}""")

    assert result.passed, result.failures
    assert [e.qname for e in server.log] == ["."]  # only the probe reached the real server


@pytest_twisted.ensureDeferred
async def test_a_real_server_that_refuses_ends_the_run_with_one_line():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed below: nothing listens there
    text = (SCENARIO.replace("@SERVER@", f"127.0.0.1:{port}").replace("@FAULTS@", "")
            .replace("@STEPS@", "  - register")
            .replace('external: {udp: "@PBX@:5060", tcp: "@PBX@:5060"}',
                     "listen: [{transport: udp}]"))

    result = await run(parse(text, "real-dns.yaml"), reactor)

    assert not result.passed and result.steps == []
    assert result.error == (f"dns server 127.0.0.1:{port} unreachable: ICMP port "
                            "unreachable: no DNS server there")
