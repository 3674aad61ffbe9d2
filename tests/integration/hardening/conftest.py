"""Hostile peers against a policed registrar: real sockets on loopback, the real reactor.

Policies here are short (tenths of a second) so that every deadline passes quickly;
tests wait on what the peer sees (its connection lost, an answer), never on a clock.
"""

from __future__ import annotations

import random

import pytest
import pytest_twisted
from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol, wrapClientTLS
from twisted.internet.interfaces import IHandshakeListener
from twisted.python.failure import Failure
from zope.interface import implementer

from servers.registrar import Registrar, RegistrarConfig
from testbed.sip import (
    Address,
    Message,
    Request,
    Response,
    SipUri,
    StreamFramer,
    Timers,
    Transport,
    Via,
    new_branch,
)
from testbed.transport import ConnectionPolicy, TrustConfig, client_tls_options

WAIT = 10.0  # seconds: a bound on every wait, so that a broken policy fails, not hangs
FAST = Timers(t1=0.02, t2=0.16, t4=0.2)
DOMAIN = "sip.example.com"  # the integration PKI's name (tests/integration/conftest.py)
SHORT = ConnectionPolicy(handshake_timeout=0.3, first_message_timeout=0.3,
                         message_timeout=0.3, idle_timeout=0.6)


@implementer(IHandshakeListener)
class Peer(protocol.Protocol):
    """A raw peer: writes what it is told, frames what comes back with the one framer."""

    def __init__(self, frame: bool = True) -> None:
        self.port = 0  # the local port (kept: unreadable once closed)
        self.received = b""
        self.framer = StreamFramer(role="client") if frame else None
        self.messages: defer.DeferredQueue[Message] = defer.DeferredQueue()
        self.lost: defer.Deferred[BaseException] = defer.Deferred()
        self.handshake: defer.Deferred[None] = defer.Deferred()

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.port = self.transport.getHost().port

    def handshakeCompleted(self) -> None:  # IHandshakeListener, over TLS
        self.handshake.callback(None)

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if self.framer is None:  # not SIP (an HTTP upgrade): only kept
            return
        for event in self.framer.events(data):
            if isinstance(event, Message):
                self.messages.put(event)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if not self.lost.called:
            self.lost.callback(reason.value)  # the exception: a result, not an error

    def closed(self) -> defer.Deferred[BaseException]:
        """Fires once the server (or anyone) closed the connection."""
        return self.lost.addTimeout(WAIT, reactor)

    async def ask(self, request: Request) -> Response:
        """Send ``request``; the next message back (its final answer)."""
        assert self.transport is not None
        self.transport.write(request.to_bytes())
        while True:
            message = await self.messages.get().addTimeout(WAIT, reactor)
            if isinstance(message, Response) and message.status >= 200:
                return message


async def connect(address: tuple[str, int], *, source: str = "127.0.0.1",
                  tls_ca: bytes | None = None, frame: bool = True) -> Peer:
    """A raw peer connected from ``source`` (TLS over it when ``tls_ca`` is given);
    ``frame``: read what comes back as SIP."""
    endpoint = TCP4ClientEndpoint(reactor, address[0], address[1], timeout=WAIT,
                                  bindAddress=(source, 0))
    if tls_ca is not None:
        creator = client_tls_options(DOMAIN, TrustConfig.from_ca_pem(tls_ca))
        endpoint = wrapClientTLS(creator, endpoint)
    peer = Peer(frame)
    await connectProtocol(endpoint, peer).addTimeout(WAIT, reactor)
    return peer


RNG = random.Random(5626)


def request(method: str, peer: Peer, *, user: str = "alice", expires: int | None = None,
            cseq: int = 1) -> Request:
    """``method`` from ``peer``'s address (REGISTER: its contact, for ``expires``)."""
    assert peer.transport is not None
    host, port = peer.transport.getHost().host, peer.transport.getHost().port
    aor = Address(SipUri(host="example.com", user=user))
    headers: list[tuple[str, object]] = [
        ("Via", Via(Transport.TCP, host, port, (("branch", new_branch(RNG)),))),
        ("Max-Forwards", 70), ("From", aor.with_param("tag", f"{port}")), ("To", aor),
        ("Call-ID", f"{user}-{port}@{host}"), ("CSeq", f"{cseq} {method}")]
    if method == "REGISTER":
        headers += [("Contact", f"<sip:{user}@{host}:{port};transport=tcp>"),
                    ("Expires", 60 if expires is None else expires)]
    return Request(method, SipUri(host="example.com"), headers)


class Policed:
    """Registrars under a policy, stopped after the test."""

    def __init__(self) -> None:
        self.started: list[Registrar] = []

    def registrar(self, transport: str, policy: ConnectionPolicy = SHORT, *,
                  tls_options: object = None) -> tuple[Registrar, tuple[str, int]]:
        registrar = Registrar(reactor, RegistrarConfig(), timers=FAST)
        registrar.stack.policy = policy
        self.started.append(registrar)
        bound = registrar.listen(transport, "127.0.0.1", 0,
                                 tls_options=tls_options)  # type: ignore[arg-type]
        return registrar, bound


@pytest.fixture
def policed():
    registrars = Policed()
    yield registrars
    for registrar in registrars.started:
        pytest_twisted.blockon(registrar.stop())


def closes(registrar: Registrar) -> list[str]:
    """The registrar's trace lines of closed connections, with their reasons."""
    return [f"{e.summary}: {e.detail}" for e in registrar.trace.events if e.kind == "closed"]


class Toolkit:
    """What the tests of this folder share (conftest modules are not importable)."""

    WAIT = WAIT
    SHORT = SHORT
    Peer = Peer
    connect = staticmethod(connect)
    request = staticmethod(request)
    closes = staticmethod(closes)


@pytest.fixture
def kit() -> type[Toolkit]:
    return Toolkit
