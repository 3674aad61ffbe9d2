"""The WebSocket upgrade of a policed listener (RFC 6455 §4, RFC 7118 §4.1) against
oversized and slow upgrade requests."""

from __future__ import annotations

import gc

import pytest_twisted
from autobahn.websocket.protocol import WebSocketProtocol

UPGRADE = (b"GET / HTTP/1.1\r\nHost: sip.example.com\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n")


def padded(size: int) -> bytes:
    """An upgrade request whose headers are ``size`` bytes longer than a normal one's."""
    lines = b"".join(b"X-Padding-%d: %s\r\n" % (i, b"a" * 1000) for i in range(size // 1017))
    return UPGRADE + lines + b"\r\n"


def servers_alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects()
               if isinstance(o, WebSocketProtocol) and getattr(o.factory, "isServer", False))


@pytest_twisted.ensureDeferred
async def test_upgrade_headers_over_the_limit_get_431(policed, kit):
    registrar, address = policed.registrar("WS")
    peer = await kit.connect(address, frame=False)
    peer.transport.write(padded(9 * 1024))  # just past 8 KiB
    await peer.closed()
    assert peer.received.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    note = [e.summary for e in registrar.trace.events if e.kind == "note"][-1]
    assert note.startswith("refused the WebSocket upgrade with HTTP 431: request line and "
                           "headers over 8192 bytes")


@pytest_twisted.ensureDeferred
async def test_a_mebibyte_of_upgrade_headers_is_refused_and_nothing_is_kept(policed, kit):
    registrar, address = policed.registrar("WS")
    before = servers_alive()
    peer = await kit.connect(address, frame=False)
    peer.transport.write(padded(1024 * 1024))
    await peer.closed()
    # The server read past its limit, answered 431 and closed with the rest unread
    # (which may turn its close into a reset before the answer is read: no 101 anyway).
    assert b"101" not in peer.received.split(b"\r\n", 1)[0]
    assert peer.received in (b"",) or peer.received.startswith(b"HTTP/1.1 431 ")
    assert any("HTTP 431" in e.summary for e in registrar.trace.events if e.kind == "note")
    assert servers_alive() == before  # the connection's protocol and buffer are gone


@pytest_twisted.ensureDeferred
async def test_a_slow_upgrade_is_timed_out(policed, kit):
    registrar, address = policed.registrar("WS")
    peer = await kit.connect(address, frame=False)
    peer.transport.write(UPGRADE)  # and never the blank line
    await peer.closed()
    assert b"101" not in peer.received
    port = peer.port
    assert kit.closes(registrar) == [
        f"closed WS connection from 127.0.0.1:{port}: no WebSocket upgrade within 0.3 s: "
        f"connection policy: handshake_timeout"]


@pytest_twisted.ensureDeferred
async def test_an_upgraded_connection_that_stays_silent_is_closed(policed, kit):
    registrar, address = policed.registrar("WS")
    peer = await kit.connect(address, frame=False)
    peer.transport.write(UPGRADE + b"\r\n")
    await peer.closed()
    assert peer.received.startswith(b"HTTP/1.1 101 ")
    assert "no SIP message within 0.3 s" in kit.closes(registrar)[0]
