"""Kamailio as a scenario's external registrar: healthy on each transport, and behind
each kind of fault, the fault relays between our client and the real server.

Each test is a scenario as a user writes it (``external:`` with Kamailio's addresses,
``ca:`` the CA that signed its certificate), run by the scenario runner; the tests then
read what the runner cannot judge: Kamailio's own log (its ``TESTBED`` lines), the
relays' log and the capture. Every scenario registers a fresh account (``user-N``), so
no binding one leaves in Kamailio meets the next.
"""

from __future__ import annotations

import itertools

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from testbed.report import ladder
from testbed.scenario import parse, run

from .conftest import DOMAIN
from .kamailio import PORTS, SCENARIO_PASSWORD, SCENARIO_USER_PREFIX

pytestmark = pytest.mark.interop

_accounts = itertools.count(1)
RUN_GUARD_SECONDS = 60.0

SCENARIO = """\
name: kamailio-external
troubleshooting: healthy
timers: {t1: 100ms}
registrars:
  - name: kam
    domain: sip.example.com
    external: {udp: "@HOST@:5060", tcp: "@HOST@:5060", tls: "@HOST@:5061",
               wss: "wss://@HOST@:8443/ws"}
    ca: @CA@
@FAULTS@
client:
  transport: @TRANSPORT@
  registrar: @URI@
  user: @USER@
  password: @PASSWORD@
  expires: 60
steps:
@STEPS@
"""

URIS = {"udp": "sip:sip.example.com", "tcp": "sip:sip.example.com",
        "tls": "sips:sip.example.com", "wss": "sip:sip.example.com:8443"}


@pytest.fixture(scope="module")
def ca_file(interop_ca, tmp_path_factory):
    """The CA that signed Kamailio's certificate, as the file ``ca:`` names."""
    return interop_ca[0].write(tmp_path_factory.mktemp("ca"), "kamailio-ca.pem")


class Run:
    """One scenario against Kamailio: its text, its account, its result."""

    def __init__(self, kamailio, ca_file, transport: str, steps: str, *, faults: str = "",
                 uri: str | None = None, extra: str = "") -> None:
        self.user = f"{SCENARIO_USER_PREFIX}{next(_accounts)}"
        self.kamailio = kamailio
        text = SCENARIO
        for key, value in {"@HOST@": kamailio.host, "@CA@": str(ca_file),
                           "@FAULTS@": f"faults:\n{faults}" if faults else "",
                           "@TRANSPORT@": transport, "@URI@": uri or URIS[transport],
                           "@USER@": self.user, "@PASSWORD@": SCENARIO_PASSWORD,
                           "@STEPS@": steps.replace("@SELF@", f"sip:{self.user}@{DOMAIN}")
                           }.items():
            text = text.replace(key, value)
        self.text = text + extra
        self.result = None

    async def __call__(self):
        # A guard, not a timer of the scenario: a run that hangs fails the test instead.
        running = defer.ensureDeferred(run(parse(self.text, "kamailio-external.yaml"),
                                           reactor))
        self.result = await running.addTimeout(RUN_GUARD_SECONDS, reactor)
        return self.result

    @property
    def relay(self):
        """The fault proxy in front of Kamailio (its endpoints), if any."""
        return [e for e in self.result.endpoints if e.role == "fault proxy"]


# -- healthy, straight to Kamailio ---------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls", "wss"])
@pytest_twisted.ensureDeferred
async def test_healthy_on_each_transport_with_a_call_back_through_kamailio(
        kamailio, ca_file, transport):
    """REGISTER (401, 200); a call to our own AOR, which Kamailio routes back to the
    registered contact over the registered flow; unREGISTER."""
    scenario = Run(kamailio, ca_file, transport, """\
  - register: {expect: {ok: true, exchanges: 2}}
  - call: {to: "@SELF@", expect: {ok: true, exchanges: 2}}
  - unregister: {expect: {ok: true}}
expect: {diagnosis: {row: healthy}}""")

    result = await scenario()

    assert result.passed, result.failures
    proto = {"wss": "wss", "tls": "tls"}.get(transport, transport)
    register = result.outcomes[0]
    assert register.remote == (kamailio.host, PORTS[transport.upper()])  # no relay
    await kamailio.logged(f"saved sip:{scenario.user}@{DOMAIN} user={scenario.user} via "
                          f"{proto} expires=60")
    await kamailio.logged(f"relay INVITE from {scenario.user} via {proto}")
    if transport == "wss":
        await kamailio.logged("path /ws")  # the path of the external: URL, as asked for
    ladder_names = set(result.names.values())
    assert "kam (external)" in ladder_names


# -- behind each fault ---------------------------------------------------------------------

FAULTS = {
    "firewall-drop-udp": ("udp", "  - {kind: firewall, action: drop, transport: udp}", """\
  - register: {expect: {ok: false, error: timeout, transmissions: 11}}
expect: {diagnosis: {row: registration-timeout}}"""),
    "firewall-drop-tcp": ("tcp", "  - {kind: firewall, action: drop, transport: tcp}", """\
  - register: {expect: {ok: false, error: timeout, transport: TCP}}
expect: {diagnosis: {row: registration-timeout}}"""),
    "firewall-reject-udp": ("udp", "  - {kind: firewall, action: reject, transport: udp}", """\
  - register: {expect: {ok: false, error: refused}}
expect: {diagnosis: {row: connection-refused}}"""),
    "firewall-reject-tls": ("tls", "  - {kind: firewall, action: reject, transport: tls}", """\
  - register: {expect: {ok: false, error: refused, port: 5061}}
expect: {diagnosis: {row: connection-refused}}"""),
    "not-listening-wss": ("wss", "  - {kind: not-listening, transport: wss}", """\
  - register: {expect: {ok: false, error: refused, port: 8443}}
expect: {diagnosis: {row: connection-refused}}"""),
    "mtu": ("udp", "  - {kind: mtu, mtu: 1500}", """\
  - register: {expect: {ok: true, transport: UDP}}
  - call: {to: "@SELF@", sdp_size: 1600, expect: {ok: false, error: timeout, invite_over: UDP}}
  - unregister: {expect: {ok: true}}
expect: {diagnosis: {row: message-too-large}}"""),
    "loss": ("udp", "  - {kind: loss, drop: [1], direction: to-server}", """\
  - register: {expect: {ok: true, transmissions: 2}}
  - unregister: {expect: {ok: true}}
expect: {diagnosis: {row: intermittent-udp-loss}}"""),
    "latency": ("tls", "  - {kind: latency, delay: 150ms}", """\
  - register: {expect: {ok: true, exchanges: 2}}
  - unregister: {expect: {ok: true}}
expect: {diagnosis: {row: healthy}}"""),
}


@pytest.mark.parametrize("case", list(FAULTS))
@pytest_twisted.ensureDeferred
async def test_behind_each_fault(kamailio, ca_file, case):
    transport, faults, steps = FAULTS[case]
    scenario = Run(kamailio, ca_file, transport, steps, faults=faults)

    result = await scenario()

    assert result.passed, result.failures
    (relay,) = [e for e in scenario.relay if str(PORTS[transport.upper()]) == str(e.port)]
    assert relay.host != kamailio.host  # the client went to the relay, on Kamailio's port
    assert result.outcomes[0].exchanges[0].remote == (relay.host, relay.port)
    events = kamailio.events()
    if case.startswith(("firewall", "not-listening")):
        assert not any(scenario.user in e for e in events), events  # nothing got through
    elif case == "mtu":
        await kamailio.logged(f"saved sip:{scenario.user}@{DOMAIN}")
        assert not any(f"INVITE from {scenario.user}" in e or "challenge 407" in e
                       for e in kamailio.events())  # the large INVITE never arrived
        dropped = [r for r in result.fault_log if r.action == "dropped"]
        assert dropped and all(r.size > 1472 for r in dropped)
    else:
        await kamailio.logged(f"saved sip:{scenario.user}@{DOMAIN} user={scenario.user} "
                              f"via {transport}")
    if case == "latency":
        (register,) = [o for o in result.outcomes if o.operation == "register"]
        # two requests, each out and back through the relay: 4 x 150 ms at least
        assert register.ended - register.started >= 0.6


@pytest_twisted.ensureDeferred
async def test_behind_a_nat_kamailio_reaches_the_client_until_the_binding_expires(
        kamailio, ca_file):
    """Kamailio keeps the REGISTER's source (the NAT's external port) as the contact's
    address. A call to our own AOR comes back through the NAT while the binding lives;
    once it has expired, Kamailio's INVITE meets a NAT that forgot the mapping (the
    relay logs it dropped) and the caller gets Kamailio's 408 after its fr_timer (2 s:
    the caller's own, newer binding lives 3 s, so the 408 still reaches it).

    What the diagnosis can say is limited: the testbed sees the caller's 408 (row
    ``rejected``), not Kamailio's failed branch; the relay's log is the evidence."""
    scenario = Run(kamailio, ca_file, "udp", """\
  - register: {expect: {ok: true}}
  - call: {to: "@SELF@", expect: {ok: true}}
  - wait: 4s
  - call: {to: "@SELF@", expect: {ok: false, status: 408}}
expect: {diagnosis: {row: rejected}}""", faults="  - {kind: nat, timeout: 3s}")

    result = await scenario()

    assert result.passed, result.failures
    bindings = [r for r in result.fault_log if r.action == "new-binding"]
    expired = [r for r in result.fault_log if r.action == "expired"]
    assert len(bindings) == 2 and expired  # the second call made a new mapping
    dropped = [r for r in result.fault_log if r.action == "dropped"
               and r.direction == "to-client"]
    assert dropped and all(r.destination == bindings[0].destination for r in dropped)
    await kamailio.logged(f"saved sip:{scenario.user}@{DOMAIN} user={scenario.user} via udp "
                          f"expires=60 from {bindings[0].destination[0]}")


# -- ports and records -----------------------------------------------------------------------


@pytest.mark.parametrize("faults", ["", "  - {kind: latency, delay: 20ms}"],
                         ids=["straight", "through-a-relay"])
@pytest_twisted.ensureDeferred
async def test_auto_finds_kamailio_by_naptr_and_srv_carrying_its_ports(
        kamailio, ca_file, faults):
    zone = """\
dns:
  zones:
    - origin: sip.example.com
      records:
        - {name: sip.example.com, type: NAPTR, order: 10, preference: 10, flags: s, service: SIPS+D2W, regexp: "", replacement: _sips._ws.sip.example.com}
        - {name: _sips._ws.sip.example.com, type: SRV, priority: 10, weight: 10, port: 8443, target: pbx.sip.example.com}
        - {name: pbx.sip.example.com, type: A, address: "${kam}"}
"""
    scenario = Run(kamailio, ca_file, "auto", """\
  - register: {expect: {ok: true, transport: WSS, port: 8443}}
  - unregister: {expect: {ok: true}}""", faults=faults, uri="sips:sip.example.com")
    scenario.text = zone + scenario.text

    result = await scenario()

    assert result.passed, result.failures
    expected_host = scenario.relay[0].host if faults else kamailio.host
    assert result.outcomes[0].remote == (expected_host, 8443)
    await kamailio.logged(f"saved sip:{scenario.user}@{DOMAIN} user={scenario.user} via wss")


@pytest_twisted.ensureDeferred
async def test_server_name_lets_the_client_reach_kamailio_by_address(kamailio, ca_file):
    scenario = Run(kamailio, ca_file, "tls", """\
  - register: {expect: {ok: true}}
  - unregister: {expect: {ok: true}}""", uri="sips:${kam}:5061")
    scenario.text = scenario.text.replace("    ca: ", "    server_name: sip.example.com\n"
                                                   "    ca: ")

    result = await scenario()

    assert result.passed, result.failures


@pytest_twisted.ensureDeferred
async def test_the_pcap_and_the_ladder_hold_the_relays_leg_to_kamailio(kamailio, ca_file):
    scenario = Run(kamailio, ca_file, "udp", """\
  - register: {expect: {ok: true}}
  - unregister: {expect: {ok: true}}""", faults="  - {kind: latency, delay: 10ms}")

    result = await scenario()

    assert result.passed, result.failures
    to_kamailio = [s.data for s in result.capture if s.dst == (kamailio.host, 5060)]
    from_kamailio = [s.data for s in result.capture if s.src == (kamailio.host, 5060)]
    assert any(d.startswith(b"REGISTER ") for d in to_kamailio)
    assert any(d.startswith(b"SIP/2.0 401") for d in from_kamailio)
    assert any(d.startswith(b"SIP/2.0 200") for d in from_kamailio)
    drawn = ladder(result.trace_events, result.dns_log, result.names)
    assert f"kam (external)  {kamailio.host}:5060/UDP" in drawn
    assert any("401 Unauthorized" in line for line in drawn.splitlines())
