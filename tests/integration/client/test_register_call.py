"""The client against the mock registrar on real loopback sockets: 401 then 200,
refresh, calls, inbound requests over the registered flow, default ports."""

import pytest
import pytest_twisted
from twisted.internet import protocol, reactor

from testbed.sip import Response, parse_uri

PLAIN = [("udp", "UDP"), ("tcp", "TCP")]
ALL = PLAIN + [("tls", "TLS"), ("wss", "WSS")]
DOMAIN = "sip.example.com"


def world(servers, agents, pki, tls_server, transport, mode, *, port=0, cert="valid",
          agent_options=None, **registrar_options):
    """A registrar for DOMAIN on one transport and a client pointed at it by name."""
    registrar_options.setdefault("users", {"alice": "secret"})
    registrar, bound = servers.registrar({transport: port}, tls_options=tls_server(cert),
                                         **registrar_options)
    host, bound_port = bound[transport]
    uri = f"sip:{DOMAIN}" if port else f"sip:{DOMAIN}:{bound_port}"
    agent = agents.agent(uri, mode, hosts={DOMAIN: host}, ca_pem=pki[0].cert_pem,
                         **(agent_options or {}))
    return registrar, agent, host, bound_port


@pytest.mark.parametrize("mode, transport", ALL)
@pytest_twisted.ensureDeferred
async def test_digest_registration_refresh_and_unregister(servers, agents, pki, tls_server,
                                                         mode, transport):
    registrar, agent, host, port = world(servers, agents, pki, tls_server, transport, mode,
                                         agent_options={"expires": 60, "refresh_ratio": 0.005})

    outcome = await agent.register()

    assert outcome.ok, outcome.summary
    assert [e.status for e in outcome.exchanges] == [401, 200]
    assert outcome.transport == transport and outcome.expires == 60
    (binding,) = registrar.bindings("sip:alice@example.com")
    assert binding.flow.transport == transport

    # the refresh fires at expires * refresh_ratio = 0.3 s, on the same Call-ID
    first_cseq = agent.registration.cseq
    refresh = await agent.next_outcome("register")
    assert refresh.ok, refresh.summary
    assert agent.registration.cseq > first_cseq
    registers = [r for r in registrar.received if r.method == "REGISTER"]
    assert len(registers) >= 3

    removal = await agent.unregister()
    assert removal.ok
    assert registrar.bindings("sip:alice@example.com") == []


@pytest.mark.parametrize("mode, transport", ALL)
@pytest_twisted.ensureDeferred
async def test_call_setup_and_teardown(servers, agents, pki, tls_server, mode, transport):
    registrar, agent, host, port = world(servers, agents, pki, tls_server, transport, mode)
    assert (await agent.register()).ok

    call = await agent.call(parse_uri(f"sip:bob@{host}"), sdp_size=900)

    assert call.ok, call.summary
    assert [e.status for e in call.exchanges] == [407, 200]  # 407: challenged as a proxy does
    assert call.call.dialog.flow.transport == transport
    await registrar.trace.received("ACK").addTimeout(5, reactor)
    assert len([e for e in registrar.trace.of_kind("received") if e.summary.startswith("ACK")]) == 1
    bye = await agent.hangup(call.call.dialog)
    assert bye.ok, bye.summary
    assert "BYE" in [r.method for r in registrar.received]


@pytest.mark.parametrize("status", [486, 503])
@pytest_twisted.ensureDeferred
async def test_rejected_call_reports_the_status(servers, agents, status):
    registrar, bound = servers.registrar({"UDP": 0}, invite=status)
    host, port = bound["UDP"]
    agent = agents.agent(f"sip:{host}:{port}", "udp")
    call = await agent.call(parse_uri(f"sip:bob@{host}"))
    assert not call.ok and call.status == status and call.error == "rejected"
    assert f"{status}" in call.summary


@pytest.mark.parametrize("mode, transport", ALL)
@pytest.mark.parametrize("method", ["OPTIONS", "INVITE"])
@pytest_twisted.ensureDeferred
async def test_inbound_request_reaches_the_client_over_the_registered_flow(
        servers, agents, pki, tls_server, mode, transport, method):
    registrar, agent, host, port = world(servers, agents, pki, tls_server, transport, mode)
    outcome = await agent.register()
    assert outcome.ok

    (result,) = await registrar.send_to_contact("sip:alice@example.com", method, sdp_size=400)

    assert isinstance(result, Response) and result.status == 200
    (inbound,) = [r for r in agent.inbound if r.method == method]
    assert inbound.transport == transport
    assert inbound.remote == (host, port)  # it came from the registrar's listening address
    if transport != "UDP":
        # the very connection the client registered on (RFC 5626 flow reuse)
        assert registrar.bindings("sip:alice@example.com")[0].flow.remote == \
            agent.registration.flow.local
    if method == "INVITE":
        ack = await agent.trace.received("ACK").addTimeout(5, reactor)
        assert ack.transport == transport


@pytest_twisted.ensureDeferred
async def test_default_ports_are_the_rfc_ones(servers, agents, pki, tls_server):
    # RFC 3261 §19.1.2: 5060 for UDP and TCP, 5061 for TLS; RFC 7118: 443 for WSS.
    # The URI names no port; the registrar really listens on the defaults.
    defaults = {"UDP": 5060, "TCP": 5060, "TLS": 5061, "WSS": 443}
    registrar, bound = servers.registrar(defaults, tls_options=tls_server())
    host = bound["UDP"][0]
    for mode, transport in ALL:
        agent = agents.agent(f"sip:{DOMAIN}", mode, password=None, hosts={DOMAIN: host},
                             ca_pem=pki[0].cert_pem)
        outcome = await agent.register()
        assert outcome.ok, outcome.summary
        assert outcome.remote == (host, defaults[transport])
        assert outcome.transport == transport
        assert any(f"{transport} {defaults[transport]} (default port)" in step
                   for step in outcome.resolution)


@pytest_twisted.ensureDeferred
async def test_wrong_password_is_reported_not_looped(servers, agents):
    registrar, bound = servers.registrar({"UDP": 0}, users={"alice": "secret"})
    host, port = bound["UDP"]
    agent = agents.agent(f"sip:{host}:{port}", "udp", password="wrong")
    outcome = await agent.register()
    assert not outcome.ok and outcome.error == "auth"
    assert [e.status for e in outcome.exchanges] == [401, 401]
    assert "wrong username or password" in outcome.summary


@pytest_twisted.ensureDeferred
async def test_423_after_digest_is_retried_with_fresh_credentials(servers, agents):
    """Our registrar refuses a replayed nonce count: the 423 retry carries the next nc and
    a fresh cnonce (RFC 7616 §3.4), so it is accepted, at the registrar's Min-Expires."""
    registrar, bound = servers.registrar({"UDP": 0}, users={"alice": "secret"},
                                         min_expires=60)
    host, port = bound["UDP"]
    agent = agents.agent(f"sip:{host}:{port}", "udp", expires=30)
    outcome = await agent.register()
    assert outcome.ok, outcome.summary
    assert [e.status for e in outcome.exchanges] == [401, 423, 200]
    assert outcome.expires == 60


@pytest_twisted.ensureDeferred
async def test_lost_tcp_connection_fails_the_transaction_at_once(servers, agents):
    # A registrar that closes the connection instead of answering: the client must not
    # wait for Timer F (RFC 3261 §17.1.4: a transport error fails the transaction).
    registrar, bound = servers.registrar({"TCP": 0})
    host, port = bound["TCP"]
    registrar.stack.fast_path = None  # every REGISTER through the patched handler below
    registrar.request_received = lambda context: context.flow.close()
    agent = agents.agent(f"sip:{host}:{port}", "tcp", password=None)
    started = reactor.seconds()
    outcome = await agent.register()
    assert not outcome.ok and outcome.error == "transport"
    assert "connection lost" in outcome.summary
    assert outcome.exchanges[-1].ended - started < agent.config.timers.timer_f / 2


@pytest_twisted.ensureDeferred
async def test_udp_timeout_counts_retransmissions(agents):
    from servers.loopback import find_free_loopback

    host = find_free_loopback([("UDP", 5999)])
    # a socket that reads and never answers (with nothing bound, the kernel's ICMP port
    # unreachable makes it "refused": tests/integration/faults)
    silent = reactor.listenUDP(5999, protocol.DatagramProtocol(), interface=host)
    agent = agents.agent(f"sip:{host}:5999", "udp", password=None)
    try:
        outcome = await agent.register()
    finally:
        await silent.stopListening()
    assert not outcome.ok and outcome.error == "timeout"
    assert outcome.exchanges[0].transmissions == 11  # 0, T1, 3T1, 7T1, ... up to 64*T1
    assert "Timer F" in outcome.summary


@pytest_twisted.ensureDeferred
async def test_refused_tcp_connection(agents):
    from servers.loopback import find_free_loopback

    host = find_free_loopback([("TCP", 5999)])
    agent = agents.agent(f"sip:{host}:5999", "tcp", password=None)
    outcome = await agent.register()
    assert not outcome.ok and outcome.error == "refused"
    assert "connection refused" in outcome.summary


@pytest.mark.parametrize("mode, transport", [("tls", "TLS"), ("wss", "WSS")])
@pytest.mark.parametrize("cert, kind", [("untrusted-ca", "untrusted-ca"),
                                        ("wrong-host", "hostname-mismatch"),
                                        ("expired", "expired")])
@pytest_twisted.ensureDeferred
async def test_tls_rejects_bad_certificates_with_the_reason(servers, agents, pki, tls_server,
                                                            mode, transport, cert, kind):
    registrar, agent, host, port = world(servers, agents, pki, tls_server, transport, mode,
                                         cert=cert)
    outcome = await agent.register()
    assert not outcome.ok and outcome.error == "tls"
    assert outcome.tls_failure.kind == kind
    assert list(registrar.received) == []  # nothing reached SIP
    assert kind in outcome.summary or str(outcome.tls_failure) in outcome.summary


@pytest_twisted.ensureDeferred
async def test_insecure_connects_but_still_knows_what_was_wrong(servers, agents, pki,
                                                               tls_server):
    registrar, agent, host, port = world(servers, agents, pki, tls_server, "TLS", "tls",
                                         cert="wrong-host", agent_options={"insecure": True})
    outcome = await agent.register()
    assert outcome.ok, outcome.summary
    creator = agent._tls_creator()
    assert creator.last_record.would_have_failed.kind == "hostname-mismatch"
