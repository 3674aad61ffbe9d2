"""The connection policy of a listening registrar against silent, slow and greedy peers
over TCP and TLS: deadlines close them, registrations keep theirs, caps refuse the rest."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor

from testbed.transport import ConnectionPolicy


@pytest_twisted.ensureDeferred
async def test_a_silent_tcp_connection_is_closed_after_the_first_message_timeout(policed, kit):
    registrar, address = policed.registrar("TCP")
    peer = await kit.connect(address)
    await peer.closed()
    assert peer.received == b""
    assert kit.closes(registrar) == [
        "connection closed: closed by the connection policy: no SIP message within 0.3 s"]
    assert registrar.stack.gate.total == 0


@pytest.mark.parametrize("when", ["before", "after"])
@pytest_twisted.ensureDeferred
async def test_a_silent_tls_connection_is_closed(policed, kit, pki, tls_server, when):
    registrar, address = policed.registrar("TLS", tls_options=tls_server())
    if when == "before":  # not even a ClientHello
        peer = await kit.connect(address)
        expected = ("closed TLS connection from 127.0.0.1:{port}: no TLS handshake within "
                    "0.3 s: connection policy: handshake_timeout")
    else:  # the handshake, then nothing
        peer = await kit.connect(address, tls_ca=pki[0].cert_pem)
        await peer.handshake.addTimeout(kit.WAIT, reactor)
        expected = ("connection closed: closed by the connection policy: no SIP message "
                    "within 0.3 s")
    await peer.closed()
    port = peer.port
    assert kit.closes(registrar) == [expected.format(port=port)]


@pytest_twisted.ensureDeferred
async def test_a_half_sent_message_is_closed(policed, kit):
    registrar, address = policed.registrar("TCP")
    peer = await kit.connect(address)
    peer.transport.write(kit.request("REGISTER", peer).to_bytes()[:150])
    await peer.closed()
    assert peer.received == b""  # nothing to answer: no message ever came whole
    assert "no SIP message within 0.3 s" in kit.closes(registrar)[0]


@pytest_twisted.ensureDeferred
async def test_a_message_left_unfinished_after_the_first_is_closed(policed, kit):
    registrar, address = policed.registrar("TCP")
    peer = await kit.connect(address)
    assert (await peer.ask(kit.request("OPTIONS", peer))).status == 200
    peer.transport.write(kit.request("OPTIONS", peer, cseq=2).to_bytes()[:100])
    await peer.closed()
    assert "an incomplete message for 0.3 s" in kit.closes(registrar)[0]


@pytest_twisted.ensureDeferred
async def test_an_idle_connection_is_closed_and_a_registered_one_is_kept(policed, kit):
    registrar, address = policed.registrar("TCP")
    phone = await kit.connect(address)
    assert (await phone.ask(kit.request("REGISTER", phone, expires=60))).status == 200
    idle = await kit.connect(address, source="127.0.0.2")
    assert (await idle.ask(kit.request("OPTIONS", idle, user="bob"))).status == 200

    await idle.closed()  # idle for 0.6 s, and registered nothing

    assert "idle for 0.6 s without a registration" in kit.closes(registrar)[0]
    assert not phone.lost.called  # idle longer still, but it carries a binding for 60 s
    binding, = registrar.bindings("sip:alice@example.com")
    assert not binding.flow.closed
    assert (await phone.ask(kit.request("OPTIONS", phone, cseq=2))).status == 200
    phone.transport.write(b"\r\n\r\n")  # RFC 5626 §3.5.1 ping: answered, still open
    await phone.ask(kit.request("REGISTER", phone, expires=0, cseq=3))  # unregistered...
    await phone.closed()  # ...so it is an idle connection like any other
    assert "idle for 0.6 s without a registration" in kit.closes(registrar)[-1]


@pytest_twisted.ensureDeferred
async def test_caps_refuse_new_connections_while_registered_ones_keep_working(policed, kit):
    policy = ConnectionPolicy(max_connections=4, max_connections_per_source=2, make_room=False,
                              first_message_timeout=60)  # no silent one expires meanwhile
    registrar, address = policed.registrar("TCP", policy)
    phone = await kit.connect(address)
    assert (await phone.ask(kit.request("REGISTER", phone))).status == 200
    await kit.connect(address)  # a second one from 127.0.0.1: silent, within the caps
    third = await kit.connect(address)
    await third.closed()  # accepted by the kernel, closed at accept by the policy
    assert third.received == b""

    others = [await kit.connect(address, source="127.0.0.2") for _ in range(2)]
    for n, other in enumerate(others):  # both admitted: they are answered
        assert (await other.ask(kit.request("OPTIONS", other, user=f"u{n}"))).status == 200
    fifth = await kit.connect(address, source="127.0.0.3")
    await fifth.closed()

    gate = registrar.stack.gate
    assert (gate.total, gate.refused) == (4, 2)
    assert not phone.lost.called  # never closed to make room
    assert (await phone.ask(kit.request("REGISTER", phone, cseq=2))).status == 200
    notes = [e.summary for e in registrar.trace.events if e.kind == "note"]
    assert notes == [
        "refused a TCP connection from 127.0.0.1 at accept: 2 connections open from "
        "127.0.0.1 (max_connections_per_source 2)",
        "refused a TCP connection from 127.0.0.3 at accept: 4 connections open "
        "(max_connections 4)"]


@pytest_twisted.ensureDeferred
async def test_at_the_cap_a_phone_gets_the_place_of_a_silent_connection(policed, kit):
    policy = ConnectionPolicy(max_connections=3, first_message_timeout=60)
    registrar, address = policed.registrar("TCP", policy)
    phone = await kit.connect(address)
    assert (await phone.ask(kit.request("REGISTER", phone))).status == 200
    silent = [await kit.connect(address, source="127.0.0.2") for _ in range(2)]
    late = await kit.connect(address, source="127.0.0.3")
    assert (await late.ask(kit.request("REGISTER", late, user="bob"))).status == 200
    await silent[0].closed()  # the oldest silent one made room
    assert "its place was taken by a new connection" in kit.closes(registrar)[0]
    assert not silent[1].lost.called and not phone.lost.called
    assert (await phone.ask(kit.request("OPTIONS", phone, cseq=2))).status == 200
