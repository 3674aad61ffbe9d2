"""A raw capture at the socket level: what crossed each socket, as the pcap will show it.

A :class:`Capture` collects :class:`CapturedSegment` s: every UDP datagram, and for
TCP, TLS and WSS the bytes *as they cross the socket* (so TLS is ciphertext; Wireshark
decrypts it with the key log), plus the opening and closing of each connection.
``testbed.report.write_pcap`` turns them into a pcapng file.

Feeding it:

- a :class:`~testbed.transport.SipStack` with ``capture=`` (or ``stack.capture = ...``
  before it listens or connects) records its UDP datagrams (``UdpEndpoint``) and wraps
  every stream factory it listens or connects with (TCP, TLS, WS, WSS) in
  :meth:`Capture.wrap_factory`: a ``ProtocolWrapper`` *outside* TLS;
- the DNS server (``DnsServer(..., capture=)``) feeds the same calls for its UDP and TCP;
- anything else that owns sockets (a fault proxy) calls :meth:`Capture.datagram` and
  :meth:`Capture.wrap_factory` the same way.

Several elements of one world share one capture. **Dedupe rule**: every attached socket
records both what it sends and what it receives, and the capture keeps each packet once:

- a UDP datagram received from ``src`` with bytes equal to one recorded as sent by ``src``
  to this socket, and not yet matched, is the same packet and is not recorded again; one
  received from an element that is not attached (a DNS client, a real softphone) is;
- a TCP byte stream is deduplicated by offset, per direction of each connection: each end
  counts the bytes it sent and received, and only bytes past what the capture already
  holds for that direction are recorded. Either end alone gives the whole stream, and
  how the kernel split or merged writes does not matter;
- a connection's opening (``SYN``) is recorded once, by whichever end sees it first, with
  ``src`` the connecting side; its end (``FIN``, or ``RST`` when it was not clean) once,
  by whichever end sees it first.

A fault proxy between client and server is a real hop: its two legs have different
addresses, so both appear, as they would on a wire. Sockets must be bound to a specific
address (the loopback allocator does that), not the wildcard, for the UDP match to work.

Without a capture nothing is wrapped and the UDP path tests one attribute: zero cost.

**Bounded.** A capture keeps the last ``limit`` segments in memory (:data:`CAPTURE_LIMIT`
unless told; ``0`` keeps none) and counts the ones it let go (:attr:`Capture.dropped`).
Whatever must have every segment subscribes (:meth:`Capture.subscribe`): ``testbed serve
--report-dir`` streams each one to a pcapng file as it comes (``testbed.report``'s
``PcapStream``) and keeps none. Its bookkeeping is bounded too: datagrams awaiting their
receive (:data:`PENDING_LIMIT`) and the connections currently open.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import error
from twisted.internet.interfaces import IAddress, IConnector, ITransport
from twisted.internet.protocol import Factory, connectionDone
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure

from testbed.sip import Transport

from ._trace import HostPort, hostport_of

SEGMENT_FLAGS = ("", "SYN", "FIN", "RST", "REFUSED", "UNANSWERED")
"""What a TCP :class:`CapturedSegment` marks, besides carrying bytes (flag ``""``):

- ``SYN``: ``src`` connected to ``dst`` and the connection was accepted (the pcap shows
  the three-way handshake);
- ``FIN``: ``src`` closed the connection cleanly (FIN from each side, then the last ACK);
- ``RST``: the connection ended otherwise (aborted, reset, lost), as seen by ``src``;
- ``REFUSED``: ``src`` tried to connect and ``dst`` refused (SYN, then RST from ``dst``);
- ``UNANSWERED``: ``src`` tried to connect and got no answer (a lone SYN).

For the last two the local port was never known (the socket is gone before the failure
is reported), so ``src`` has port 0.
"""

CAPTURE_LIMIT = 100_000
"""Segments a :class:`Capture` keeps unless told otherwise: far more than any scenario
sends (a scenario's pcap has them all), a bound for anything that runs on."""

PENDING_LIMIT = 4096
"""UDP datagrams recorded as sent and not yet matched by their receive (lost ones go
first when more are pending)."""


@dataclass(frozen=True, slots=True)
class CapturedSegment:
    """One packet's worth of what crossed a socket. ``transport`` is ``UDP`` or ``TCP``."""

    time: float
    transport: str
    src: HostPort
    dst: HostPort
    data: bytes = b""
    flags: str = ""

    def __post_init__(self) -> None:
        if self.transport not in (Transport.UDP, Transport.TCP):
            raise ValueError(f"captured segment transport {self.transport!r}: UDP or TCP")
        if self.flags not in SEGMENT_FLAGS:
            raise ValueError(f"captured segment flags {self.flags!r}: one of {SEGMENT_FLAGS}")


@dataclass
class _Connection:
    client: HostPort
    server: HostPort
    recorded: dict[HostPort, int] = field(default_factory=dict)  # src -> bytes held
    ends: int = 0  # attached ends still open
    ended: bool = False


def _key(a: HostPort, b: HostPort) -> frozenset[HostPort]:
    return frozenset((a, b))


class Capture:
    """Segments seen by every socket attached to it, in the order they happened.

    ``clock`` gives the time stamps (``reactor.seconds``: the same clock as the traces);
    ``limit`` is how many segments :attr:`segments` keeps (the last ones; None: all).
    """

    def __init__(self, clock: Callable[[], float], *,
                 limit: int | None = CAPTURE_LIMIT) -> None:
        if limit is not None and limit < 0:
            raise ValueError(f"a capture keeps a non-negative number of segments, not {limit}")
        self.clock = clock
        self.limit = limit
        self.segments: deque[CapturedSegment] = deque(maxlen=limit)
        self.dropped = 0
        """Segments recorded and no longer kept in :attr:`segments` (subscribers had them)."""
        self._listeners: list[Callable[[CapturedSegment], None]] = []
        self._pending: OrderedDict[tuple[HostPort, HostPort, bytes], int] = OrderedDict()
        self._connections: dict[frozenset[HostPort], _Connection] = {}

    def subscribe(self, listener: Callable[[CapturedSegment], None]) -> None:
        """Call ``listener`` with every segment from now on, kept or not (a pcap stream)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[CapturedSegment], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def __iter__(self) -> Iterator[CapturedSegment]:
        return iter(self.segments)

    def __len__(self) -> int:
        return len(self.segments)

    def _add(self, transport: str, src: HostPort, dst: HostPort, data: bytes = b"",
             flags: str = "") -> None:
        segment = CapturedSegment(self.clock(), transport, src, dst, data, flags)
        segments = self.segments
        if len(segments) == segments.maxlen:
            self.dropped += 1
        segments.append(segment)
        for listener in self._listeners:
            listener(segment)

    # -- UDP ----------------------------------------------------------------------------

    def datagram(self, src: HostPort, dst: HostPort, data: bytes, *, sent: bool) -> None:
        """A datagram ``src`` → ``dst``, seen by the sender (``sent``) or the receiver."""
        src, dst, data = (src[0], src[1]), (dst[0], dst[1]), bytes(data)
        key = (src, dst, data)
        if sent:
            self._add(Transport.UDP, src, dst, data)
            self._pending[key] = self._pending.get(key, 0) + 1
            self._pending.move_to_end(key)
            while len(self._pending) > PENDING_LIMIT:
                self._pending.popitem(last=False)
            return
        waiting = self._pending.get(key, 0)
        if waiting:
            if waiting == 1:
                del self._pending[key]
            else:
                self._pending[key] = waiting - 1
            return
        self._add(Transport.UDP, src, dst, data)

    # -- TCP ----------------------------------------------------------------------------

    def wrap_factory(self, factory: Factory[Any], role: str) -> WrappingFactory[Any]:
        """``factory`` (the outermost one given to ``listenTCP``/``connectTCP``) wrapped so
        that its connections are recorded. ``role``: ``"server"`` or ``"client"``."""
        if role not in ("server", "client"):
            raise ValueError(f"capture role {role!r}: server or client")
        return _CapturingFactory(self, factory, role)

    def stream_opened(self, local: HostPort, peer: HostPort, *, client: bool) -> None:
        """One end of a connection is up; ``client`` says whether it connected."""
        key = _key(local, peer)
        connection = self._connections.get(key)
        if connection is None:
            client_end, server_end = (local, peer) if client else (peer, local)
            connection = self._connections[key] = _Connection(client_end, server_end)
            self._add(Transport.TCP, client_end, server_end, flags="SYN")
        connection.ends += 1

    def stream_data(self, src: HostPort, dst: HostPort, offset: int, data: bytes) -> None:
        """``data`` at byte ``offset`` of the stream ``src`` → ``dst``, seen by either end."""
        connection = self._connections.get(_key(src, dst))
        if connection is None:  # an end we never saw open: take it as it comes
            self.stream_opened(src, dst, client=True)
            connection = self._connections[_key(src, dst)]
            connection.ends -= 1
        held = connection.recorded.get(src, 0)
        end = offset + len(data)
        if end <= held:
            return
        self._add(Transport.TCP, src, dst, bytes(data[max(0, held - offset):]))
        connection.recorded[src] = end

    def stream_closed(self, local: HostPort, peer: HostPort, *, clean: bool) -> None:
        """One end saw the connection end (``clean``: a normal close, not a reset)."""
        key = _key(local, peer)
        connection = self._connections.get(key)
        if connection is None:
            return
        if not connection.ended:
            connection.ended = True
            self._add(Transport.TCP, local, peer, flags="FIN" if clean else "RST")
        connection.ends -= 1
        if connection.ends <= 0:
            del self._connections[key]  # the 4-tuple may be used again later

    def connect_failed(self, dst: HostPort, reason: Failure) -> None:
        """A connection attempt to ``dst`` failed: refused (SYN, RST) or unanswered (SYN)."""
        if isinstance(reason.value, error.ConnectionRefusedError):
            flags = "REFUSED"
        elif isinstance(reason.value, error.TimeoutError | error.TCPTimedOutError):
            flags = "UNANSWERED"
        else:
            return  # no packet left the host (no route, bad address, cancelled)
        src = ("::1" if ":" in dst[0] else "127.0.0.1", 0)
        self._add(Transport.TCP, src, dst, flags=flags)


class _CapturingProtocol(ProtocolWrapper):
    """Records the bytes written to and read from the socket, then passes them on."""

    factory: _CapturingFactory
    _local: HostPort = ("", 0)
    _peer: HostPort = ("", 0)
    _sent = 0
    _received = 0
    _lost = False

    def makeConnection(self, transport: ITransport) -> None:
        self._local = hostport_of(transport.getHost())
        self._peer = hostport_of(transport.getPeer())
        self.factory.capture.stream_opened(self._local, self._peer,
                                           client=self.factory.role == "client")
        super().makeConnection(transport)

    def write(self, data: bytes) -> None:
        # After the connection is lost nothing crosses the socket (TLS may still try
        # to send its close_notify): recording it would reopen a closed connection.
        if data and not self._lost:
            self.factory.capture.stream_data(self._local, self._peer, self._sent, data)
            self._sent += len(data)
        super().write(data)

    def writeSequence(self, data: list[bytes]) -> None:
        self.write(b"".join(data))

    def dataReceived(self, data: bytes) -> None:
        self.factory.capture.stream_data(self._peer, self._local, self._received, data)
        self._received += len(data)
        super().dataReceived(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._lost = True
        self.factory.capture.stream_closed(
            self._local, self._peer, clean=isinstance(reason.value, error.ConnectionDone))
        super().connectionLost(reason)


class _CapturingFactory(WrappingFactory[_CapturingProtocol]):
    protocol = _CapturingProtocol

    def __init__(self, capture: Capture, wrapped: Factory[Any], role: str) -> None:
        super().__init__(wrapped)
        self.capture = capture
        self.role = role

    # Twisted lets a factory refuse a connection with None (IProtocolFactory);
    # WrappingFactory's annotation leaves that out.
    def buildProtocol(self, addr: IAddress | None) -> _CapturingProtocol | None:  # type: ignore[override]
        inner = self.wrappedFactory.buildProtocol(addr)
        return None if inner is None else self.protocol(self, inner)

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        self.capture.connect_failed(hostport_of(connector.getDestination()), reason)
        super().clientConnectionFailed(connector, reason)
