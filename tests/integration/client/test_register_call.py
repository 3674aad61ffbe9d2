"""The client against the mock registrar on real loopback sockets: 401 then 200,
refresh, calls, inbound requests over the registered flow, default ports."""

import pytest
import pytest_twisted
from twisted.internet import reactor

from testbed.sip import Response, parse_uri

PLAIN = [("udp", "UDP"), ("tcp", "TCP")]


def first_port(bound, transport):
    return bound[transport][1]


@pytest.mark.parametrize("mode, transport", PLAIN)
@pytest_twisted.ensureDeferred
async def test_digest_registration_refresh_and_unregister(servers, agents, mode, transport):
    registrar, bound = servers.registrar({transport: 0}, users={"alice": "secret"})
    host, port = bound[transport]
    agent = agents.agent(f"sip:{host}:{port}", mode, expires=60, refresh_ratio=0.005)

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


@pytest.mark.parametrize("mode, transport", PLAIN)
@pytest_twisted.ensureDeferred
async def test_call_setup_and_teardown(servers, agents, mode, transport):
    registrar, bound = servers.registrar({transport: 0}, users={"alice": "secret"})
    host, port = bound[transport]
    agent = agents.agent(f"sip:{host}:{port}", mode)
    assert (await agent.register()).ok

    call = await agent.call(parse_uri(f"sip:bob@{host}"), sdp_size=900)

    assert call.ok, call.summary
    assert [e.status for e in call.exchanges] == [401, 200]  # INVITE challenged, then answered
    assert call.extra["dialog"].flow.transport == transport
    await registrar.trace.received("ACK").addTimeout(5, reactor)
    assert len([e for e in registrar.trace.of_kind("received") if e.summary.startswith("ACK")]) == 1
    bye = await agent.hangup(call.extra["dialog"])
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


@pytest.mark.parametrize("mode, transport", PLAIN)
@pytest.mark.parametrize("method", ["OPTIONS", "INVITE"])
@pytest_twisted.ensureDeferred
async def test_inbound_request_reaches_the_client_over_the_registered_flow(
        servers, agents, mode, transport, method):
    registrar, bound = servers.registrar({transport: 0}, users={"alice": "secret"})
    host, port = bound[transport]
    agent = agents.agent(f"sip:{host}:{port}", mode)
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
async def test_default_ports_are_the_rfc_ones(servers, agents):
    # RFC 3261 §19.1.2: 5060 for UDP and TCP, 5061 for TLS; the URI names no port.
    registrar, bound = servers.registrar({"UDP": 5060, "TCP": 5060})
    host = bound["UDP"][0]
    for mode, transport in PLAIN:
        agent = agents.agent(f"sip:{host}", mode, password=None)
        outcome = await agent.register()
        assert outcome.ok, outcome.summary
        assert outcome.remote == (host, 5060) and outcome.transport == transport
        assert any("port 5060 (RFC 3263" in step for step in outcome.resolution)


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
async def test_lost_tcp_connection_fails_the_transaction_at_once(servers, agents):
    # A registrar that closes the connection instead of answering: the client must not
    # wait for Timer F (RFC 3261 §17.1.4: a transport error fails the transaction).
    registrar, bound = servers.registrar({"TCP": 0})
    host, port = bound["TCP"]
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
    agent = agents.agent(f"sip:{host}:5999", "udp", password=None)
    outcome = await agent.register()
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
