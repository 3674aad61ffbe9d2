"""The mock authoritative DNS server on Twisted: one controller, UDP and TCP listeners.

    server = DnsServer([zone_data], reactor, faults=[{"name": "example.com",
                                                      "fault": "servfail"}])
    listening = server.listen("127.0.0.1", 0)    # same port number for UDP and TCP
    listening.port                               # the real bound port
    ...
    await server.stop()

The protocols only frame bytes (TCP: the RFC 1035 §4.2.2 two-byte length prefix, any
number of queries per connection) and hand whole messages to :meth:`DnsServer.handle`,
which answers, applies the faults, logs a :class:`QueryLogEntry` and never lets a
peer's bytes escape as an exception.

Forwarding mode (``forward=(host, port)``): a query for a name outside every zone (all
of them, with no zones) that no fault stops is relayed to that real DNS server by a
:class:`~._forward.Forwarder` and its answer passed back unchanged; ``servfail`` and
``refused`` faults are answered here, ``timeout`` ones never relayed, ``delay`` ones
relayed and their answer held. The log entry of a relayed query carries the upstream's
rcode and answer, and its note says where it went (or why no answer came).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from dnslib import CLASS, OPCODE, QTYPE, RCODE, RR, DNSError, DNSHeader, DNSRecord
from dnslib.bimap import BimapError
from dnslib.buffer import BufferError as DnsBufferError
from dnslib.label import DNSBuffer, DNSLabelError
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IListeningPort,
    IReactorTime,
    ITCPTransport,
)
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol, ServerFactory
from twisted.python.failure import Failure

from testbed.reactor import IReactor
from testbed.sip import fmt_hostport
from testbed.transport import Capture

from ._authority import Reply, build_response, error_response, find_zone, lookup, udp_limit
from ._faults import Fault, FaultTable
from ._forward import DEFAULT_MAX_PENDING, DEFAULT_TIMEOUT, Forwarder, hostport
from ._zone import DnsConfigError, Zone, normalize_qname

_MALFORMED = (DNSError, DnsBufferError, BimapError, DNSLabelError, ValueError, UnicodeError,
              IndexError, KeyError, TypeError, struct.error)
"""What dnslib raises on bytes it cannot parse (found by fuzzing; see the tests)."""
_CLASS_ANY = 255  # dnslib names it "*"
_MAX_UDP_PACKET = 8192  # the reactor's default receive size; queries are far smaller
QUERY_LOG_LIMIT = 10_000
"""Queries a :class:`DnsServer` keeps in its :attr:`~DnsServer.log` (the last ones):
every query of a scenario, a bounded record for a server left running."""
_ANSWERS_KEPT = 4096  # packed answers kept (all are forgotten past it)


@dataclass(frozen=True, slots=True)
class QueryLogEntry:
    """One query as the server saw it. ``rcode`` is None when nothing was sent back
    (a ``timeout`` fault, or bytes dropped without an answer: see ``note``)."""

    time: float
    client: tuple[str, int]
    transport: str
    qname: str
    qtype: str
    rcode: str | None
    answer: tuple[str, ...] = ()
    fault: str | None = None
    truncated: bool = False
    authoritative: bool = False
    qid: int | None = None
    size: int = 0
    note: str = ""

    def summary(self) -> str:
        who = fmt_hostport(self.client)
        question = f"{self.qtype} {self.qname}" if self.qname else "(no question)"
        outcome = self.rcode or "no answer"
        text = f"{self.time:.3f} {who} {self.transport} {question} → {outcome}"
        if self.truncated:
            text += " TC"
        if self.answer:
            text += f" ({len(self.answer)} answer{'s' if len(self.answer) > 1 else ''})"
        if self.fault:
            text += f" [fault: {self.fault}]"
        if self.note:
            text += f" [{self.note}]"
        return text


def _relayed_entry(entry: dict[str, Any], payload: bytes, note: str) -> QueryLogEntry:
    """The log entry of a relayed query, read from the upstream's answer."""
    try:
        answer = DNSRecord.parse(payload)
    except _MALFORMED as exc:
        return QueryLogEntry(**entry, rcode=None, size=len(payload),
                             note=f"{note}; the answer does not parse ({exc})")
    return QueryLogEntry(**entry, rcode=str(RCODE.get(answer.header.rcode)),
                         answer=tuple(_rr_text(rr) for rr in answer.rr),
                         truncated=bool(answer.header.tc),
                         authoritative=bool(answer.header.aa), size=len(payload), note=note)


class _Answer(NamedTuple):
    """A packed answer less its ID, and the log entry of the query that made it."""

    payload: bytes
    logged: QueryLogEntry


class Listening(NamedTuple):
    """The two listening ports of one :meth:`DnsServer.listen` call (same number)."""

    udp: IListeningPort
    tcp: IListeningPort
    host: str
    port: int

    @property
    def address(self) -> str:
        return fmt_hostport((self.host, self.port))


def _coerce_zones(zones: Iterable[Zone | Mapping[str, Any]]) -> tuple[Zone, ...]:
    result: list[Zone] = []
    for index, data in enumerate(zones):
        try:
            zone = Zone.from_data(data)
        except DnsConfigError as exc:
            raise DnsConfigError(("zones", index, *exc.path), exc.message) from None
        if any(z.origin == zone.origin for z in result):
            raise DnsConfigError(("zones", index, "origin"), f"zone {zone.origin} is given twice")
        result.append(zone)
    return tuple(result)


def _rr_text(rr: RR) -> str:
    return f"{rr.rname} {rr.ttl} {QTYPE.get(rr.rtype)} {rr.rdata.toZone()}"


class DnsServer:
    """Serve ``zones`` (:class:`Zone` or zone data) authoritatively over UDP and TCP.

    ``faults`` are fault data or :class:`Fault` values (see :mod:`._faults`); ``clock``
    (default: ``reactor``) gives the log times and runs delays and idle timeouts;
    ``on_query`` receives every :class:`QueryLogEntry`; :attr:`log` keeps the last
    ``log_limit`` of them (None: all).
    ``capture`` (a ``testbed.transport.Capture``, set before :meth:`listen`) records
    the datagrams and TCP bytes of the sockets it opens, for the report's pcap.
    ``forward`` (``(host, port)`` of a real DNS server) relays what the zones do not
    cover, at most ``forward_max_pending`` queries at a time, each waiting at most
    ``forward_timeout`` seconds (see the module's docstring).
    """

    def __init__(
        self,
        zones: Iterable[Zone | Mapping[str, Any]],
        reactor: IReactor,
        *,
        faults: Iterable[Fault | Mapping[str, Any]] = (),
        clock: IReactorTime | None = None,
        on_query: Callable[[QueryLogEntry], None] | None = None,
        tcp_idle_timeout: float = 30.0,
        capture: Capture | None = None,
        log_limit: int | None = QUERY_LOG_LIMIT,
        forward: tuple[str, int] | None = None,
        forward_timeout: float = DEFAULT_TIMEOUT,
        forward_max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self.zones = _coerce_zones(zones)
        self.forward = forward
        self.forward_timeout = forward_timeout
        self.forward_max_pending = forward_max_pending
        self._forwarders: dict[str, Forwarder] = {}  # by listening host
        self.capture = capture
        self.reactor = reactor
        self.clock: IReactorTime = clock if clock is not None else reactor
        self.faults = FaultTable(list(faults))
        self.on_query = on_query
        self.tcp_idle_timeout = tcp_idle_timeout
        self.log: deque[QueryLogEntry] = deque(maxlen=log_limit)
        self.listening: list[Listening] = []
        self._delayed: set[IDelayedCall] = set()
        self._connections: set[_TcpProtocol] = set()
        self._answers: dict[tuple[str, bytes], _Answer] = {}

    @property
    def zones(self) -> tuple[Zone, ...]:
        """The zones served; setting them forgets every packed answer."""
        return self._zones

    @zones.setter
    def zones(self, zones: tuple[Zone, ...]) -> None:
        self._zones = zones
        self._answers = {}

    def set_faults(self, faults: Iterable[Fault | Mapping[str, Any]]) -> None:
        """Replace the faults in force (their ``times`` counts start again); the packed
        answers are forgotten."""
        self.faults = FaultTable(list(faults))
        self._answers = {}

    # -- sockets ------------------------------------------------------------------------

    def listen(self, host: str = "127.0.0.1", port: int = 0) -> Listening:
        """Listen on ``host``:``port`` over UDP and TCP; port 0 picks a free port that is
        free for both. Returns the ports and the number actually bound."""
        for _ in range(20):
            udp = self.reactor.listenUDP(port, _UdpProtocol(self), interface=host,
                                         maxPacketSize=_MAX_UDP_PACKET)
            bound = hostport(udp.getHost())[1]
            try:
                factory: Factory[Any] = _TcpFactory(self)
                if self.capture is not None:
                    factory = self.capture.wrap_factory(factory, "server")
                # listenTCP takes any Factory; Twisted's stub asks for a ServerFactory,
                # and the capture's WrappingFactory is typed as a ClientFactory.
                tcp = self.reactor.listenTCP(bound, cast(ServerFactory, factory),
                                             interface=host)
            except CannotListenError:
                udp.stopListening()
                if port:
                    raise
                continue
            listening = Listening(udp, tcp, host, bound)
            self.listening.append(listening)
            return listening
        # Twisted leaves CannotListenError.__init__ unannotated (an error only under strict).
        raise CannotListenError(  # type: ignore[no-untyped-call, unused-ignore]
            host, port, "no port free for both UDP and TCP")

    def stop(self) -> defer.Deferred[list[Any]]:
        """Stop listening, drop TCP connections, cancel delayed answers."""
        for call in list(self._delayed):
            if call.active():
                call.cancel()
        self._delayed.clear()
        for forwarder in self._forwarders.values():
            forwarder.stop()
        waits = []
        for connection in list(self._connections):
            connection.abort()
        for listening in self.listening:
            for port in (listening.udp, listening.tcp):
                waits.append(defer.maybeDeferred(port.stopListening))
        self.listening = []
        return defer.gatherResults(waits)

    # -- the controller -----------------------------------------------------------------

    def handle(self, data: bytes, client: tuple[str, int], transport: str,
               send: Callable[[bytes], None]) -> None:
        """Answer one message from ``client``. The one boundary: whatever happens, the
        server logs it and keeps serving."""
        now = self.clock.seconds()
        try:
            answer = self._answers.get((transport, bytes(data[2:])))
            if answer is not None:
                self._answer_again(answer, data, client, transport, send, now)
            else:
                self._handle(data, client, transport, send, now)
        except Exception as exc:  # the protocol boundary (STYLE.md): answer, log, go on
            self._record(QueryLogEntry(now, client, transport, "", "", "SERVFAIL",
                                       note=f"internal error: {exc!r}"))
            if len(data) >= 12:
                send(error_response(DNSHeader.parse(DNSBuffer(data[:12])), RCODE.SERVFAIL))

    def _handle(self, data: bytes, client: tuple[str, int], transport: str,
                send: Callable[[bytes], None], now: float) -> None:
        def drop(note: str, qid: int | None = None) -> None:
            self._record(QueryLogEntry(now, client, transport, "", "", None, qid=qid,
                                       note=note))

        if len(data) < 12:
            return drop(f"dropped {len(data)} bytes: shorter than a DNS header")
        header = DNSHeader.parse(DNSBuffer(data[:12]))
        if header.qr:
            return drop("dropped: a response (QR set), not a query", header.id)
        try:
            request = DNSRecord.parse(data)
        except _MALFORMED as exc:
            return self._refuse(header, None, RCODE.FORMERR, f"malformed query: {exc}",
                                client, transport, send, now)
        if header.opcode != OPCODE.QUERY:
            return self._refuse(header, request, RCODE.NOTIMP,
                                f"opcode {OPCODE.get(header.opcode)} not implemented",
                                client, transport, send, now)
        opts = [rr for rr in request.ar if rr.rtype == QTYPE.OPT]
        if len(request.questions) != 1 or len(opts) > 1:
            return self._refuse(header, request, RCODE.FORMERR,
                                f"{len(request.questions)} questions, {len(opts)} OPT records",
                                client, transport, send, now)
        question = request.questions[0]
        qname = normalize_qname(question.qname)
        qtype = str(QTYPE.get(question.qtype))
        if question.qclass not in (CLASS.IN, _CLASS_ANY):
            return self._refuse(header, request, RCODE.REFUSED,
                                f"class {CLASS.get(question.qclass)} not served",
                                client, transport, send, now, qname=qname, qtype=qtype)
        fault = self.faults.match(qname, qtype)
        entry = dict(time=now, client=client, transport=transport, qname=qname, qtype=qtype,
                     qid=header.id, fault=fault.label if fault else None)
        if fault is not None and fault.kind == "timeout":
            self._record(QueryLogEntry(**entry, rcode=None, note="not answered (timeout fault)"))
            return None
        if fault is not None and fault.kind in ("servfail", "refused"):
            reply = Reply(getattr(RCODE, fault.kind.upper()), authoritative=False)
        elif self.forward is not None and find_zone(self.zones, qname) is None:
            return self._relay(data, request, entry, transport, send,
                               fault.seconds if fault is not None else 0.0)
        else:
            reply = lookup(self.zones, qname, qtype)
        limit = udp_limit(request) if transport == "udp" else None
        payload, truncated = build_response(request, reply, limit)
        sent = DNSRecord.parse(payload)
        if fault is not None and fault.kind == "delay":
            self._later(fault.seconds, send, payload)
        else:
            send(payload)
        logged = QueryLogEntry(
            **entry, rcode=reply.rcode_name, answer=tuple(_rr_text(rr) for rr in sent.rr),
            truncated=truncated, authoritative=reply.authoritative, size=len(payload))
        if fault is None:
            self._keep(transport, data, payload, logged)
        # Logged last: an on_query callback may drive the clock or the reactor.
        self._record(logged)
        return None

    def _keep(self, transport: str, query: bytes, payload: bytes, logged: QueryLogEntry) -> None:
        """Keep the packed answer to a query no fault touched, by the query's bytes less
        its ID (the question's name as spelt, type, class, flags and EDNS: everything
        the answer depends on with the zones and faults in force). Faults only stop
        matching as their ``times`` run out, so an answer no fault touched stays right
        until :meth:`set_faults` or new zones forget them all."""
        if len(self._answers) >= _ANSWERS_KEPT:
            self._answers = {}
        self._answers[(transport, bytes(query[2:]))] = _Answer(bytes(payload[2:]), logged)

    def _answer_again(self, answer: _Answer, query: bytes, client: tuple[str, int],
                      transport: str, send: Callable[[bytes], None], now: float) -> None:
        """A kept answer with the query's ID patched in (RFC 1035 §4.1.1), logged as
        the full path logs it."""
        send(bytes(query[:2]) + answer.payload)
        was = answer.logged
        self._record(QueryLogEntry(now, client, transport, was.qname, was.qtype, was.rcode,
                                   was.answer, None, was.truncated, was.authoritative,
                                   int.from_bytes(query[:2], "big"), was.size))

    def _relay(self, data: bytes, request: DNSRecord, entry: dict[str, Any], transport: str,
               send: Callable[[bytes], None], delay: float) -> None:
        """Forward the query; pass the answer back (after ``delay``) and log it then."""
        forwarder = self._forwarder(self.listening[0].host if self.listening else "127.0.0.1")

        def answered(payload: bytes | None, note: str) -> None:
            if payload is None:
                self._record(QueryLogEntry(**entry, rcode=None, note=note))
                return
            if delay > 0:
                self._later(delay, send, payload)
            else:
                send(payload)
            self._record(_relayed_entry(entry, payload, note))

        if not forwarder.relay(data, transport, answered):
            header = request.header
            payload = error_response(header, RCODE.SERVFAIL, request)
            send(payload)
            self._record(QueryLogEntry(**entry, rcode="SERVFAIL", size=len(payload),
                                       note=f"not relayed: {forwarder.max_pending} queries "
                                            "already in flight"))

    def _forwarder(self, host: str) -> Forwarder:
        assert self.forward is not None
        if host not in self._forwarders:
            self._forwarders[host] = Forwarder(
                self.reactor, self.forward, listen_host=host, timeout=self.forward_timeout,
                max_pending=self.forward_max_pending, capture=self.capture, clock=self.clock)
        return self._forwarders[host]

    def _refuse(self, header: DNSHeader, request: DNSRecord | None, rcode: int, note: str,
                client: tuple[str, int], transport: str, send: Callable[[bytes], None],
                now: float, qname: str = "", qtype: str = "") -> None:
        payload = error_response(header, rcode, request)
        send(payload)
        self._record(QueryLogEntry(now, client, transport, qname, qtype, str(RCODE.get(rcode)),
                                   qid=header.id, size=len(payload), note=note))

    def _later(self, seconds: float, send: Callable[[bytes], None], payload: bytes) -> None:
        def fire() -> None:
            self._delayed.discard(call)
            send(payload)

        call = self.clock.callLater(seconds, fire)
        self._delayed.add(call)

    def _record(self, entry: QueryLogEntry) -> None:
        self.log.append(entry)
        if self.on_query is not None:
            self.on_query(entry)


class _UdpProtocol(DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        client = (addr[0], addr[1])
        transport = self.transport
        assert transport is not None  # a datagram arrived: the port is open
        capture = self.server.capture
        if capture is None:
            def send(payload: bytes) -> None:
                if self.transport is not None:
                    self.transport.write(payload, addr)

            self.server.handle(datagram, client, "udp", send)
            return
        local = hostport(transport.getHost())
        capture.datagram(client, local, datagram, sent=False)

        def send_captured(payload: bytes) -> None:
            if self.transport is not None:
                self.transport.write(payload, addr)
                capture.datagram(local, client, payload, sent=True)

        self.server.handle(datagram, client, "udp", send_captured)


class _TcpProtocol(Protocol):
    """RFC 1035 §4.2.2 framing: each message behind a two-byte length."""

    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.buffer = b""
        self.open = False
        self.idle: IDelayedCall | None = None

    @property
    def stream(self) -> ITCPTransport:
        """The connection (set by ``makeConnection`` before any other call)."""
        assert self.transport is not None
        # Twisted types Protocol.transport as ITransport; a TCP connection's can abort too.
        return cast(ITCPTransport, self.transport)

    def connectionMade(self) -> None:
        self.open = True
        self.server._connections.add(self)
        self._arm()

    def _arm(self) -> None:
        if self.idle is not None and self.idle.active():
            self.idle.cancel()
        if self.server.tcp_idle_timeout:
            self.idle = self.server.clock.callLater(self.server.tcp_idle_timeout,
                                                    self.stream.loseConnection)

    def dataReceived(self, data: bytes) -> None:
        self._arm()
        self.buffer += data
        peer = hostport(self.stream.getPeer())
        while len(self.buffer) >= 2:
            size = int.from_bytes(self.buffer[:2], "big")
            if len(self.buffer) < 2 + size:
                break
            message, self.buffer = self.buffer[2:2 + size], self.buffer[2 + size:]
            self.server.handle(message, peer, "tcp", self._send)

    def _send(self, payload: bytes) -> None:
        if self.open:
            self.stream.write(len(payload).to_bytes(2, "big") + payload)

    def abort(self) -> None:
        if self.transport is not None:
            self.stream.abortConnection()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.open = False
        self.server._connections.discard(self)
        if self.idle is not None and self.idle.active():
            self.idle.cancel()
        self.idle = None


class _TcpFactory(ServerFactory):
    def __init__(self, server: DnsServer) -> None:
        self.server = server

    def buildProtocol(self, addr: IAddress | None) -> _TcpProtocol:
        return _TcpProtocol(self.server)
