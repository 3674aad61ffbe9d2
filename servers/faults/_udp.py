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

import typing
from collections.abc import Callable
from functools import partial
from typing import Any, cast

from twisted.internet import defer, protocol
from twisted.internet.interfaces import IAddress, IReactorTime, IReactorUDP

from testbed.sip import Transport, fmt_hostport
from testbed.transport import Capture, Trace

from ._log import FaultLog, HostPort
from ._policy import TO_CLIENT, TO_SERVER, Binding, NatTable, Pipeline
from ._relay import Packet, Relay, hostport

MAX_DATAGRAM = 65535


class UdpPort(typing.Protocol):
    """What a relay needs of a bound UDP socket: ``reactor.listenUDP``'s port, or a fake."""

    def write(self, datagram: bytes, addr: HostPort) -> object: ...

    def getHost(self) -> IAddress: ...

    def stopListening(self) -> object: ...


OpenUdp = Callable[[protocol.DatagramProtocol, int, str], UdpPort]
"""``open_udp(protocol, port, host)``: bind a UDP port (0: any) on ``host``."""


class _ListenSide(protocol.DatagramProtocol):
    def __init__(self, relay: UdpRelay) -> None:
        self.relay = relay

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.relay.from_client(datagram, (addr[0], addr[1]))


class _ExternalSide(protocol.DatagramProtocol):
    def __init__(self, relay: UdpRelay) -> None:
        self.relay = relay
        self.external: HostPort = ("", 0)

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.relay.from_server(self.external, datagram, (addr[0], addr[1]))


class UdpRelay(Relay):
    """One proxied UDP port. ``reactor`` opens sockets; ``clock`` times and stamps.

    ``open_udp`` opens a UDP port (default: ``reactor.listenUDP``); unit tests pass a
    recording fake, no reactor, and a ``task.Clock``.
    """

    transport = Transport.UDP
    mapping, expiry, fate = "binding", "expires", ""

    def __init__(self, *, reactor: IReactorUDP | None, clock: IReactorTime, listen: HostPort,
                 upstream: HostPort, pipeline: Pipeline, nat: NatTable, log: FaultLog,
                 name: str, nat_name: str = "nat", open_udp: OpenUdp | None = None,
                 capture: Capture | None = None, upstream_trace: Trace | None = None) -> None:
        super().__init__(clock=clock, listen=listen, upstream=upstream, pipeline=pipeline,
                         nat=nat, log=log, name=name, nat_name=nat_name, capture=capture,
                         upstream_trace=upstream_trace)
        self.reactor = reactor
        self._open = open_udp or self._listen_udp
        self.port: UdpPort | None = None
        self._external_ports: dict[HostPort, UdpPort] = {}

    def _listen_udp(self, proto: protocol.DatagramProtocol, port: int, host: str) -> UdpPort:
        assert self.reactor is not None, "a UdpRelay without open_udp needs a reactor"
        # The listening port listenUDP returns is also the IUDPTransport that writes.
        return cast(UdpPort, self.reactor.listenUDP(port, proto, interface=host,
                                                    maxPacketSize=MAX_DATAGRAM))

    @property
    def listening(self) -> bool:
        return self.port is not None

    def start(self) -> HostPort:
        self.port = self._open(_ListenSide(self), self.listen_port, self.listen_host)
        self.address = hostport(self.port.getHost())
        return self.address

    def stop(self) -> defer.Deferred[Any]:
        self.stop_timers()
        waits = []
        for port in [self.port, *self._external_ports.values()]:
            if port is not None:
                result = port.stopListening()
                if isinstance(result, defer.Deferred):
                    waits.append(result)
        self.port = None
        self._external_ports.clear()
        return defer.DeferredList(waits)

    # -- inputs -------------------------------------------------------------------------

    def from_client(self, data: bytes, client: HostPort) -> None:
        if self.capture is not None:
            self.capture.datagram(client, self.address, data, sent=False)
        now = self.now()
        packet = Packet(TO_SERVER, len(data), client, self.upstream, self.count(TO_SERVER))
        self.nat.outbound(client, now)
        self._judge(packet, now, partial(self._to_server, client, data))
        self.rearm()

    def from_server(self, external: HostPort, data: bytes, source: HostPort) -> None:
        if self.capture is not None:
            self.capture.datagram(source, external, data, sent=False)
        self.traced("received", external, data)
        now = self.now()
        index = self.count(TO_CLIENT)
        binding = self.nat.inbound(external, now)
        if binding is None:
            known = self.nat.known(external)
            since = f" (expired at {known.expired_at:.3f})" if known and known.expired_at else ""
            self.note(now, self.nat_name, "dropped",
                      Packet(TO_CLIENT, len(data), source, external, index),
                      detail=f"no binding for {fmt_hostport(external)}{since}")
            return
        packet = Packet(TO_CLIENT, len(data), source, binding.internal, index)
        self._judge(packet, now, partial(self._to_client, binding.internal, data))
        self.rearm()

    def _judge(self, packet: Packet, now: float, send: Callable[[], None]) -> None:
        """Send a datagram now, later or never, as the pipeline says, and log which. A
        datagram sent now is logged after it left, so that a NAT binding it made is
        logged before it."""
        verdict = self.pipeline.judge(self.transport, packet.direction, packet.size)
        if verdict.dropped is not None:
            self.note(now, verdict.by, "dropped", packet, detail=verdict.dropped)
        elif verdict.delay > 0:
            self.note(now, verdict.delayed_by, "delayed", packet, delay=verdict.delay)
            self.later(verdict.delay, send)
        else:
            send()
            self.note(now, self.name, "forwarded", packet)

    # -- outputs ------------------------------------------------------------------------

    def _to_server(self, client: HostPort, data: bytes) -> None:
        now = self.now()
        binding = self.nat.live(client) or self._bind(client, now)
        port = self._external_ports.get(binding.external)
        if port is not None:
            port.write(data, self.upstream)
            if self.capture is not None:
                self.capture.datagram(binding.external, self.upstream, data, sent=True)
            self.traced("sent", binding.external, data)
        self.rearm()

    def _to_client(self, client: HostPort, data: bytes) -> None:
        if self.port is not None:
            self.port.write(data, client)
            if self.capture is not None:
                self.capture.datagram(self.address, client, data, sent=True)

    def release(self, binding: Binding) -> None:
        """Close the external port of a binding the NAT no longer remembers."""
        port = self._external_ports.pop(binding.external, None)
        if port is not None:
            port.stopListening()

    def _bind(self, client: HostPort, now: float) -> Binding:
        """A new external port for ``client``: the source the server sees."""
        side = _ExternalSide(self)
        port = self._open(side, 0, self.source_host)
        side.external = hostport(port.getHost())
        self._external_ports[side.external] = port
        return self.bind(client, side.external, now)
