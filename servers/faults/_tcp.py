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
request times out). A new connection from the client is a new mapping.

A userland proxy cannot refuse a connection it has already accepted: if the server
refuses the proxy, the client sees its accepted connection reset (logged ``rejected``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from twisted.internet import defer, protocol
from twisted.python.failure import Failure

from testbed.transport import DeadlineTimer, DelayedCalls

from ._log import FaultLog, FaultRecord
from ._policy import TO_CLIENT, TO_SERVER, NatTable, Pipeline

HostPort = tuple[str, int]
UPSTREAM_CONNECT_TIMEOUT = 5.0


class _ClientSide(protocol.Protocol):
    connection: _Connection

    def connectionMade(self) -> None:
        self.connection = self.factory.relay.accepted(self)  # type: ignore[attr-defined]

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


class _ListenFactory(protocol.Factory):
    protocol = _ClientSide

    def __init__(self, relay: TcpRelay) -> None:
        self.relay = relay


class _UpstreamFactory(protocol.ClientFactory):
    def __init__(self, connection: _Connection) -> None:
        self.connection = connection

    def buildProtocol(self, addr: object) -> _ServerSide:
        return _ServerSide(self.connection)

    def clientConnectionFailed(self, connector: object, reason: Failure) -> None:
        self.connection.upstream_failed(reason)


class _Connection:
    """One client connection and the proxy's connection that carries it."""

    def __init__(self, relay: TcpRelay, client: _ClientSide) -> None:
        self.relay = relay
        self.client = client
        peer = client.transport.getPeer()  # type: ignore[union-attr]
        self.client_address: HostPort = (peer.host, peer.port)
        self.server: _ServerSide | None = None
        self.external: HostPort | None = None
        self.waiting: list[bytes] = []
        self.client_closed = False
        self.blackholed = False
        self.closed = False
        self.last = {TO_SERVER: 0.0, TO_CLIENT: 0.0}  # when the last chunk leaves, per direction
        # chunks held back, in order; ``None`` is a close that follows them
        self.queues: dict[str, deque[bytes | None]] = {TO_SERVER: deque(), TO_CLIENT: deque()}
        self.connector: object = None

    # -- from the client ----------------------------------------------------------------

    def from_client(self, data: bytes) -> None:
        relay = self.relay
        now = relay.now()
        index = relay.count(TO_SERVER)
        if self.blackholed:
            relay.record(now, relay.nat_name, "dropped", direction=TO_SERVER, size=len(data),
                         source=self.client_address, destination=relay.upstream, index=index,
                         detail="no binding: the NAT forgot this connection")
            return
        if self.external is not None:
            relay.nat.outbound(self.client_address, now)
        self._judge(TO_SERVER, data, index, now)
        relay.rearm()

    def client_lost(self) -> None:
        self.client_closed = True
        if self.server is None and self.connector is not None:
            if getattr(self.connector, "state", "") == "connecting":
                self.connector.stopConnecting()  # type: ignore[attr-defined]
            return
        if not self.blackholed:
            self._after_queue(TO_SERVER, self._close_server)

    # -- from the server ----------------------------------------------------------------

    def upstream_made(self, server: _ServerSide) -> None:
        relay = self.relay
        self.server = server
        host = server.transport.getHost()  # type: ignore[union-attr]
        self.external = (host.host, host.port)
        now = relay.now()
        binding = relay.nat.add(self.client_address, self.external, now)
        relay.connections_by_external[self.external] = self
        timeout = (f"; blackholed after {relay.nat.timeout:g} s without outbound traffic"
                   if relay.nat.timeout is not None else "")
        relay.record(now, relay.nat_name if relay.nat.timeout is not None else relay.name,
                     "new-binding", source=self.client_address, destination=self.external,
                     detail=f"{_fmt(self.client_address)} is seen by the server as "
                            f"{_fmt(self.external)} (connection #{binding.number}){timeout}")
        waiting, self.waiting = self.waiting, []
        for data in waiting:
            server.transport.write(data)  # type: ignore[union-attr]
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
        self.client.transport.abortConnection()  # type: ignore[union-attr]

    def from_server(self, data: bytes) -> None:
        relay = self.relay
        now = relay.now()
        index = relay.count(TO_CLIENT)
        if self.blackholed or self.external is None \
                or relay.nat.inbound(self.external, now) is None:
            relay.record(now, relay.nat_name, "dropped", direction=TO_CLIENT, size=len(data),
                         source=relay.upstream, destination=self.external, index=index,
                         detail="no binding: the NAT forgot this connection")
            return
        self._judge(TO_CLIENT, data, index, now)
        relay.rearm()

    def server_lost(self) -> None:
        if not self.blackholed:
            self._after_queue(TO_CLIENT, self._close_client)

    # -- forwarding ---------------------------------------------------------------------

    def _judge(self, direction: str, data: bytes, index: int, now: float) -> None:
        relay = self.relay
        verdict = relay.pipeline.judge("TCP", direction, len(data))
        source, destination = ((self.client_address, relay.upstream) if direction == TO_SERVER
                               else (relay.upstream, self.client_address))
        fields = dict(direction=direction, size=len(data), source=source,
                      destination=destination, index=index)
        if verdict.dropped is not None:
            relay.record(now, verdict.by, "dropped", detail=verdict.dropped, **fields)
            return
        # in order: never before the chunk ahead of it in this direction
        delay = verdict.delay + max(0.0, self.last[direction] - (now + verdict.delay))
        self.last[direction] = now + delay
        if delay > 0 or self.queues[direction]:
            relay.record(now, verdict.delayed_by or relay.name, "delayed", delay=delay,
                         **fields)
            self._hold(direction, data, delay)
        else:
            relay.record(now, relay.name, "forwarded", **fields)
            self._write(direction, data)

    def _write(self, direction: str, data: bytes) -> None:
        if self.blackholed or self.closed:
            return
        if direction == TO_SERVER:
            if self.server is None:
                self.waiting.append(data)
            else:
                self.server.transport.write(data)  # type: ignore[union-attr]
        elif not self.client_closed:
            self.client.transport.write(data)  # type: ignore[union-attr]

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
            now = self.relay.clock.seconds()  # type: ignore[attr-defined]
            self._hold(direction, None, max(0.0, self.last[direction] - now))
        else:
            function()

    def _close_server(self) -> None:
        if self.server is not None and not self.blackholed:
            self.server.transport.loseConnection()  # type: ignore[union-attr]

    def _close_client(self) -> None:
        if not self.client_closed and not self.blackholed:
            self.client.transport.loseConnection()  # type: ignore[union-attr]

    def abort(self) -> None:
        self.closed = True
        if self.connector is not None and getattr(self.connector, "state", "") == "connecting":
            self.connector.stopConnecting()  # type: ignore[attr-defined]
        for side in (self.client, self.server):
            transport = getattr(side, "transport", None)
            if transport is not None and getattr(transport, "connected", False):
                transport.abortConnection()


class TcpRelay:
    """One proxied TCP port. ``reactor`` listens and connects; ``clock`` times and stamps."""

    def __init__(self, *, reactor: object, clock: object, listen: HostPort,
                 upstream: HostPort, pipeline: Pipeline, nat: NatTable, log: FaultLog,
                 name: str, nat_name: str = "nat") -> None:
        self.reactor = reactor
        self.clock = clock
        self.listen_host, self.listen_port = listen
        self.upstream = upstream
        self.pipeline = pipeline
        self.nat = nat
        self.log = log
        self.name = name
        self.nat_name = nat_name
        self.port: object = None
        self.address: HostPort = listen
        self.connections: list[_Connection] = []
        self.connections_by_external: dict[HostPort, _Connection] = {}
        self._delayed = DelayedCalls(clock)
        self._timer = DeadlineTimer(clock, self._on_timer)
        self._counts = {TO_SERVER: 0, TO_CLIENT: 0}

    def start(self) -> HostPort:
        self.port = self.reactor.listenTCP(  # type: ignore[attr-defined]
            self.listen_port, _ListenFactory(self), interface=self.listen_host)
        host = self.port.getHost()  # type: ignore[attr-defined]
        self.address = (host.host, host.port)
        return self.address

    def stop(self) -> defer.Deferred:
        self._delayed.cancel_all()
        self._timer.cancel()
        for connection in self.connections:
            connection.abort()
        result = self.port.stopListening() if self.port is not None else None  # type: ignore[attr-defined]
        self.port = None
        return result if isinstance(result, defer.Deferred) else defer.succeed(None)

    def accepted(self, client: _ClientSide) -> _Connection:
        connection = _Connection(self, client)
        self.connections.append(connection)
        host, port = self.upstream
        connection.connector = self.reactor.connectTCP(  # type: ignore[attr-defined]
            host, port, _UpstreamFactory(connection), timeout=UPSTREAM_CONNECT_TIMEOUT,
            bindAddress=(self.listen_host, 0))
        return connection

    def count(self, direction: str) -> int:
        self._counts[direction] += 1
        return self._counts[direction]

    def now(self) -> float:
        now = self.clock.seconds()  # type: ignore[attr-defined]
        for binding in self.nat.expire(now):
            connection = self.connections_by_external.get(binding.external)
            if connection is not None:
                connection.blackholed = True
            assert binding.expired_at is not None
            self.record(binding.expired_at, self.nat_name, "expired", source=binding.internal,
                        destination=binding.external,
                        detail=f"connection #{binding.number} {_fmt(binding.internal)} -> "
                               f"{_fmt(binding.external)} idle for {self.nat.timeout:g} s: "
                               "blackholed in both directions")
        return now

    def later(self, delay: float, function: Callable, *args: object) -> None:
        self._delayed.later(delay, function, *args)

    def rearm(self) -> None:
        if self.port is not None:
            self._timer.arm(self.nat.next_deadline())

    def _on_timer(self) -> None:
        self.now()
        self.rearm()

    def record(self, time: float, fault: str, action: str, **fields: object) -> None:
        fields.setdefault("transport", "TCP")
        self.log.append(FaultRecord(time, fault, action, **fields))  # type: ignore[arg-type]


def _fmt(address: HostPort | None) -> str:
    if address is None:
        return "-"
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
