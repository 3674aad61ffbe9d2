"""A path-MTU black hole: REGISTER works, the large INVITE is lost (Timer B), unless the
client follows RFC 3261 §18.1.1 and moves the large request to TCP."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import reactor

from testbed.sip import parse_uri

from .conftest import BRISK, logged

MTU = {"kind": "mtu", "mtu": 1500}


@pytest_twisted.ensureDeferred
async def test_large_invite_is_lost_and_only_the_invite(pool, agents):
    scene = pool.scene(agents, MTU, transports=("UDP", "TCP"), timers=BRISK)

    registered = await scene.agent.register()
    call = await scene.agent.call(parse_uri(f"sip:bob@{scene.host}"), sdp_size=1600)

    assert registered.ok, registered.summary
    assert not call.ok and call.error == "timeout" and "Timer B" in call.summary
    invite = call.exchanges[-1]
    assert invite.method == "INVITE" and invite.transport == "UDP"
    assert invite.transmissions >= 5  # 0, T1, 3T1, 7T1, 15T1, 31T1, 63T1 (when on time)
    assert call.call.invite_size > 1472
    await logged(scene.fault, index=1 + invite.transmissions, direction="to-server")
    dropped = scene.fault.log.of("dropped")
    assert len(dropped) == invite.transmissions
    assert {r.size for r in dropped} == {call.call.invite_size}
    assert all("larger than the path MTU" in r.detail and "> 1500" in r.detail for r in dropped)
    assert [r.method for r in scene.registrar.received] == ["REGISTER"]
    notes = [e.summary for e in scene.agent.trace.of_kind("note")]
    assert any("sent over UDP anyway" in note for note in notes)  # the policy is visible


@pytest_twisted.ensureDeferred
async def test_switch_to_tcp_carries_the_large_invite(pool, agents):
    scene = pool.scene(agents, MTU, transports=("UDP", "TCP"),
                       udp_large_message="switch-to-tcp")

    registered = await scene.agent.register()
    call = await scene.agent.call(parse_uri(f"sip:bob@{scene.host}"), sdp_size=1600)

    assert registered.ok and registered.transport == "UDP"
    assert call.ok, call.summary
    assert call.transport == "TCP" and call.call.invite_over == "TCP"
    assert call.remote == scene.fault.address  # through the proxy, on the same port
    ack = await scene.registrar.trace.received("ACK").addTimeout(2, reactor)
    assert ack.transport == "TCP"
    assert [(r.method, r.transport) for r in scene.registrar.received][:2] == [
        ("REGISTER", "UDP"), ("INVITE", "TCP")]
    assert scene.fault.log.of("dropped") == []
    (note,) = [e.summary for e in scene.agent.trace.of_kind("note")]
    assert "is over 1300 bytes (1300: the path MTU is unknown): switching to TCP" in note


@pytest_twisted.ensureDeferred
async def test_the_rule_uses_the_real_size_on_both_sides_of_1300_bytes(pool, agents):
    # Measure a real INVITE, then size the SDP so that the next ones serialise to exactly
    # 1300 bytes (stays on UDP: "larger than 1300" switches) and 1301 (switches).
    scene = pool.scene(agents, {"kind": "relay"}, transports=("UDP", "TCP"),
                       udp_large_message="switch-to-tcp")
    uri = parse_uri(f"sip:bob@{scene.host}")
    probe = await scene.agent.call(uri, sdp_size=600)
    overhead = probe.call.invite_size - 600

    at_limit = await scene.agent.call(uri, sdp_size=1300 - overhead)
    over_limit = await scene.agent.call(uri, sdp_size=1301 - overhead)

    assert at_limit.call.invite_size == 1300 and at_limit.transport == "UDP"
    assert over_limit.transport == "TCP"  # the TCP copy is a few bytes longer (Via, Contact)
    assert at_limit.ok and over_limit.ok
    (note,) = [e.summary for e in scene.agent.trace.of_kind("note")]
    assert note.startswith("INVITE of 1301 bytes is over 1300 bytes")


@pytest_twisted.ensureDeferred
async def test_a_known_path_mtu_moves_the_limit_to_200_bytes_below_it(pool, agents):
    scene = pool.scene(agents, {"kind": "mtu", "mtu": 1000}, transports=("UDP", "TCP"),
                       udp_large_message="switch-to-tcp", path_mtu=1000)
    uri = parse_uri(f"sip:bob@{scene.host}")

    small = await scene.agent.call(uri, sdp_size=300)   # under 800 bytes: UDP
    large = await scene.agent.call(uri, sdp_size=500)   # over 800 bytes: TCP

    assert small.ok and small.transport == "UDP" and small.call.invite_size <= 800
    assert large.ok and large.transport == "TCP" and large.call.invite_size > 800
    assert scene.fault.log.of("dropped") == []
    assert any("within 200 bytes of the path MTU 1000" in e.summary
               for e in scene.agent.trace.of_kind("note"))
