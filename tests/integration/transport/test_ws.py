"""SIP over WebSocket (RFC 7118) on loopback: WSS and WS flows, keep-alives, bad input,
and every way the upgrade can fail."""

from __future__ import annotations

import random
from collections import deque

import pytest
import pytest_twisted
import trustme
from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

from testbed.sip import Address, Request, SipUri, Via, new_branch
from testbed.transport import (
    ConnectFailed,
    PemCredential,
    ServerContext,
    SipStack,
    TrustConfig,
    WsFlow,
    client_tls_options,
    server_tls_options,
)

DOMAIN = "sip.example.test"
WAIT = 5.0  # seconds: a bound on every wait, so that a broken transport fails, not hangs


# -- test doubles and helpers ------------------------------------------------------------


class _Queue:
    """Items in arrival order; ``get()`` is a Deferred of the next one."""

    def __init__(self) -> None:
        self.items: list = []
        self._unread: deque = deque()
        self._waiting: deque[defer.Deferred] = deque()

    def put(self, item: object) -> None:
        self.items.append(item)
        if self._waiting:
            self._waiting.popleft().callback(item)
        else:
            self._unread.append(item)

    def get(self) -> defer.Deferred:
        if self._unread:
            return defer.succeed(self._unread.popleft())
        waiter: defer.Deferred = defer.Deferred()
        self._waiting.append(waiter)
        return waiter.addTimeout(WAIT, reactor)


class RecordingUser:
    """A TransactionUser that answers every request with 200 and records what it saw."""

    def __init__(self) -> None:
        self.requests = _Queue()  # ServerContext
        self.stray = _Queue()  # Response
        self.closed: dict[int, defer.Deferred] = {}
        self.close_reasons: dict[int, str] = {}

    def request_received(self, context: ServerContext) -> None:
        context.respond(200)
        self.requests.put(context)

    def ack_received(self, ack: Request, flow: object) -> None:
        pass

    def stray_response(self, response: object, flow: object) -> None:
        self.stray.put(response)

    def flow_closed(self, flow: object, reason: str) -> None:
        self.close_reasons[id(flow)] = reason
        self._closed(flow).callback(reason)

    def _closed(self, flow: object) -> defer.Deferred:
        return self.closed.setdefault(id(flow), defer.Deferred())

    def when_closed(self, flow: object) -> defer.Deferred:
        """Fires with the reason once the stack reported ``flow`` closed."""
        done = self._closed(flow)
        if done.called:
            return defer.succeed(self.close_reasons[id(flow)])
        waiter: defer.Deferred = defer.Deferred()
        done.addCallback(lambda reason: (waiter.callback(reason), reason)[1])
        return waiter.addTimeout(WAIT, reactor)


class Element:
    """A stack with its recording user."""

    def __init__(self, name: str) -> None:
        self.user = RecordingUser()
        self.stack = SipStack(reactor, self.user, name=name, connect_timeout=5.0)

    def events(self, kind: str, transport: str | None = None) -> list:
        return [e for e in self.stack.trace.of_kind(kind)
                if transport is None or e.transport == transport]


async def stop(*elements: Element) -> None:
    """Stop every stack, then wait until each of their flows is reported closed."""
    flows = [(element, flow) for element in elements for flow in element.stack.flows.values()
             if flow.transport != "UDP"]
    for element in elements:
        await element.stack.stop()
    for element, flow in flows:
        await element.user.when_closed(flow)


@pytest.fixture(scope="module")
def pki():
    ca = trustme.CA()
    cert = ca.issue_cert(DOMAIN)
    server = server_tls_options(PemCredential(
        cert_chain_pem=b"".join(blob.bytes() for blob in cert.cert_chain_pems),
        private_key_pem=cert.private_key_pem.bytes()))
    return ca, server


def client_creator(ca: trustme.CA):
    return client_tls_options(DOMAIN, TrustConfig.from_ca_pem(ca.cert_pem.bytes()))


def options(target: tuple[str, int], transport: str, rng: random.Random, seq: int = 1) -> Request:
    """An OPTIONS request whose Via names ``transport`` (RFC 7118 §5.1)."""
    tag = str(rng.randrange(10**8))
    via = Via(transport, "df7jal23ls0d.invalid", None,
              (("branch", new_branch(rng)), ("rport", None)))
    return Request("OPTIONS", SipUri(host=target[0], port=target[1]), [
        ("Via", via),
        ("Max-Forwards", 70),
        ("From", Address(SipUri(host=DOMAIN, user="alice")).with_param("tag", tag)),
        ("To", Address(SipUri(host=DOMAIN, user="bob"))),
        ("Call-ID", f"{rng.randrange(10**12)}@{DOMAIN}"),
        ("CSeq", f"{seq} OPTIONS"),
        ("Content-Length", 0),
    ])


def frame_details(element: Element, transport: str) -> list[str]:
    return [e.detail for e in element.events("received", transport)]


# -- SIP over WSS and WS -------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_options_over_wss_both_ways_one_text_frame_per_message(pki):
    ca, server_tls = pki
    rng = random.Random(7118)
    server, client = Element("server"), Element("client")
    try:
        address = server.stack.listen_ws("127.0.0.1", 0, tls_options=server_tls, path="/ws")
        flow = await client.stack.connect("WSS", *address, tls_creator=client_creator(ca),
                                          ws_path="/ws", server_name=DOMAIN)
        assert isinstance(flow, WsFlow)
        assert (flow.transport, flow.subprotocol, flow.reliable) == ("WSS", "sip", True)
        assert client.stack.existing_flow("WSS", *address) is flow

        response = await client.stack.send_request(options(address, "WSS", rng), flow)
        assert response.status == 200
        context = await server.user.requests.get()
        assert context.request.top_via.transport == "WSS"
        assert context.flow.transport == "WSS" and context.flow.remote == flow.local

        # The server originates a request over the same connection (inbound OPTIONS).
        inbound = options(flow.local, "WSS", rng)
        back = await server.stack.send_request(inbound, context.flow)
        assert back.status == 200
        reached = await client.user.requests.get()
        assert reached.flow is flow and reached.request.call_id == inbound.call_id

        # RFC 7118 §5: each message was one WebSocket message in one text frame.
        assert frame_details(server, "WSS") == ["1 text frame", "1 text frame"]
        assert frame_details(client, "WSS") == ["1 text frame", "1 text frame"]
        assert [e.kind for e in client.stack.trace.events if e.transport == "WSS"][:2] == [
            "connecting", "connected"]
    finally:
        await stop(client, server)


@pytest_twisted.ensureDeferred
async def test_plain_ws_without_tls():
    rng = random.Random(1)
    server, client = Element("server"), Element("client")
    try:
        address = server.stack.listen_ws("127.0.0.1", 0)
        flow = await client.stack.connect("WS", *address)
        assert (flow.transport, flow.path) == ("WS", "/")
        response = await client.stack.send_request(options(address, "WS", rng), flow)
        assert response.status == 200
        context = await server.user.requests.get()
        assert context.request.top_via.transport == "WS"
        assert frame_details(server, "WS") == ["1 text frame"]
    finally:
        await stop(client, server)


@pytest_twisted.ensureDeferred
async def test_keepalive_ping_frames_report_pongs(pki):
    ca, server_tls = pki
    server, client = Element("server"), Element("client")
    try:
        address = server.stack.listen_ws("127.0.0.1", 0, tls_options=server_tls)
        flow = await client.stack.connect("WSS", *address, tls_creator=client_creator(ca))
        pong: defer.Deferred = defer.Deferred()
        client.stack.on_pong.append(pong.callback)
        flow.send_keepalive()
        assert await pong.addTimeout(WAIT, reactor) is flow
        assert [e.summary for e in client.events("keepalive-sent")] == ["WebSocket ping"]
        assert [e.summary for e in client.events("keepalive-received")] == ["WebSocket pong"]
        assert [e.summary for e in server.events("keepalive-received")] == [
            "WebSocket ping (answered)"]

        # RFC 5626 CRLF keep-alives inside frames are answered too (RFC 7118 §6).
        crlf_pong: defer.Deferred = defer.Deferred()
        client.stack.on_pong[:] = [crlf_pong.callback]
        flow.write(b"\r\n\r\n")
        assert await crlf_pong.addTimeout(WAIT, reactor) is flow
        assert client.events("keepalive-received")[-1].summary == "CRLF pong"
    finally:
        await stop(client, server)


@pytest_twisted.ensureDeferred
async def test_malformed_frame_gets_400_and_the_server_keeps_serving(pki):
    ca, server_tls = pki
    rng = random.Random(400)
    server, client = Element("server"), Element("client")
    try:
        address = server.stack.listen_ws("127.0.0.1", 0, tls_options=server_tls)
        flow = await client.stack.connect("WSS", *address, tls_creator=client_creator(ca))
        # Content-Length beyond the frame: unparseable (RFC 3261 §18.3), still answerable.
        bad = options(address, "WSS", rng).to_bytes().replace(b"Content-Length: 0",
                                                               b"Content-Length: 50")
        flow.write(bad)
        answer = await client.user.stray.get()
        assert answer.status == 400
        assert server.events("bad-message", "WSS")[0].data == bad

        response = await client.stack.send_request(options(address, "WSS", rng, 2), flow)
        assert response.status == 200
        assert not flow.closed
    finally:
        await stop(client, server)


@pytest_twisted.ensureDeferred
async def test_binary_frames_are_accepted_and_used_for_non_utf8_messages():
    rng = random.Random(42)
    server, client = Element("server"), Element("client")
    try:
        address = server.stack.listen_ws("127.0.0.1", 0)
        flow = await client.stack.connect("WS", *address)
        # RFC 7118 §4.2: a message with a non-UTF-8 byte goes in a binary frame...
        request = options(address, "WS", rng)
        request.headers.set("Content-Type", "application/octet-stream")
        request.headers.set("Content-Length", 2)
        request.body = b"\xff\xfe"
        response = await client.stack.send_request(request, flow)
        assert response.status == 200
        # ...and a peer may send anything in binary frames: they are accepted.
        flow.proto.sendMessage(options(address, "WS", rng, 2).to_bytes(), isBinary=True)
        await server.user.requests.get()
        second = await server.user.requests.get()
        assert second.request.cseq.seq == 2
        assert (await client.user.stray.get()).status == 200  # no transaction: stray
        assert frame_details(server, "WS") == ["1 binary frame", "1 binary frame"]
        assert frame_details(client, "WS") == ["1 text frame", "1 text frame"]
    finally:
        await stop(client, server)


@pytest_twisted.ensureDeferred
async def test_closing_a_flow_reports_it_on_both_sides(pki):
    ca, server_tls = pki
    server, client = Element("server"), Element("client")
    try:
        address = server.stack.listen_ws("127.0.0.1", 0, tls_options=server_tls)
        flow = await client.stack.connect("WSS", *address, tls_creator=client_creator(ca))
        (server_flow,) = server.stack.flows.values()
        flow.close()
        assert "closed by us (code 1000" in await client.user.when_closed(flow)
        assert "closed by peer (code 1000" in await server.user.when_closed(server_flow)
        assert flow.closed and server_flow.closed
        assert client.stack.existing_flow("WSS", *address) is None
        with pytest.raises(ConnectionError):
            flow.send_message(options(address, "WSS", random.Random(2)))
    finally:
        await stop(client, server)


# -- failing upgrades (RFC 6455 §4.1, RFC 7118 §4.1) ------------------------------------


@pytest.mark.parametrize(("behaviour", "server_path", "client_path", "expected"), [
    ("not-found", "/", "/", "HTTP 404 Not Found on GET /: no WebSocket service there"),
    ("normal", "/ws", "/wrong", "HTTP 404 Not Found on GET /wrong: no WebSocket service there"),
    ("upgrade-required", "/", "/", "HTTP 426 Upgrade Required on GET /"),
    ("no-websocket", "/", "/", "HTTP 200 OK on GET /: a plain web server answered"),
    ("no-subprotocol", "/", "/", "without the 'sip' subprotocol (RFC 7118 §4.1"),
])
@pytest_twisted.ensureDeferred
async def test_failed_upgrade_is_a_websocket_connect_failure(pki, behaviour, server_path,
                                                             client_path, expected):
    ca, server_tls = pki
    server, client = Element("server"), Element("client")
    try:
        address = server.stack.listen_ws("127.0.0.1", 0, tls_options=server_tls,
                                         path=server_path, behaviour=behaviour)
        with pytest.raises(ConnectFailed) as failed:
            await client.stack.connect("WSS", *address, tls_creator=client_creator(ca),
                                       ws_path=client_path, server_name=DOMAIN)
        assert failed.value.kind == "websocket"
        assert expected in failed.value.reason
        (event,) = client.events("connect-failed", "WSS")
        assert event.summary == failed.value.reason and event.detail == "websocket"
        assert client.stack.flows == {}
        assert server.events("note", "WSS"), "the server records what it answered"
    finally:
        await stop(client, server)


class _RawHttp(protocol.Protocol):
    """Sends one request and collects the answer's head."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.head: defer.Deferred = defer.Deferred()
        self.data = b""

    def connectionMade(self) -> None:
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        if b"\r\n\r\n" in self.data and not self.head.called:
            self.head.callback(self.data.split(b"\r\n\r\n")[0].decode())

    def connectionLost(self, reason: object = None) -> None:
        if not self.head.called:
            self.head.callback(self.data.decode())


@pytest_twisted.ensureDeferred
async def test_server_refuses_a_client_that_does_not_offer_sip():
    server = Element("server")
    try:
        host, port = server.stack.listen_ws("127.0.0.1", 0)
        client = _RawHttp(
            b"GET / HTTP/1.1\r\nHost: " + f"{host}:{port}".encode() + b"\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Protocol: chat\r\n\r\n")
        proto = await connectProtocol(TCP4ClientEndpoint(reactor, host, port), client)
        head = await client.head.addTimeout(WAIT, reactor)
        proto.transport.loseConnection()
        status, *headers = head.split("\r\n")
        assert status.startswith("HTTP/1.1 400 ")
        assert "Server: sip-transport-testbed" in "\n".join(headers)
        assert "RFC 7118 §4.1" in server.events("note", "WS")[-1].summary
    finally:
        await stop(server)


@pytest_twisted.ensureDeferred
async def test_untrusted_certificate_is_a_tls_connect_failure(pki):
    _, server_tls = pki
    server, client = Element("server"), Element("client")
    try:
        address = server.stack.listen_ws("127.0.0.1", 0, tls_options=server_tls)
        with pytest.raises(ConnectFailed) as failed:
            await client.stack.connect("WSS", *address,
                                       tls_creator=client_creator(trustme.CA()),
                                       server_name=DOMAIN)
        assert failed.value.kind == "tls"
        assert failed.value.tls_failure is not None
        assert failed.value.tls_failure.kind == "untrusted-ca"
        assert client.events("tls-failed", "WSS")
    finally:
        await stop(client, server)


@pytest_twisted.ensureDeferred
async def test_nothing_listening_is_refused():
    client = Element("client")
    port = reactor.listenTCP(0, protocol.Factory(), interface="127.0.0.1")
    number = port.getHost().port
    await port.stopListening()
    try:
        with pytest.raises(ConnectFailed) as failed:
            await client.stack.connect("WS", "127.0.0.1", number, ws_path="/")
        assert failed.value.kind == "refused"
    finally:
        await stop(client)


@pytest_twisted.ensureDeferred
async def test_no_answer_to_the_upgrade_is_a_timeout():
    client = Element("client")
    client.stack.connect_timeout = 0.3
    silent = reactor.listenTCP(0, protocol.Factory.forProtocol(protocol.Protocol),
                               interface="127.0.0.1")
    try:
        with pytest.raises(ConnectFailed) as failed:
            await client.stack.connect("WS", "127.0.0.1", silent.getHost().port)
        assert failed.value.kind == "timeout"
        assert "no answer to the WebSocket upgrade (GET /)" in failed.value.reason
    finally:
        await silent.stopListening()
        await stop(client)


def test_unknown_behaviour_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="no-subprotocol"):
        Element("server").stack.listen_ws("127.0.0.1", 0, behaviour="teapot")
