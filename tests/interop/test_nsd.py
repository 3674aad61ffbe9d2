"""A real DNS server, NSD 4.6 (Debian), behind our DNS server in forwarding mode.

dig (BIND 9.18) and kdig (Knot 3.2) ask NSD directly and through our relay: the answers
must be the same, NSD's authority flag included, over UDP and over TCP; the DNS faults
of a scenario act in front of NSD as the tools see it. Then a scenario with nothing of
ours but the client and the relays: NSD as its DNS server (``dns: {server:}``) and
Kamailio as its external registrar, found by NAPTR and SRV records in NSD's zone.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from testbed.scenario import parse, run

from .conftest import DOMAIN, require_peer
from .kamailio import SCENARIO_PASSWORD, SCENARIO_USER_PREFIX
from .test_dig import TOOLS, answer_section, header

pytestmark = pytest.mark.interop

RECORDS = f"""\
@ IN NAPTR 10 10 "s" "SIPS+D2T" "" _sips._tcp.{DOMAIN}.
@ IN NAPTR 20 10 "s" "SIP+D2U" "" _sip._udp.{DOMAIN}.
_sips._tcp IN SRV 10 60 5061 pbx1.{DOMAIN}.
pbx1 IN A 127.0.0.7
pbx1 IN AAAA ::1
www IN CNAME pbx1.{DOMAIN}.
@ IN TXT "testbed" "zone"
"""
QUESTIONS = [(DOMAIN, "NAPTR"), (f"_sips._tcp.{DOMAIN}", "SRV"), (f"pbx1.{DOMAIN}", "A"),
             (f"pbx1.{DOMAIN}", "AAAA"), (f"www.{DOMAIN}", "CNAME"), (DOMAIN, "TXT"),
             (DOMAIN, "SOA"), (f"nothing.{DOMAIN}", "A")]


async def ask(peers, tool, host, port, name, rtype, transport, extra=()):
    options, tcp_flag = TOOLS[tool]
    argv = [require_peer(tool), f"@{host}", "-p", port, name, rtype, *options, *extra]
    if transport == "tcp":
        argv.append(tcp_flag)
    return await peers.run(tool, argv, seconds=15)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("tool", list(TOOLS))
@pytest_twisted.ensureDeferred
async def test_through_the_relay_the_tools_see_what_nsd_serves(peers, ours, nsd, tool,
                                                                transport):
    host, port = nsd(DOMAIN, RECORDS)
    relay, relay_port = ours.dns(forward=(host, port))

    for name, rtype in QUESTIONS:
        code, direct = await ask(peers, tool, host, port, name, rtype, transport)
        relayed_code, relayed = await ask(peers, tool, "127.0.0.1", relay_port, name, rtype,
                                          transport)

        assert code == relayed_code == 0, relayed
        assert header(relayed) == header(direct), relayed  # status and flags (aa) as NSD's
        assert answer_section(relayed) == answer_section(direct), relayed
        entry = relay.log[-1]
        assert (entry.qname, entry.qtype, entry.transport) == (name, rtype, transport)
        assert entry.note == f"relayed to {host}:{port} over {transport.upper()}"

    assert answer_section(direct) == set() and header(direct)[0] == "NXDOMAIN"
    assert [e.rcode for e in relay.log][:2] == ["NOERROR", "NOERROR"]


@pytest.mark.parametrize("tool", list(TOOLS))
@pytest_twisted.ensureDeferred
async def test_dns_faults_in_front_of_nsd_as_the_tools_see_them(peers, ours, nsd, tool):
    host, port = nsd(DOMAIN, RECORDS)
    relay, relay_port = ours.dns(forward=(host, port), faults=[
        {"name": DOMAIN, "type": "NAPTR", "fault": "servfail"},
        {"name": f"_sips._tcp.{DOMAIN}", "fault": "refused"},
        {"name": f"pbx1.{DOMAIN}", "type": "A", "fault": "timeout"},
        {"name": DOMAIN, "type": "TXT", "fault": "delay", "seconds": 0.4}])

    async def through(name, rtype, *extra):
        return await ask(peers, tool, "127.0.0.1", relay_port, name, rtype, "udp", extra)

    _, servfail = await through(DOMAIN, "NAPTR")
    _, refused = await through(f"_sips._tcp.{DOMAIN}", "SRV")
    code, timeout = await through(f"pbx1.{DOMAIN}", "A",
                                  "+time=1" if tool == "dig" else "+timeout=1")
    started = reactor.seconds()
    _, delayed = await through(DOMAIN, "TXT")
    waited = reactor.seconds() - started

    assert header(servfail)[0] == "SERVFAIL" and "aa" not in header(servfail)[1]
    assert header(refused)[0] == "REFUSED"
    assert code != 0 and ("timed out" in timeout or "timeout" in timeout), timeout
    assert header(delayed)[0] == "NOERROR" and "aa" in header(delayed)[1]  # NSD's answer
    assert answer_section(delayed) == {(f"{DOMAIN}.", 300, "TXT", '"testbed" "zone"')}
    assert waited >= 0.4
    relayed = [e.qtype for e in relay.log if e.note.startswith("relayed to")]
    assert relayed == ["TXT"]  # the others never reached NSD


SCENARIO = """\
name: nsd-and-kamailio
troubleshooting: healthy
timers: {t1: 100ms}
dns:
  server: "@NSD@"
@DNS_FAULTS@
registrars:
  - name: kam
    domain: sip.example.com
    external: {udp: "@KAM@:5060", tcp: "@KAM@:5060", tls: "@KAM@:5061",
               wss: "wss://@KAM@:8443/ws"}
    ca: @CA@
client:
  transport: auto
  registrar: sips:sip.example.com
  user: @USER@
  password: @PASSWORD@
  expires: 60
steps:
  - register: {expect: {ok: true, transport: TLS, port: 5061}}
  - unregister: {expect: {ok: true}}
expect: {diagnosis: @DIAGNOSIS@}
"""


@pytest.mark.parametrize("faults, diagnosis", [
    ("", "{row: healthy, findings_exactly: []}"),
    ("  faults: [{name: sip.example.com, type: NAPTR, fault: servfail}]",
     "{row: healthy, findings: [dns-servfail]}"),
], ids=["straight", "naptr-servfail"])
@pytest_twisted.ensureDeferred
async def test_a_scenario_finds_kamailio_through_nsd(nsd, kamailio, interop_ca, tmp_path,
                                                     faults, diagnosis):
    host, port = nsd(DOMAIN, f"""\
@ IN NAPTR 10 10 "s" "SIPS+D2T" "" _sips._tcp.{DOMAIN}.
_sips._tcp IN SRV 10 10 5061 pbx.{DOMAIN}.
pbx IN A {kamailio.host}
""")
    ca_file = interop_ca[0].write(tmp_path, "kamailio-ca.pem")
    user = f"{SCENARIO_USER_PREFIX}nsd{len(faults)}"
    text = SCENARIO
    for key, value in {"@NSD@": f"{host}:{port}", "@DNS_FAULTS@": faults,
                       "@KAM@": kamailio.host, "@CA@": str(ca_file), "@USER@": user,
                       "@PASSWORD@": SCENARIO_PASSWORD, "@DIAGNOSIS@": diagnosis}.items():
        text = text.replace(key, value)

    running = defer.ensureDeferred(run(parse(text, "nsd.yaml"), reactor))
    result = await running.addTimeout(60, reactor)

    assert result.passed, result.failures
    asked = [(e.qtype, e.qname, e.rcode) for e in result.dns_log]
    assert ("SRV", f"_sips._tcp.{DOMAIN}", "NOERROR") in asked
    assert ("A", f"pbx.{DOMAIN}", "NOERROR") in asked
    assert result.outcomes[0].remote == (kamailio.host, 5061)
    await kamailio.logged(f"saved sip:{user}@{DOMAIN} user={user} via tls")
