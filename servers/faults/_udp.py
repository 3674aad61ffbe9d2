"""The UDP relay: client ↔ the proxy's port ↔ one external port per client ↔ the server.

Datagrams from a client arrive at the proxy's listening port and leave towards the
server from the client's *external* port (a socket of its own, like a NAT binding), so
the server's answers, and its own requests to the address it saw, find their way
back. Every datagram is judged by the :class:`Pipeline` (drop, delay) and logged; the
:class:`NatTable` decides when a binding expires (never, without a ``nat`` fault).

The NAT sits next to the client: every datagram the client sends refreshes its binding,
whatever later stages do with it; a binding (and its socket) is made when the first
datagram is actually forwarded. After expiry the old external socket stays open and
drops what reaches it (a NAT drops silently; closing it would make the kernel answer
ICMP port unreachable, which a NAT does not), and the client's next datagram gets a new
external port. Filtering is endpoint independent (RFC 4787 §5): anything reaching a live
external port goes to its client.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet import defer, protocol

from testbed.transport import DeadlineTimer, DelayedCalls

from ._log import FaultLog, FaultRecord
from ._policy import TO_CLIENT, TO_SERVER, Binding, NatTable, Pipeline

HostPort = tuple[str, int]
MAX_DATAGRAM = 65535


class _ListenSide(protocol.DatagramProtocol):
    def __init__(self, relay: UdpRelay) -> None:
        self.relay = relay

    def datagramReceived(self, data: bytes, addr: tuple) -> None:
        self.relay.from_client(data, (addr[0], addr[1]))


class _ExternalSide(protocol.DatagramProtocol):
    def __init__(self, relay: UdpRelay) -> None:
        self.relay = relay
        self.external: HostPort = ("", 0)

    def datagramReceived(self, data: bytes, addr: tuple) -> None:
        self.relay.from_server(self.external, data, (addr[0], addr[1]))


class UdpRelay:
    """One proxied UDP port. ``reactor`` opens sockets; ``clock`` times and stamps.

    ``open_udp(protocol, port, host)`` opens a UDP port (default: ``reactor.listenUDP``);
    unit tests pass a recording fake and a ``task.Clock``.
    """

    def __init__(self, *, reactor: object, clock: object, listen: HostPort,
                 upstream: HostPort, pipeline: Pipeline, nat: NatTable, log: FaultLog,
                 name: str, nat_name: str = "nat",
                 open_udp: Callable[[object, int, str], object] | None = None) -> None:
        self.reactor = reactor
        self.clock = clock
        self.listen_host, self.listen_port = listen
        self.upstream = upstream
        self.pipeline = pipeline
        self.nat = nat
        self.log = log
        self.name = name
        self.nat_name = nat_name
        self._open = open_udp or self._listen_udp
        self.port: object = None
        self.address: HostPort = listen
        self._external_ports: dict[HostPort, object] = {}
        self._delayed = DelayedCalls(clock)
        self._timer = DeadlineTimer(clock, self._on_timer)
        self.counts = {TO_SERVER: 0, TO_CLIENT: 0}

    def _listen_udp(self, proto: object, port: int, host: str) -> object:
        return self.reactor.listenUDP(port, proto, interface=host,  # type: ignore[attr-defined]
                                      maxPacketSize=MAX_DATAGRAM)

    def start(self) -> HostPort:
        self.port = self._open(_ListenSide(self), self.listen_port, self.listen_host)
        host = self.port.getHost()  # type: ignore[attr-defined]
        self.address = (host.host, host.port)
        return self.address

    def stop(self) -> defer.Deferred:
        self._delayed.cancel_all()
        self._timer.cancel()
        waits = []
        for port in [self.port, *self._external_ports.values()]:
            if port is not None:
                result = port.stopListening()  # type: ignore[attr-defined]
                if isinstance(result, defer.Deferred):
                    waits.append(result)
        self.port = None
        self._external_ports.clear()
        return defer.DeferredList(waits)

    # -- inputs -------------------------------------------------------------------------

    def from_client(self, data: bytes, client: HostPort) -> None:
        now = self._now()
        self.counts[TO_SERVER] += 1
        index = self.counts[TO_SERVER]
        self.nat.outbound(client, now)
        verdict = self.pipeline.judge("UDP", TO_SERVER, len(data))
        base = dict(transport="UDP", direction=TO_SERVER, size=len(data), source=client,
                    destination=self.upstream, index=index)
        if verdict.dropped is not None:
            self._record(now, verdict.by, "dropped", detail=verdict.dropped, **base)
        elif verdict.delay > 0:
            self._record(now, verdict.delayed_by, "delayed", delay=verdict.delay, **base)
            self._later(verdict.delay, self._to_server, client, data)
        else:
            self._to_server(client, data)  # first, so a new binding is logged before
            self._record(now, self.name, "forwarded", **base)
        self._rearm()

    def from_server(self, external: HostPort, data: bytes, source: HostPort) -> None:
        now = self._now()
        self.counts[TO_CLIENT] += 1
        index = self.counts[TO_CLIENT]
        binding = self.nat.inbound(external, now)
        if binding is None:
            known = self.nat.known(external)
            since = f" (expired at {known.expired_at:.3f})" if known and known.expired_at else ""
            self._record(now, self.nat_name, "dropped", transport="UDP", direction=TO_CLIENT,
                         size=len(data), source=source, destination=external, index=index,
                         detail=f"no binding for {_fmt(external)}{since}")
            return
        verdict = self.pipeline.judge("UDP", TO_CLIENT, len(data))
        base = dict(transport="UDP", direction=TO_CLIENT, size=len(data), source=source,
                    destination=binding.internal, index=index)
        if verdict.dropped is not None:
            self._record(now, verdict.by, "dropped", detail=verdict.dropped, **base)
        elif verdict.delay > 0:
            self._record(now, verdict.delayed_by, "delayed", delay=verdict.delay, **base)
            self._later(verdict.delay, self._to_client, binding.internal, data)
        else:
            self._record(now, self.name, "forwarded", **base)
            self._to_client(binding.internal, data)
        self._rearm()

    # -- outputs ------------------------------------------------------------------------

    def _to_server(self, client: HostPort, data: bytes) -> None:
        now = self._now()
        binding = self.nat.live(client) or self._bind(client, now)
        port = self._external_ports.get(binding.external)
        if port is not None:
            port.write(data, self.upstream)  # type: ignore[attr-defined]
        self._rearm()

    def _to_client(self, client: HostPort, data: bytes) -> None:
        if self.port is not None:
            self.port.write(data, client)  # type: ignore[attr-defined]

    def _bind(self, client: HostPort, now: float) -> Binding:
        side = _ExternalSide(self)
        port = self._open(side, 0, self.listen_host)
        host = port.getHost()  # type: ignore[attr-defined]
        external = (host.host, host.port)
        side.external = external
        self._external_ports[external] = port
        binding = self.nat.add(client, external, now)
        timeout = f"; expires after {self.nat.timeout:g} s without outbound traffic" \
            if self.nat.timeout is not None else ""
        self._record(now, self.nat_name if self.nat.timeout is not None else self.name,
                     "new-binding", transport="UDP", source=client, destination=external,
                     detail=f"{_fmt(client)} is seen by the server as {_fmt(external)} "
                            f"(binding #{binding.number}){timeout}")
        return binding

    # -- time ---------------------------------------------------------------------------

    def _now(self) -> float:
        now = self.clock.seconds()  # type: ignore[attr-defined]
        for binding in self.nat.expire(now):
            self._expired(binding)
        return now

    def _expired(self, binding: Binding) -> None:
        assert binding.expired_at is not None
        self._record(binding.expired_at, self.nat_name, "expired", transport="UDP",
                     source=binding.internal, destination=binding.external,
                     detail=f"binding #{binding.number} {_fmt(binding.internal)} -> "
                            f"{_fmt(binding.external)} idle for {self.nat.timeout:g} s")

    def _later(self, delay: float, function: Callable, *args: object) -> None:
        self._delayed.later(delay, function, *args)

    def _rearm(self) -> None:
        if self.port is not None:
            self._timer.arm(self.nat.next_deadline())

    def _on_timer(self) -> None:
        self._now()
        self._rearm()

    def _record(self, time: float, fault: str, action: str, **fields: object) -> None:
        self.log.append(FaultRecord(time, fault, action, **fields))  # type: ignore[arg-type]


def _fmt(address: HostPort) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
