"""What the UDP and TCP relays share: the proxy's place, its clock, its NAT and its log.

A relay is told where to listen and where the server is, judges every packet with a
:class:`Pipeline` and keeps its client mappings in a :class:`NatTable`. Time comes from
the injected clock (an ``IReactorTime``): the NAT expires bindings lazily, whenever the
relay reads the time, and one :class:`DeadlineTimer` is armed for the next expiry so
that an idle binding is logged when it goes, not when the next packet arrives.

With a ``capture`` (a :class:`testbed.transport.Capture`) a relay records both legs as
the sockets see them, so a pcap shows the hop to a server nothing else of ours
captures (an external registrar). With an ``upstream_trace`` it also records what it
sends to and receives from the server as trace events (``sent``/``received``), so a
ladder has the server as a participant: a SIP message is summarised as the ladder does
(the relay reads it for that only), anything else (TLS records, a part of a stream) by
its size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IAddress, IReactorTime

from servers.loopback import source_for
from testbed.sip import RemoteProtocolError, Transport, fmt_hostport, parse_message
from testbed.transport import Capture, DeadlineTimer, DelayedCalls, Trace, describe

from ._log import FaultLog, FaultRecord, HostPort
from ._policy import TO_CLIENT, TO_SERVER, Binding, NatTable, Pipeline


def hostport(address: IAddress) -> HostPort:
    """``(host, port)`` of a socket address (Twisted's ``IPv4Address``/``IPv6Address``)."""
    assert isinstance(address, IPv4Address | IPv6Address), address
    return (address.host, address.port)


@dataclass(frozen=True, slots=True)
class Packet:
    """One datagram or TCP chunk at the proxy: its direction, size, ends and number."""

    direction: str
    size: int
    source: HostPort | None
    destination: HostPort | None
    index: int


class Relay:
    """The state and bookkeeping of one proxied port; subclasses move the bytes.

    The log names a NAT mapping ``mapping`` (a UDP ``binding``, a TCP ``connection``);
    ``expiry`` says what happens to one without outbound traffic, ``fate`` what became
    of one that expired.
    """

    transport: Transport
    mapping: str
    expiry: str
    fate: str

    def __init__(self, *, clock: IReactorTime, listen: HostPort, upstream: HostPort,
                 pipeline: Pipeline, nat: NatTable, log: FaultLog, name: str,
                 nat_name: str = "nat", capture: Capture | None = None,
                 upstream_trace: Trace | None = None) -> None:
        self.clock = clock
        self.upstream_trace = upstream_trace
        self.listen_host, self.listen_port = listen
        self.upstream = upstream
        self.source_host = source_for(self.listen_host, upstream[0])
        self.capture = capture
        self.pipeline = pipeline
        self.nat = nat
        self.log = log
        self.name = name
        self.nat_name = nat_name
        self.address: HostPort = listen
        self.counts = {TO_SERVER: 0, TO_CLIENT: 0}
        self._delayed = DelayedCalls(clock)
        self._timer = DeadlineTimer(clock, self._on_timer)

    @property
    def listening(self) -> bool:
        raise NotImplementedError  # pragma: no cover

    # -- time -------------------------------------------------------------------------

    def now(self) -> float:
        """The clock's time, after expiring (and logging) every binding idle too long."""
        now = self.clock.seconds()
        for binding in self.nat.expire(now):
            self.forget(binding)
            assert binding.expired_at is not None
            self.record(binding.expired_at, self.nat_name, "expired", source=binding.internal,
                        destination=binding.external,
                        detail=f"{self.mapping} #{binding.number} "
                               f"{fmt_hostport(binding.internal)} -> "
                               f"{fmt_hostport(binding.external)} idle for "
                               f"{self.nat.timeout:g} s{self.fate}")
        for binding in self.nat.release():
            self.release(binding)
        return now

    def forget(self, binding: Binding) -> None:
        """What the relay does when ``binding`` expires, besides logging it."""

    def release(self, binding: Binding) -> None:
        """What the relay does when the NAT no longer remembers expired ``binding``."""

    def later(self, delay: float, function: Callable[..., object], *args: object) -> None:
        self._delayed.later(delay, function, *args)

    def rearm(self) -> None:
        """Arm the timer for the next NAT expiry (while the relay listens)."""
        if self.listening:
            self._timer.arm(self.nat.next_deadline())

    def _on_timer(self) -> None:
        self.now()
        self.rearm()

    def stop_timers(self) -> None:
        self._delayed.cancel_all()
        self._timer.cancel()

    # -- bookkeeping ------------------------------------------------------------------

    def count(self, direction: str) -> int:
        """The number of the packet just seen in ``direction`` (1 = the first)."""
        self.counts[direction] += 1
        return self.counts[direction]

    def bind(self, client: HostPort, external: HostPort, now: float) -> Binding:
        """A new mapping of ``client`` to ``external``, logged."""
        binding = self.nat.add(client, external, now)
        timeout = (f"; {self.expiry} after {self.nat.timeout:g} s without outbound traffic"
                   if self.nat.timeout is not None else "")
        self.record(now, self.nat_name if self.nat.timeout is not None else self.name,
                    "new-binding", source=client, destination=external,
                    detail=f"{fmt_hostport(client)} is seen by the server as "
                           f"{fmt_hostport(external)} ({self.mapping} #{binding.number})"
                           f"{timeout}")
        return binding

    def note(self, now: float, fault: str, action: str, packet: Packet, *, detail: str = "",
             delay: float = 0.0) -> None:
        """Log what ``fault`` did with ``packet``."""
        self.record(now, fault, action, direction=packet.direction, size=packet.size,
                    source=packet.source, destination=packet.destination, detail=detail,
                    delay=delay, index=packet.index)

    def traced(self, kind: str, local: HostPort | None, data: bytes) -> None:
        """A packet to (``sent``) or from (``received``) the server, for the ladder."""
        if self.upstream_trace is None:
            return
        try:
            summary = describe(parse_message(data))
        except RemoteProtocolError:
            summary = f"{len(data)} bytes"
        self.upstream_trace.record(kind, self.transport, local=local, remote=self.upstream,
                                   summary=summary,
                                   data=data if self.transport is Transport.UDP else b"")

    def record(self, time: float, fault: str, action: str, *, direction: str = "",
               size: int = 0, source: HostPort | None = None,
               destination: HostPort | None = None, detail: str = "", delay: float = 0.0,
               index: int | None = None) -> None:
        self.log.append(FaultRecord(time, fault, action, self.transport, direction, size,
                                    source, destination, detail, delay, index))
