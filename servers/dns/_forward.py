"""Forwarding: relaying queries to a real DNS server and its answers back, unchanged.

:class:`Forwarder` is what :class:`~servers.dns.DnsServer` uses in forwarding mode
(``DnsServer([], reactor, forward=("127.0.0.1", 5353))``): every query that no zone of
its own covers and no fault stops is relayed, over the transport it came on, and the
upstream's answer goes back byte for byte.

- UDP: each relayed query gets a socket of its own, connected to the upstream (an
  ephemeral port, like a NAT mapping), so the answer keeps the client's ID and nothing
  is rewritten; the first answer with that ID is passed back and the socket closes.
  An ICMP port unreachable from the upstream, or no answer within ``timeout``, closes it
  too: the client gets no answer (it would have got none from the upstream either; a
  relay cannot forward ICMP) and the log says which.
- TCP: each relayed query gets a connection of its own (RFC 1035 §4.2.2 framing both
  ways), closed after its answer; answers may come back out of order on the client's
  connection, as RFC 7766 §6.2.1.1 allows.

State is bounded: at most ``max_pending`` queries are in flight (beyond that a query
is not relayed and the caller answers SERVFAIL), each for at most ``timeout`` seconds
with one socket or connection. With a ``capture`` the upstream leg is recorded for the
pcap, as the server's own sockets record the client's.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from typing import Any, cast

from twisted.internet import protocol, udp
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import (
    IAddress,
    IConnector,
    IDelayedCall,
    IListeningPort,
    IReactorTime,
    ITCPTransport,
)
from twisted.python.failure import Failure

from servers.loopback import source_for
from testbed.reactor import IReactor
from testbed.sip import fmt_hostport
from testbed.transport import Capture

Answered = Callable[[bytes | None, str], None]
"""``answered(payload, note)``: the upstream's answer (None: none came) and what happened."""

DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_PENDING = 256


def hostport(address: IAddress) -> tuple[str, int]:
    """``(host, port)`` of a socket address (Twisted's ``IPv4Address``/``IPv6Address``)."""
    assert isinstance(address, IPv4Address | IPv6Address), address
    return (address.host, address.port)


class Forwarder:
    """Relays DNS messages to ``upstream`` (``(host, port)``) for one server address.

    ``reactor`` opens the sockets; ``clock`` (default ``reactor``) times the waits.
    """

    def __init__(self, reactor: IReactor, upstream: tuple[str, int], *, listen_host: str,
                 timeout: float = DEFAULT_TIMEOUT, max_pending: int = DEFAULT_MAX_PENDING,
                 capture: Capture | None = None, clock: IReactorTime | None = None) -> None:
        self.reactor = reactor
        self.clock: IReactorTime = clock if clock is not None else reactor
        self.upstream = upstream
        self.bind_host = source_for(listen_host, upstream[0])
        self.timeout = timeout
        self.max_pending = max_pending
        self.capture = capture
        self.pending: set[_Pending] = set()

    @property
    def where(self) -> str:
        return fmt_hostport(self.upstream)

    def relay(self, query: bytes, transport: str, answered: Answered) -> bool:
        """Relay ``query`` over ``transport`` (``udp`` or ``tcp``); ``answered`` is called
        exactly once. False (and no call) when too many queries are in flight."""
        if len(self.pending) >= self.max_pending:
            return False
        pending: _Pending = (_UdpQuery(self, query, answered) if transport == "udp"
                             else _TcpQuery(self, query, answered))
        self.pending.add(pending)
        pending.start()
        return True

    def stop(self) -> None:
        """Drop every query in flight without answering it."""
        for pending in list(self.pending):
            pending.finish(None, "not answered: the server stopped", notify=False)


class _Pending:
    """One relayed query: its timeout, and the single call of ``answered``."""

    def __init__(self, forwarder: Forwarder, query: bytes, answered: Answered) -> None:
        self.forwarder = forwarder
        self.query = query
        self.answered = answered
        self.done = False
        self.timer: IDelayedCall | None = None

    def start(self) -> None:
        forwarder = self.forwarder
        self.timer = forwarder.clock.callLater(
            forwarder.timeout, self.finish, None,
            f"no answer from {forwarder.where} in {forwarder.timeout:g} s")
        self.send()

    def send(self) -> None:
        raise NotImplementedError  # pragma: no cover

    def close(self) -> None:
        raise NotImplementedError  # pragma: no cover

    def finish(self, payload: bytes | None, note: str, *, notify: bool = True) -> None:
        if self.done:
            return
        self.done = True
        self.forwarder.pending.discard(self)
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.close()
        if notify:
            self.answered(payload, note)


class _UdpQuery(_Pending, protocol.DatagramProtocol):
    port: IListeningPort | None = None

    def send(self) -> None:
        forwarder = self.forwarder
        try:
            self.port = forwarder.reactor.listenUDP(0, self, interface=forwarder.bind_host,
                                                    maxPacketSize=65535)
        except OSError as exc:  # CannotListenError is one
            self.finish(None, f"cannot open a socket to relay: {exc}")

    def startProtocol(self) -> None:
        assert self.transport is not None
        self.transport.connect(*self.forwarder.upstream)  # ICMP errors come back to us
        self.transport.write(self.query, self.forwarder.upstream)
        self._captured(self.query, sent=True)

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        if datagram[:2] != self.query[:2]:  # not the answer to this query's ID
            return
        self._captured(datagram, sent=False)
        self.finish(datagram, f"relayed to {self.forwarder.where} over UDP")

    def connectionRefused(self) -> None:
        self.finish(None, f"not answered: {self.forwarder.where} refused it (ICMP port "
                          "unreachable)")

    def stopProtocol(self) -> None:
        """Twisted's epoll reactor takes an ICMP error on a connected UDP socket for a
        lost connection and stops the port: read the error while the socket is open."""
        if self.done or self.port is None:
            return
        # listenUDP's port is a udp.Port, whose socket is still open here.
        handle = cast(socket.socket, cast(udp.Port, self.port).getHandle())
        code = handle.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self.port = None  # stopped already
        if code == errno.ECONNREFUSED:
            return self.connectionRefused()
        self.finish(None, f"not answered: the socket to {self.forwarder.where} failed "
                          f"({os.strerror(code) if code else 'closed'})")

    def _captured(self, data: bytes, *, sent: bool) -> None:
        capture = self.forwarder.capture
        if capture is None or self.transport is None:
            return
        local = hostport(self.transport.getHost())
        upstream = self.forwarder.upstream
        src, dst = (local, upstream) if sent else (upstream, local)
        capture.datagram(src, dst, data, sent=sent)

    def close(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            port.stopListening()


class _TcpQuery(_Pending):
    connector: IConnector | None = None
    stream: _Stream | None = None

    def send(self) -> None:
        forwarder = self.forwarder
        factory: protocol.Factory[Any] = _StreamFactory(self)
        if forwarder.capture is not None:
            factory = forwarder.capture.wrap_factory(factory, "client")
        host, port = forwarder.upstream
        self.connector = forwarder.reactor.connectTCP(
            host, port, cast(protocol.ClientFactory, factory), timeout=forwarder.timeout,
            bindAddress=(forwarder.bind_host, 0))

    def close(self) -> None:
        if self.stream is not None and self.stream.transport is not None:
            cast(ITCPTransport, self.stream.transport).abortConnection()
        elif self.connector is not None and getattr(self.connector, "state", "") == "connecting":
            self.connector.stopConnecting()


class _Stream(protocol.Protocol):
    """RFC 1035 §4.2.2: the query behind its two-byte length; one answer back."""

    def __init__(self, query: _TcpQuery) -> None:
        self.query = query
        self.buffer = b""

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.query.stream = self
        self.transport.write(len(self.query.query).to_bytes(2, "big") + self.query.query)

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) < 2:
            return
        size = int.from_bytes(self.buffer[:2], "big")
        if len(self.buffer) >= 2 + size:
            answer = self.buffer[2:2 + size]
            self.query.finish(answer, f"relayed to {self.query.forwarder.where} over TCP")

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.query.stream = None
        self.query.finish(None, f"not answered: {self.query.forwarder.where} closed the "
                                "TCP connection without an answer")


class _StreamFactory(protocol.ClientFactory):
    def __init__(self, query: _TcpQuery) -> None:
        self.query = query

    def buildProtocol(self, addr: Any) -> _Stream:
        return _Stream(self.query)

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        self.query.connector = None
        self.query.finish(None, f"not answered: cannot connect to "
                                f"{self.query.forwarder.where} over TCP "
                                f"({reason.getErrorMessage()})")

