"""The TCP relay: each client connection is carried on a connection of the proxy's own.

The proxy accepts the client's connection, connects to the server from an ephemeral
port of the proxy's address (what the server sees, like a NAT's external port) and
copies bytes both ways, judged chunk by chunk by the :class:`Pipeline` (latency keeps
the order of each direction; so does the close, which follows the last delayed chunk).
TLS, WS and WSS ride through unchanged: the proxy never looks inside the bytes.

A ``nat`` fault gives each proxied connection an idle timeout. When it expires the
proxy keeps both connections open and silently stops forwarding in both directions,
closes included: that is what a NAT that forgot the mapping does (it drops the packets
of a connection it no longer knows; with no RST, neither end learns of it until a
request times out). A new connection from the client is a new mapping. RFC 5382 §5
asks a NAT to keep an established TCP mapping idle for 2 hours 4 minutes at least; this
fault reproduces the NATs and firewalls that do not.

A userland proxy cannot refuse a connection it has already accepted: if the server
refuses the proxy, the client sees its accepted connection reset (logged ``rejected``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, cast

from twisted.internet import defer, protocol
from twisted.internet.interfaces import (
    IAddress,
    IConnector,
    IListeningPort,
    IReactorTCP,
    IReactorTime,
    ITCPTransport,
)
from twisted.python.failure import Failure

from testbed.sip import Transport
from testbed.transport import Capture, Trace

from ._log import FaultLog, HostPort
from ._policy import TO_CLIENT, TO_SERVER, Binding, NatTable, Pipeline
from ._relay import Packet, Relay, hostport

UPSTREAM_CONNECT_TIMEOUT = 5.0


def _stream(side: protocol.Protocol) -> ITCPTransport:
    """The TCP transport of a connected protocol (``makeConnection`` has set it)."""
    assert side.transport is not None
    # Twisted types Protocol.transport as ITransport; on a TCP connection it is the
    # ITCPTransport that can also abort.
    return cast(ITCPTransport, side.transport)


class _ClientSide(protocol.Protocol):
    def __init__(self, relay: TcpRelay) -> None:
        self.relay = relay

    def connectionMade(self) -> None:
        self.connection = self.relay.accepted(self)

    def dataReceived(self, data: bytes) -> None:
        self.connection.from_client(data)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.connection.client_lost()


class _ServerSide(protocol.Protocol):
    def __init__(self, connection: _Connection) -> None:
        self.connection = connection

    def connectionMade(self) -> None:
        self.connection.upstream_made(self)

    def dataReceived(self, data: bytes) -> None:
        self.connection.from_server(data)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.connection.server_lost()


class _ListenFactory(protocol.ServerFactory):
    def __init__(self, relay: TcpRelay) -> None:
        self.relay = relay

    def buildProtocol(self, addr: IAddress | None) -> _ClientSide:
        client = _ClientSide(self.relay)
        client.factory = self
        return client


class _UpstreamFactory(protocol.ClientFactory):
    def __init__(self, connection: _Connection) -> None:
        self.connection = connection

    def buildProtocol(self, addr: IAddress | None) -> _ServerSide:
        return _ServerSide(self.connection)

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        self.connection.upstream_failed(reason)


class _Connection:
    """One client connection and the proxy's connection that carries it."""

    def __init__(self, relay: TcpRelay, client: _ClientSide) -> None:
        self.relay = relay
        self.client = client
        self.client_address = hostport(_stream(client).getPeer())
        self.server: _ServerSide | None = None
        self.external: HostPort | None = None
        self.binding: Binding | None = None
        self.waiting: list[bytes] = []
        self.client_closed = False
        self.server_closed = False
        self.blackholed = False
        self.closed = False
        self.last = {TO_SERVER: 0.0, TO_CLIENT: 0.0}  # when the last chunk leaves, per direction
        # chunks held back, in order; ``None`` is a close that follows them
        self.queues: dict[str, deque[bytes | None]] = {TO_SERVER: deque(), TO_CLIENT: deque()}
        self.connector: IConnector | None = None

    # -- from the client ----------------------------------------------------------------

    def from_client(self, data: bytes) -> None:
        relay = self.relay
        now = relay.now()
        packet = Packet(TO_SERVER, len(data), self.client_address, relay.upstream,
                        relay.count(TO_SERVER))
        if self.blackholed:
            relay.note(now, relay.nat_name, "dropped", packet, detail=_FORGOTTEN)
            return
        if self.external is not None:
            relay.nat.outbound(self.client_address, now)
        self._judge(packet, data, now)
        relay.rearm()

    def client_lost(self) -> None:
        self.client_closed = True
        self._maybe_done()
        if self.server is None and self.connector is not None:
            self._stop_connecting()
            return
        if not self.blackholed:
            self._after_queue(TO_SERVER, self._close_server)

    def _maybe_done(self) -> None:
        """Once both sides are gone (or the server side never came), the relay forgets
        the connection: a relay left running holds only the open ones."""
        if self.client_closed and (self.server_closed or self.server is None):
            self.relay.finished(self)

    # -- from the server ----------------------------------------------------------------

    def upstream_made(self, server: _ServerSide) -> None:
        relay = self.relay
        self.server = server
        self.external = hostport(_stream(server).getHost())
        self.binding = relay.bind(self.client_address, self.external, relay.now())
        relay.connections_by_external[self.external] = self
        waiting, self.waiting = self.waiting, []
        for data in waiting:
            _stream(server).write(data)
            relay.traced("sent", self.external, data)
        if self.client_closed:
            self._after_queue(TO_SERVER, self._close_server)
        relay.rearm()

    def upstream_failed(self, reason: Failure) -> None:
        if self.client_closed or self.closed:
            return  # we gave up on it ourselves: the client left, or the fault stopped
        relay = self.relay
        relay.record(relay.now(), relay.name, "rejected", source=self.client_address,
                     destination=relay.upstream,
                     detail=f"cannot reach the server ({reason.getErrorMessage()}); the "
                            "client's connection is reset")
        _stream(self.client).abortConnection()

    def from_server(self, data: bytes) -> None:
        relay = self.relay
        relay.traced("received", self.external, data)
        now = relay.now()
        index = relay.count(TO_CLIENT)
        if self.blackholed or self.external is None \
                or relay.nat.inbound(self.external, now) is None:
            relay.note(now, relay.nat_name, "dropped",
                       Packet(TO_CLIENT, len(data), relay.upstream, self.external, index),
                       detail=_FORGOTTEN)
            return
        self._judge(Packet(TO_CLIENT, len(data), relay.upstream, self.client_address, index),
                    data, now)
        relay.rearm()

    def server_lost(self) -> None:
        self.server_closed = True
        self._maybe_done()
        if not self.blackholed:
            self._after_queue(TO_CLIENT, self._close_client)

    # -- forwarding ---------------------------------------------------------------------

    def _judge(self, packet: Packet, data: bytes, now: float) -> None:
        relay = self.relay
        direction = packet.direction
        verdict = relay.pipeline.judge(relay.transport, direction, packet.size)
        if verdict.dropped is not None:
            relay.note(now, verdict.by, "dropped", packet, detail=verdict.dropped)
            return
        # in order: never before the chunk ahead of it in this direction
        delay = verdict.delay + max(0.0, self.last[direction] - (now + verdict.delay))
        self.last[direction] = now + delay
        if delay > 0 or self.queues[direction]:
            relay.note(now, verdict.delayed_by or relay.name, "delayed", packet, delay=delay)
            self._hold(direction, data, delay)
        else:
            relay.note(now, relay.name, "forwarded", packet)
            self._write(direction, data)

    def _write(self, direction: str, data: bytes) -> None:
        if self.blackholed or self.closed:
            return
        if direction == TO_SERVER:
            if self.server is None:
                self.waiting.append(data)
            else:
                _stream(self.server).write(data)
                self.relay.traced("sent", self.external, data)
        elif not self.client_closed:
            _stream(self.client).write(data)

    def _hold(self, direction: str, item: bytes | None, delay: float) -> None:
        """Queue ``item``; each timer releases the *oldest* held item, so the order holds
        even where two due times differ only by a rounding error."""
        self.queues[direction].append(item)
        self.relay.later(delay, self._release, direction)

    def _release(self, direction: str) -> None:
        item = self.queues[direction].popleft()
        if item is not None:
            self._write(direction, item)
        elif direction == TO_SERVER:
            self._close_server()
        else:
            self._close_client()

    def _after_queue(self, direction: str, function: Callable[[], None]) -> None:
        """Close after the chunks still held in ``direction``, like a FIN behind them."""
        if self.queues[direction]:
            now = self.relay.clock.seconds()
            self._hold(direction, None, max(0.0, self.last[direction] - now))
        else:
            function()

    def _close_server(self) -> None:
        if self.server is not None and not self.blackholed:
            _stream(self.server).loseConnection()

    def _close_client(self) -> None:
        if not self.client_closed and not self.blackholed:
            _stream(self.client).loseConnection()

    def _stop_connecting(self) -> None:
        # IConnector does not declare ``state``; Twisted's connectors have it.
        if self.connector is not None and getattr(self.connector, "state", "") == "connecting":
            self.connector.stopConnecting()

    def abort(self) -> None:
        self.closed = True
        self._stop_connecting()
        for side in (self.client, self.server):
            if side is not None and getattr(side.transport, "connected", False):
                _stream(side).abortConnection()


_FORGOTTEN = "no binding: the NAT forgot this connection"


class TcpRelay(Relay):
    """One proxied TCP port. ``reactor`` listens and connects; ``clock`` times and stamps."""

    transport = Transport.TCP
    mapping, expiry, fate = "connection", "blackholed", ": blackholed in both directions"

    def __init__(self, *, reactor: IReactorTCP, clock: IReactorTime, listen: HostPort,
                 upstream: HostPort, pipeline: Pipeline, nat: NatTable, log: FaultLog,
                 name: str, nat_name: str = "nat", capture: Capture | None = None,
                 upstream_trace: Trace | None = None) -> None:
        super().__init__(clock=clock, listen=listen, upstream=upstream, pipeline=pipeline,
                         nat=nat, log=log, name=name, nat_name=nat_name, capture=capture,
                         upstream_trace=upstream_trace)
        self.reactor = reactor
        self.port: IListeningPort | None = None
        self.connections: set[_Connection] = set()
        self.connections_by_external: dict[HostPort, _Connection] = {}

    @property
    def listening(self) -> bool:
        return self.port is not None

    def start(self) -> HostPort:
        factory: protocol.Factory[Any] = _ListenFactory(self)
        if self.capture is not None:
            factory = self.capture.wrap_factory(factory, "server")
        # listenTCP takes any Factory; Twisted's stub asks for a ServerFactory.
        self.port = self.reactor.listenTCP(self.listen_port,
                                           cast(protocol.ServerFactory, factory),
                                           interface=self.listen_host)
        self.address = hostport(self.port.getHost())
        return self.address

    def stop(self) -> defer.Deferred[Any]:
        self.stop_timers()
        for connection in list(self.connections):
            connection.abort()
        port, self.port = self.port, None
        return defer.maybeDeferred(port.stopListening) if port is not None \
            else defer.succeed(None)

    def accepted(self, client: _ClientSide) -> _Connection:
        connection = _Connection(self, client)
        self.connections.add(connection)
        host, port = self.upstream
        factory: protocol.Factory[Any] = _UpstreamFactory(connection)
        if self.capture is not None:
            factory = self.capture.wrap_factory(factory, "client")
        connection.connector = self.reactor.connectTCP(
            host, port, cast(protocol.ClientFactory, factory),
            timeout=UPSTREAM_CONNECT_TIMEOUT, bindAddress=(self.source_host, 0))
        return connection

    def finished(self, connection: _Connection) -> None:
        """Both sides of ``connection`` are closed: forget it."""
        self.connections.discard(connection)
        if connection.external is not None \
                and self.connections_by_external.get(connection.external) is connection:
            del self.connections_by_external[connection.external]
        if connection.binding is not None:
            self.nat.discard(connection.binding)  # a closed connection maps nothing

    def release(self, binding: Binding) -> None:
        """A blackholed connection the NAT no longer remembers is reset."""
        connection = self.connections_by_external.get(binding.external)
        if connection is not None:
            connection.abort()

    def forget(self, binding: Binding) -> None:
        """An idle connection is blackholed: both ends keep it and hear nothing."""
        connection = self.connections_by_external.get(binding.external)
        if connection is not None:
            connection.blackholed = True
