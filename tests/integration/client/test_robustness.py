"""Bad input never stops a server: garbage gets 400 (or is dropped), a stalled TCP peer
blocks nobody, and keep-alives get their pongs."""

import socket

import pytest_twisted
from twisted.internet import protocol, reactor
from twisted.internet.defer import Deferred

from testbed.sip import parse_message


class RawPeer(protocol.Protocol):
    """A misbehaving TCP peer: writes what it is given, collects what comes back."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.received = b""
        self.closed: Deferred = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.payload)

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason=None) -> None:
        self.closed.callback(self.received)


async def raw_tcp(host, port, payload):
    peer = RawPeer(payload)
    await protocol.ClientCreator(reactor, lambda: peer).connectTCP(host, port)
    return peer


@pytest_twisted.ensureDeferred
async def test_tcp_garbage_and_stalled_peers_do_not_block_a_real_client(servers, agents):
    registrar, bound = servers.registrar({"TCP": 0}, users={"alice": "secret"})
    host, port = bound["TCP"]
    # 1. no Content-Length on a stream: 400, then the server closes that connection
    garbage = await raw_tcp(host, port, b"REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
                                        b"From: <sip:a@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: c\r\n"
                                        b"CSeq: 1 REGISTER\r\n\r\n")
    answer = await garbage.closed.addTimeout(5, reactor)
    assert parse_message(answer).status == 400
    assert b"Missing Content-Length" in answer
    # 2. a peer that sends half a message and stalls
    stalled = await raw_tcp(host, port, b"REGISTER sip:x SIP/2.0\r\nContent-Length: 500\r\n\r\nabc")
    # 3. a real client still registers
    agent = agents.agent(f"sip:{host}:{port}", "tcp")
    outcome = await agent.register()
    assert outcome.ok, outcome.summary
    stalled.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_udp_garbage_gets_400_and_the_server_keeps_serving(servers, agents):
    registrar, bound = servers.registrar({"UDP": 0})
    host, port = bound["UDP"]
    bad = (b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKq\r\n"
           b"From: <sip:a@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(bad, (host, port))
        sock.sendto(b"\x00\xff garbage \r\n\r\n", (host, port))
        event = await registrar.trace.wait_for(
            lambda e: e.kind == "sent" and e.summary.startswith("400")).addTimeout(5, reactor)
        assert "does not match" in event.summary
        sock.settimeout(5)
        reply, _ = sock.recvfrom(4096)
    assert parse_message(reply).status == 400
    await registrar.trace.wait_for(
        lambda e: e.kind == "bad-message" and b"garbage" in e.data).addTimeout(5, reactor)
    outcome = await agents.agent(f"sip:{host}:{port}", "udp", password=None).register()
    assert outcome.ok


@pytest_twisted.ensureDeferred
async def test_crlf_keepalives_get_pongs_on_tcp(servers, agents):
    registrar, bound = servers.registrar({"TCP": 0})
    host, port = bound["TCP"]
    agent = agents.agent(f"sip:{host}:{port}", "tcp", password=None)
    assert (await agent.register()).ok
    agent.start_keepalives(0.05)
    pong = await agent.trace.wait_for(
        lambda e: e.kind == "keepalive-received" and e.summary == "CRLF pong").addTimeout(5, reactor)
    assert pong.transport == "TCP"
    assert registrar.trace.of_kind("keepalive-received")[0].summary == "CRLFCRLF ping (answered)"
