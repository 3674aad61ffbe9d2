"""Our client against a real registrar: Kamailio 5.6 (Debian), configured by the test.

Kamailio's configuration and what the tests read of it are in tests/interop/kamailio.py
(shared with test_kamailio_external.py, where it sits behind the fault relays of a
scenario); conftest.py starts one per module.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor

from testbed.client import ClientConfig, UserAgent
from testbed.sip import SipUri, parse_uri

from .conftest import DOMAIN, INTEROP_TIMERS, sip_zone, tcp_listening
from .kamailio import PORTS, USERS

pytestmark = pytest.mark.interop

MODES = [("udp", "UDP"), ("tcp", "TCP"), ("tls", "TLS"), ("wss", "WSS")]


@pytest.fixture
def agents(interop_ca, ours):
    """Our user agents, pointed at Kamailio; unregistered and stopped in cleanup (before
    ``ours``: an AUTO agent still needs our DNS server to find Kamailio to unregister)."""
    started: list[UserAgent] = []
    ca = interop_ca[0]

    def agent(user: str, registrar: str, transport: str, **config: object) -> UserAgent:
        config.setdefault("timers", INTEROP_TIMERS)
        config.setdefault("password", USERS.get(user))
        agent = UserAgent(reactor, ClientConfig(
            aor=SipUri(host=DOMAIN, user=user), registrar=parse_uri(registrar),
            transport=transport, ca_pem=ca.cert_pem, **config), name=user)
        agent.start()
        started.append(agent)
        return agent

    yield agent
    for agent in started:
        if agent.registration.flow is not None:
            # Kamailio outlives the test: leave no binding behind for the next one.
            pytest_twisted.blockon(agent.unregister())
        pytest_twisted.blockon(agent.stop())


def at_kamailio(agents, kamailio, user: str, mode: str, transport: str, **config):
    """An agent of ``user`` registering to Kamailio by name (``DOMAIN`` → its address)."""
    return agents(user, f"sip:{DOMAIN}:{kamailio.port(transport)}", mode,
                  hosts={DOMAIN: kamailio.host}, **config)


# -- REGISTER ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode, transport", MODES)
@pytest_twisted.ensureDeferred
async def test_digest_register_and_unregister(kamailio, agents, mode, transport):
    agent = at_kamailio(agents, kamailio, "alice", mode, transport, expires=120)

    outcome = await agent.register()

    assert outcome.ok, outcome.summary
    assert [e.status for e in outcome.exchanges] == [401, 200]  # challenged, then accepted
    assert outcome.transport == transport
    assert outcome.remote == (kamailio.host, kamailio.port(transport))
    assert outcome.expires == 120
    proto = transport.lower()
    local_host, local_port = agent.registration.flow.local
    await kamailio.logged(f"challenge 401 REGISTER {proto}")
    await kamailio.logged(f"saved sip:alice@{DOMAIN} user=alice via {proto} expires=120 "
                          f"from {local_host}:{local_port}")  # our socket, as Kamailio saw it
    if transport == "WSS":
        await kamailio.logged("websocket upgrade from")

    removal = await agent.unregister()
    assert removal.ok, removal.summary
    await kamailio.logged(f"saved sip:alice@{DOMAIN} user=alice via {proto} expires=0")


@pytest_twisted.ensureDeferred
async def test_wrong_password_is_refused_by_kamailio(kamailio, agents):
    agent = at_kamailio(agents, kamailio, "alice", "udp", "UDP", password="not-the-password")

    outcome = await agent.register()

    assert not outcome.ok and outcome.error == "auth", outcome.summary
    assert [e.status for e in outcome.exchanges] == [401, 401]
    assert "wrong username or password" in outcome.summary


@pytest_twisted.ensureDeferred
async def test_423_after_digest_is_retried_with_fresh_credentials(kamailio, agents):
    """Kamailio counts nonces (qop=auth, nonce_count): a retry that replayed nc=00000001
    would be refused; RFC 7616 §3.4 asks for the next nc and a fresh cnonce."""
    agent = at_kamailio(agents, kamailio, "alice", "udp", "UDP", expires=30)

    outcome = await agent.register()

    assert outcome.ok, outcome.summary
    assert [e.status for e in outcome.exchanges] == [401, 423, 200]
    assert outcome.expires == 60  # Kamailio's Min-Expires
    await kamailio.logged(f"saved sip:alice@{DOMAIN} user=alice via udp expires=60")


# -- a call between two of our endpoints, through Kamailio --------------------------------


@pytest.mark.parametrize("caller, callee", [
    (("udp", "UDP"), ("udp", "UDP")),
    (("tcp", "TCP"), ("tls", "TLS")),
    (("tls", "TLS"), ("wss", "WSS")),
    (("wss", "WSS"), ("tcp", "TCP")),
], ids=lambda pair: pair[1])
@pytest_twisted.ensureDeferred
async def test_call_through_kamailio(kamailio, agents, caller, callee):
    alice = at_kamailio(agents, kamailio, "alice", *caller)
    bob = at_kamailio(agents, kamailio, "bob", *callee)
    assert (await bob.register()).ok
    assert (await alice.register()).ok

    call = await alice.call(parse_uri(f"sip:bob@{DOMAIN}"))

    assert call.ok, call.summary
    assert [e.status for e in call.exchanges] == [407, 200]  # proxy-authenticated INVITE
    await kamailio.logged(f"relay INVITE from alice via {caller[1].lower()} to "
                          f"{bob.registration.contact.uri}")
    (invite,) = [r for r in bob.inbound if r.method == "INVITE"]
    assert invite.transport == callee[1] and invite.answered == 200
    assert invite.remote[0] == kamailio.host  # it came through Kamailio
    dialog = call.call.dialog
    assert dialog.route_set, "Kamailio record-routes: the dialog must keep its route set"
    await bob.trace.received("ACK").addTimeout(5, reactor)

    bye = await alice.hangup(dialog)

    assert bye.ok, bye.summary
    assert [r.method for r in bob.inbound] == ["INVITE", "ACK", "BYE"]
    await kamailio.logged("in-dialog BYE")


# -- AUTO: our DNS server sends the client to Kamailio -------------------------------------


AUTO_CASES = {
    "sips-naptr-tls-first": ("sips", [("SIPS+D2T", f"_sips._tcp.{DOMAIN}"),
                                      ("SIPS+D2W", f"_sips._ws.{DOMAIN}")], "TLS"),
    "sips-naptr-wss-only": ("sips", [("SIPS+D2W", f"_sips._ws.{DOMAIN}")], "WSS"),
    "sip-naptr-tcp-then-udp": ("sip", [("SIP+D2T", f"_sip._tcp.{DOMAIN}"),
                                       ("SIP+D2U", f"_sip._udp.{DOMAIN}")], "TCP"),
    "sip-naptr-udp-only": ("sip", [("SIP+D2U", f"_sip._udp.{DOMAIN}")], "UDP"),
}


@pytest.mark.parametrize("case", list(AUTO_CASES))
@pytest_twisted.ensureDeferred
async def test_auto_finds_kamailio_through_naptr_and_srv(kamailio, agents, ours, case):
    scheme, naptr, expected = AUTO_CASES[case]
    host = kamailio.host
    srv = {f"_sips._tcp.{DOMAIN}": [(10, f"pbx.{DOMAIN}", PORTS["TLS"])],
           f"_sips._ws.{DOMAIN}": [(10, f"pbx.{DOMAIN}", PORTS["WSS"])],
           f"_sip._tcp.{DOMAIN}": [(10, f"pbx.{DOMAIN}", PORTS["TCP"])],
           f"_sip._udp.{DOMAIN}": [(10, f"pbx.{DOMAIN}", PORTS["UDP"])]}
    dns, port = ours.dns(sip_zone(naptr, srv, {f"pbx.{DOMAIN}": host}))
    agent = agents("alice", f"{scheme}:{DOMAIN}", "auto", dns=[("127.0.0.1", port)])

    outcome = await agent.register()

    assert outcome.ok, f"{outcome.summary}\n" + "\n".join(outcome.resolution)
    assert outcome.transport == expected
    assert outcome.remote == (host, PORTS[expected])
    asked = [(e.qtype, e.qname) for e in dns.log]
    assert asked[0] == ("NAPTR", DOMAIN)
    assert ("SRV", naptr[0][1]) in asked
    await kamailio.logged(f"saved sip:alice@{DOMAIN} user=alice via {expected.lower()}")


@pytest_twisted.ensureDeferred
async def test_auto_fails_over_to_the_next_srv_target_on_kamailio(kamailio, agents, ours):
    # RFC 3263 §4.3 / RFC 2782: the first SRV target refuses the connection (nothing
    # listens on 5999), the client moves on to the next one, which is Kamailio.
    host = kamailio.host
    assert not tcp_listening(host, 5999)
    srv = {f"_sip._tcp.{DOMAIN}": [(10, f"dead.{DOMAIN}", 5999),
                                   (20, f"pbx.{DOMAIN}", PORTS["TCP"])]}
    dns, port = ours.dns(sip_zone([("SIP+D2T", f"_sip._tcp.{DOMAIN}")], srv,
                                  {f"pbx.{DOMAIN}": host, f"dead.{DOMAIN}": host}))
    agent = agents("alice", f"sip:{DOMAIN}", "auto", dns=[("127.0.0.1", port)])

    outcome = await agent.register()

    assert outcome.ok, outcome.summary
    assert [(e.remote, e.error, e.status) for e in outcome.exchanges] == [
        ((host, 5999), "refused", None),
        ((host, PORTS["TCP"]), None, 401),
        ((host, PORTS["TCP"]), None, 200),
    ]
