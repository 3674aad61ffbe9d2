"""Firewall drop / reject and nothing listening, with the real client: timeout vs refused.

UDP drop: the REGISTER and its 10 retransmissions vanish, Timer F fires. TCP drop: the
SYNs go unanswered (the kernel drops them: the proxy's accept queue is full), the
connect times out. Reject and not-listening: the kernel answers, ICMP port unreachable
(UDP) or RST (TCP), and the client reports "refused" after one transmission.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor

from servers.faults import ClosedPort, SynDropPort

from .conftest import BRISK, QUICK, logged


@pytest_twisted.ensureDeferred
async def test_udp_drop_is_a_registration_timeout_with_every_retransmission_lost(pool, agents):
    scene = pool.scene(agents, {"kind": "firewall", "action": "drop"})

    outcome = await scene.agent.register()

    assert not outcome.ok and outcome.error == "timeout"
    # 11 on time (0, T1, 3T1, 7T1, then every T2 up to 64*T1), 10 when the reactor fires
    # the retransmission timers a little late: each one is re-armed from when it fired
    sent = outcome.exchanges[0].transmissions
    assert sent in (10, 11)
    assert "Timer F" in outcome.summary
    await logged(scene.fault, index=sent, direction="to-server")
    dropped = scene.fault.log.of("dropped", direction="to-server")
    assert [r.index for r in dropped] == list(range(1, sent + 1))
    assert {r.fault for r in dropped} == {"firewall"}
    assert list(scene.registrar.received) == []  # nothing got through
    assert scene.fault.log.of("new-binding") == []  # nothing was ever forwarded


@pytest_twisted.ensureDeferred
async def test_udp_drop_to_client_lets_requests_through_and_loses_the_answers(pool, agents):
    scene = pool.scene(agents, {"kind": "firewall", "action": "drop", "direction": "to-client"},
                       timers=BRISK)

    outcome = await scene.agent.register()

    assert not outcome.ok and outcome.error == "timeout"
    sent = outcome.exchanges[0].transmissions
    await logged(scene.fault, index=sent, direction="to-client")
    # the registrar saw the REGISTER and answered every retransmission: a one-way path
    assert [r.method for r in scene.registrar.received] == ["REGISTER"]
    assert scene.registrar.bindings("sip:alice@example.com")
    assert len(scene.fault.log.of("forwarded", direction="to-server")) == sent
    assert len(scene.fault.log.of("dropped", direction="to-client")) == sent


@pytest_twisted.ensureDeferred
async def test_tcp_drop_leaves_syns_unanswered_so_the_connect_times_out(pool, agents):
    scene = pool.scene(agents, {"kind": "firewall", "action": "drop"}, "tcp",
                       transports=("TCP",), connect_timeout=0.3)
    port = scene.fault.parts["TCP"]
    assert isinstance(port, SynDropPort) and port.queue() == (1, 0)  # the queue is full

    started = reactor.seconds()
    outcome = await scene.agent.register()

    assert not outcome.ok and outcome.error == "timeout"
    assert f"no answer from {scene.host}:{scene.fault.address[1]} within 0.3 s" in outcome.summary
    assert reactor.seconds() - started >= 0.3
    assert outcome.exchanges[0].transmissions == 0  # never connected, nothing sent
    (policy,) = scene.fault.log.of("policy")
    assert "drops every SYN" in policy.detail


@pytest.mark.parametrize("mode, transport", [("udp", "UDP"), ("tcp", "TCP")])
@pytest_twisted.ensureDeferred
async def test_reject_is_refused_at_once(pool, agents, mode, transport):
    scene = pool.scene(agents, {"kind": "firewall", "action": "reject"}, mode,
                       transports=(transport,))
    host, port = scene.fault.address

    outcome = await scene.agent.register()

    assert not outcome.ok and outcome.error == "refused", outcome.summary
    exchange = outcome.exchanges[0]
    if transport == "UDP":
        assert exchange.detail == f"ICMP port unreachable from {host}:{port}"
        assert exchange.transmissions == 1  # refused before the first retransmission
        assert exchange.ended - exchange.started < QUICK.t1
        assert f"ICMP port unreachable from {host}:{port}" in outcome.summary
        failed = scene.agent.trace.of_kind("connect-failed")
        assert failed and failed[0].remote == (host, port) and failed[0].detail == "refused"
    else:
        assert f"connection refused by {host}:{port}/TCP" in outcome.summary
    assert list(scene.registrar.received) == []
    (policy,) = scene.fault.log.of("policy")
    assert ("ICMP port unreachable" if transport == "UDP" else "RST") in policy.detail


@pytest.mark.parametrize("mode, transport", [("udp", "UDP"), ("tcp", "TCP")])
@pytest_twisted.ensureDeferred
async def test_nothing_listening_is_refused(pool, agents, mode, transport):
    fault = pool.fault({"kind": "not-listening"}, None)  # no server at all
    host, port = fault.address
    assert set(fault.addresses) == {"UDP", "TCP"}  # both reserved, on one port number
    agent = agents.agent(f"sip:{host}:{port}", mode, password=None, timers=QUICK)

    outcome = await agent.register()

    assert not outcome.ok and outcome.error == "refused", outcome.summary
    assert outcome.exchanges[0].transmissions == (1 if transport == "UDP" else 0)
    assert len(fault.log.of("policy")) == 2


@pytest_twisted.ensureDeferred
async def test_a_firewall_limited_to_udp_leaves_tcp_through_the_same_port(pool, agents):
    scene = pool.scene(agents, {"kind": "firewall", "action": "drop", "transports": ["udp"]},
                       "udp", transports=("UDP", "TCP"), timers=BRISK)
    host, port = scene.fault.address
    assert scene.fault.addresses == {"UDP": (host, port), "TCP": (host, port)}

    over_udp = await scene.agent.register()
    tcp_agent = agents.agent(f"sip:{host}:{port}", "tcp", password=None, timers=QUICK)
    over_tcp = await tcp_agent.register()

    assert over_udp.error == "timeout"
    assert over_tcp.ok, over_tcp.summary
    assert [r.transport for r in scene.registrar.received] == ["TCP"]


@pytest_twisted.ensureDeferred
async def test_a_relay_whose_server_refuses_resets_the_connection_it_accepted(pool, agents):
    # The limit of a userland proxy: it accepted the client's connection before learning
    # that the server refuses its own. The client sees a reset, not "refused".
    gone = ClosedPort("TCP", "127.0.0.1")
    try:
        fault = pool.fault({"kind": "relay"}, ("TCP", *gone.address))
        agent = agents.agent("sip:{}:{}".format(*fault.address), "tcp", password=None,
                             timers=QUICK)
        outcome = await agent.register()
    finally:
        gone.close()

    # "transport" (connection lost under the REGISTER), or "error" should the reset beat
    # the client's own view of its connect: never "refused"
    assert not outcome.ok and outcome.error in ("transport", "error"), outcome.summary
    (rejected,) = fault.log.of("rejected")
    assert "cannot reach the server" in rejected.detail and "refused" in rejected.detail
