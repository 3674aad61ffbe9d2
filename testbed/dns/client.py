"""The Twisted adapter of :mod:`testbed.dns`: asks the given DNS servers, never the system
resolver.

:class:`DnsClient` sends each query over UDP (a fresh connected socket per query),
retries after ``timeout`` seconds up to ``attempts`` times, moves to the next server on
a timeout or an error rcode, and repeats the query over TCP when the UDP answer comes
back truncated. Answers are cached for their TTL (NXDOMAIN/NODATA for the SOA minimum,
RFC 2308) by the injected clock. :meth:`DnsClient.resolve` drives an
:class:`~testbed.dns.Rfc3263Plan` and returns a :class:`~testbed.dns.Resolution`.

Networking goes through ``reactor`` and every timer through ``clock`` (the reactor by
default), so tests can keep real sockets and still drive time with ``task.Clock``.

This is the one module of the package that imports Twisted: the plan and the records
(:mod:`testbed.dns`) stay importable without it.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import cast

from twisted.internet import defer, endpoints
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IListeningPort,
    IReactorTime,
    ITCPTransport,
)
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.python.failure import Failure

from testbed.reactor import IReactor
from testbed.sip import AUTO, SipUri, fmt_hostport

from ._plan import DEFAULT_SUPPORTED, Resolution, Rfc3263Plan
from ._records import AddressRecord, QueryFailed, QueryRecord, normalize_name
from .wire import Answer, MalformedResponse, decode_response, encode_query

_RETRY_NEXT_SERVER = frozenset({"SERVFAIL", "REFUSED", "NOTIMP", "FORMERR"})
_MAX_CNAME_HOPS = 8


class DnsError(Exception):
    """A query that got no usable answer at all."""


class DnsTimeout(DnsError):
    """No server answered in time (every attempt on every server timed out)."""


class DnsUnreachable(DnsError):
    """The server refused: ICMP port unreachable over UDP or a refused TCP connection."""


def parse_server(server: str | tuple[str, int]) -> tuple[str, int]:
    """``"127.0.0.1:5353"``, ``"[::1]:53"``, ``"127.0.0.1"`` or a tuple → (ip, port)."""
    if isinstance(server, tuple):
        host, port = server
    else:
        text = server.strip()
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 53
        elif text.count(":") == 1:
            host, _, port_text = text.partition(":")
            port = int(port_text)
        else:
            host, port = text, 53
    ipaddress.ip_address(host)  # servers are given as IP addresses, never looked up
    if not 0 < int(port) <= 65535:
        raise ValueError(f"DNS server port out of range: {port}")
    return host, int(port)


def _bind_interface(host: str) -> str:
    address = ipaddress.ip_address(host)
    if address.is_loopback:
        return str(address)
    return "::" if address.version == 6 else ""


class _Cache:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[float, Answer]] = {}

    def get(self, key: tuple[str, str], now: float) -> Answer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, answer = entry
        if now >= expires:
            del self._entries[key]
            return None
        return answer

    def put(self, key: tuple[str, str], answer: Answer, now: float) -> None:
        if answer.rcode == "NXDOMAIN" or (answer.rcode == "NOERROR" and not answer.records):
            ttl = answer.negative_ttl
        elif answer.rcode == "NOERROR":
            ttl = min(r.ttl for r in answer.records)
        else:
            ttl = None  # errors are never cached
        if ttl:
            self._entries[key] = (now + ttl, answer)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class _Exchange:
    """Shared bookkeeping of one UDP or TCP exchange: one result, timers cancelled."""

    def __init__(self, clock: IReactorTime, qid: int, name: str, rtype: str,
                 server: tuple[str, int], transport: str) -> None:
        self.clock = clock
        self.qid = qid
        self.name = name
        self.rtype = rtype
        self.server = server
        self.transport_name = transport
        self.deferred: defer.Deferred[Answer] = defer.Deferred()
        self.timer: IDelayedCall | None = None
        self.ignored: list[str] = []
        self.attempts = 0

    @property
    def finished(self) -> bool:
        return self.deferred.called

    def decode(self, data: bytes) -> Answer | None:
        try:
            return decode_response(data, self.qid, self.name, self.rtype,
                                   server=fmt_hostport(self.server),
                                   transport=self.transport_name)
        except MalformedResponse as exc:
            self.ignored.append(str(exc))
            return None

    def finish(self, result: Answer | DnsError) -> None:
        if self.finished:
            return
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None
        if isinstance(result, Exception):
            self.deferred.errback(result)
        else:
            self.deferred.callback(result)


class _UdpQuery(DatagramProtocol):
    def __init__(self, exchange: _Exchange, payload: bytes, timeout: float,
                 attempts: int) -> None:
        self.exchange = exchange
        self.payload = payload
        self.timeout = timeout
        self.max_attempts = attempts

    def startProtocol(self) -> None:
        # Connected UDP: only the server's datagrams arrive, and ICMP errors are reported.
        assert self.transport is not None  # set before the port starts the protocol
        self.transport.connect(*self.exchange.server)
        self._send()

    def _send(self) -> None:
        exchange = self.exchange
        exchange.attempts += 1
        exchange.timer = exchange.clock.callLater(self.timeout, self._expired)
        assert self.transport is not None
        self.transport.write(self.payload, None)  # None: to the connected address

    def _expired(self) -> None:
        self.exchange.timer = None
        if self.exchange.attempts < self.max_attempts:
            self._send()
        else:
            self.exchange.finish(DnsTimeout(
                f"no answer from {fmt_hostport(self.exchange.server)} over UDP after "
                f"{self.exchange.attempts} attempt(s) of {self.timeout:g}s"))

    def datagramReceived(self, data: bytes, addr: object) -> None:
        answer = self.exchange.decode(data)
        if answer is not None:
            self.exchange.finish(answer)

    def connectionRefused(self) -> None:
        self._unreachable()

    def stopProtocol(self) -> None:
        # The epoll reactor closes a connected UDP port on an ICMP error instead of
        # calling connectionRefused; either way, nobody is listening there.
        self._unreachable()

    def _unreachable(self) -> None:
        self.exchange.finish(DnsUnreachable(
            f"{fmt_hostport(self.exchange.server)} refused (ICMP port unreachable): "
            "no DNS server listening there"))


class _TcpQuery(Protocol):
    def __init__(self, exchange: _Exchange, payload: bytes) -> None:
        self.exchange = exchange
        self.payload = payload
        self.buffer = b""

    def connectionMade(self) -> None:
        self.exchange.attempts += 1
        assert self.transport is not None
        self.transport.write(len(self.payload).to_bytes(2, "big") + self.payload)

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 2 and not self.exchange.finished:
            size = int.from_bytes(self.buffer[:2], "big")
            if len(self.buffer) < 2 + size:
                return
            message, self.buffer = self.buffer[2:2 + size], self.buffer[2 + size:]
            answer = self.exchange.decode(message)
            if answer is not None:
                self.exchange.finish(answer)
                assert self.transport is not None
                self.transport.loseConnection()

    def abort(self) -> None:
        """Drop the connection at once, if there is one."""
        if self.transport is not None:
            # Every TCP transport of a reactor provides ITCPTransport.
            cast(ITCPTransport, self.transport).abortConnection()

    def connectionLost(self, reason: object = None) -> None:
        self.exchange.finish(DnsError(
            f"{fmt_hostport(self.exchange.server)} closed the TCP connection before "
            "answering"))


class _OneProtocol(Factory):
    """Builds the one protocol it was given (``endpoints.connectProtocol``, typed)."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol_instance = protocol

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        return self.protocol_instance


def _fire(result: object, waiter: defer.Deferred[None]) -> None:
    waiter.callback(None)


class DnsClient:
    """Query the DNS servers given (IP addresses with ports), never the system resolver.

    ``reactor`` opens the UDP and TCP sockets; ``clock`` (the reactor by default) runs
    the timers. ``timeout`` is per attempt, ``attempts`` per server over UDP (TCP gets
    one attempt of ``timeout`` per server; ``tcp_only`` skips UDP). ``id_rng`` draws
    query ids; ``on_query`` receives each :class:`~testbed.dns.QueryRecord` as it is made.
    """

    def __init__(
        self,
        servers: Iterable[str | tuple[str, int]],
        reactor: IReactor,
        *,
        clock: IReactorTime | None = None,
        timeout: float = 1.0,
        attempts: int = 2,
        edns_payload: int | None = None,
        cache: bool = True,
        id_rng: random.Random | None = None,
        on_query: Callable[[QueryRecord], None] | None = None,
        tcp_only: bool = False,
    ) -> None:
        self.servers = [parse_server(s) for s in servers]
        if not self.servers:
            raise ValueError("at least one DNS server is needed")
        if timeout <= 0 or attempts < 1:
            raise ValueError("timeout must be > 0 and attempts >= 1")
        self.reactor = reactor
        self.clock: IReactorTime = clock if clock is not None else reactor
        self.timeout = timeout
        self.attempts = attempts
        self.edns_payload = edns_payload
        self.cache = _Cache() if cache else None
        self.id_rng: random.Random = id_rng if id_rng is not None else random.SystemRandom()
        self.on_query = on_query
        self.tcp_only = tcp_only
        self.log: list[QueryRecord] = []
        self._open: set[_UdpQuery | _TcpQuery] = set()
        self._stopping: set[defer.Deferred[None]] = set()

    # -- single queries -----------------------------------------------------------------

    def query(self, name: str, rtype: str) -> defer.Deferred[Answer]:
        """Deferred[:class:`Answer`]: any rcode is an answer; no answer at all fails
        with :class:`DnsTimeout` or :class:`DnsUnreachable`. Follows CNAMEs."""
        return defer.ensureDeferred(self._query(normalize_name(name), rtype, [], 0))

    async def _query(self, name: str, rtype: str, sink: list[QueryRecord],
                     hops: int) -> Answer:
        key = (name, rtype)
        if self.cache is not None:
            cached = self.cache.get(key, self.clock.seconds())
            if cached is not None:
                self._record(sink, QueryRecord(self.clock.seconds(), name, rtype,
                                               cached.server, "cache", cached.rcode,
                                               cached.summary()))
                return replace(cached, transport="cache")
        answer = await self._ask_servers(name, rtype, sink)
        canonical = answer.canonical_name
        if (answer.rcode == "NOERROR" and rtype != "CNAME" and canonical != name
                and not answer.of_type(rtype) and hops < _MAX_CNAME_HOPS):
            rest = await self._query(canonical, rtype, sink, hops + 1)
            answer = replace(answer, rcode=rest.rcode, records=answer.records + rest.records,
                             authority=rest.authority)
        if self.cache is not None:
            self.cache.put(key, answer, self.clock.seconds())
        return answer

    async def _ask_servers(self, name: str, rtype: str, sink: list[QueryRecord]) -> Answer:
        last_answer: Answer | None = None
        errors: list[DnsError] = []
        for server in self.servers:
            try:
                if self.tcp_only:
                    answer = await self._tcp(server, name, rtype, sink)
                else:
                    answer = await self._udp(server, name, rtype, sink)
                    if answer.truncated:
                        answer = await self._tcp(server, name, rtype, sink)
            except DnsError as exc:
                errors.append(exc)
                continue
            if answer.rcode in _RETRY_NEXT_SERVER:
                last_answer = answer
                continue
            return answer
        if last_answer is not None:
            return last_answer
        if all(isinstance(e, DnsTimeout) for e in errors):
            raise DnsTimeout("; ".join(str(e) for e in errors))
        raise errors[-1] if len(errors) == 1 else DnsError("; ".join(str(e) for e in errors))

    def _payload(self, name: str, rtype: str) -> tuple[int, bytes]:
        qid = self.id_rng.randrange(0, 65536)
        return qid, encode_query(name, rtype, qid, edns_payload=self.edns_payload)

    async def _udp(self, server: tuple[str, int], name: str, rtype: str,
                   sink: list[QueryRecord]) -> Answer:
        qid, payload = self._payload(name, rtype)
        exchange = _Exchange(self.clock, qid, name, rtype, server, "udp")
        started = self.clock.seconds()
        query = _UdpQuery(exchange, payload, self.timeout, self.attempts)
        port = self.reactor.listenUDP(0, query, interface=_bind_interface(server[0]),
                                      maxPacketSize=8192)
        self._open.add(query)
        try:
            answer = await self._answer(exchange, started, sink)
        finally:
            self._open.discard(query)
            self._stop_port(port)
        note = "truncated (TC): retrying over TCP" if answer.truncated else ""
        self._log_exchange(sink, started, exchange, answer.rcode, answer.summary(), note)
        return answer

    async def _tcp(self, server: tuple[str, int], name: str, rtype: str,
                   sink: list[QueryRecord]) -> Answer:
        qid, payload = self._payload(name, rtype)
        exchange = _Exchange(self.clock, qid, name, rtype, server, "tcp")
        started = self.clock.seconds()
        host, port = server
        endpoint_type = (endpoints.TCP6ClientEndpoint if ":" in host
                         else endpoints.TCP4ClientEndpoint)
        endpoint = endpoint_type(self.reactor, host, port)
        protocol = _TcpQuery(exchange, payload)
        connecting = endpoint.connect(_OneProtocol(protocol))

        def expired() -> None:
            exchange.timer = None
            if protocol.transport is not None:
                protocol.abort()
            else:
                connecting.cancel()
            exchange.finish(DnsTimeout(
                f"no answer from {fmt_hostport(server)} over TCP within {self.timeout:g}s"))

        def refused(failure: Failure) -> None:
            reason = failure.value
            exchange.finish(DnsUnreachable(
                f"TCP connection to {fmt_hostport(server)} failed: {reason}"))

        exchange.timer = self.clock.callLater(self.timeout, expired)
        connecting.addErrback(refused)
        self._open.add(protocol)
        try:
            answer = await self._answer(exchange, started, sink)
        finally:
            self._open.discard(protocol)
        self._log_exchange(sink, started, exchange, answer.rcode, answer.summary())
        return answer

    async def _answer(self, exchange: _Exchange, started: float,
                      sink: list[QueryRecord]) -> Answer:
        """The answer of ``exchange``; a failure is logged, then raised."""
        try:
            return await exchange.deferred
        except DnsError as exc:
            outcome = "TIMEOUT" if isinstance(exc, DnsTimeout) else "ERROR"
            self._log_exchange(sink, started, exchange, outcome, str(exc))
            raise

    def _stop_port(self, port: IListeningPort) -> None:
        stopped = port.stopListening()
        if isinstance(stopped, defer.Deferred) and not stopped.called:
            self._stopping.add(stopped)
            stopped.addBoth(lambda result: self._stopping.discard(stopped))

    def _log_exchange(self, sink: list[QueryRecord], started: float, exchange: _Exchange,
                      outcome: str, summary: str, note: str = "") -> None:
        if exchange.ignored:
            ignored = f"ignored {len(exchange.ignored)} stray message(s): {exchange.ignored[0]}"
            note = f"{note}; {ignored}" if note else ignored
        self._record(sink, QueryRecord(started, exchange.name, exchange.rtype,
                                       fmt_hostport(exchange.server),
                                       exchange.transport_name, outcome, summary,
                                       max(exchange.attempts, 1), note))

    def _record(self, sink: list[QueryRecord], record: QueryRecord) -> None:
        sink.append(record)
        self.log.append(record)
        if self.on_query is not None:
            self.on_query(record)

    # -- RFC 3263 -----------------------------------------------------------------------

    def resolve(self, uri: str | SipUri, mode: str = AUTO,
                supported: Sequence[str] = DEFAULT_SUPPORTED,
                rng: random.Random | None = None, *, families: Sequence[str] = ("A", "AAAA"),
                srv_prefixes: Mapping[str, str] | None = None) -> defer.Deferred[Resolution]:
        """Deferred[:class:`Resolution`]; DNS failures end up in the trace, not as errors.

        Resolves afresh each call (answers come from the TTL cache while valid), so a
        client calling it on every attempt honours TTLs. ``rng`` seeds the RFC 2782
        weighted choice (a fixed seed by default, for reproducible runs); the other
        arguments are :class:`~testbed.dns.Rfc3263Plan`'s.
        """
        plan = Rfc3263Plan(uri, mode, supported, rng, families=families,
                           srv_prefixes=srv_prefixes)
        return defer.ensureDeferred(self._drive(plan))

    async def _drive(self, plan: Rfc3263Plan) -> Resolution:
        sink: list[QueryRecord] = []
        while (query := plan.next_query()) is not None:
            try:
                answer = await self._query(normalize_name(query.name), query.type, sink, 0)
            except DnsTimeout as exc:
                plan.answer(query, QueryFailed("TIMEOUT", str(exc)))
                continue
            except DnsError as exc:
                plan.answer(query, QueryFailed("ERROR", str(exc)))
                continue
            if answer.rcode == "NOERROR":
                plan.answer(query, answer.records)
            elif answer.rcode in ("NXDOMAIN", "SERVFAIL", "REFUSED", "FORMERR", "NOTIMP"):
                plan.answer(query, QueryFailed(answer.rcode, f"from {answer.server}"))
            else:
                plan.answer(query, QueryFailed("ERROR", f"rcode {answer.rcode}"))
        return plan.resolution(sink)

    def resolve_host(self, name: str) -> defer.Deferred[list[str]]:
        """Deferred[list[str]]: the A then AAAA addresses of ``name`` (a numeric IP is
        returned as is). Fails with the first error only if no address was found."""
        return defer.ensureDeferred(self._resolve_host(name))

    async def _resolve_host(self, name: str) -> list[str]:
        try:
            return [str(ipaddress.ip_address(name))]
        except ValueError:
            pass
        addresses: list[str] = []
        errors: list[Exception] = []
        for rtype in ("A", "AAAA"):
            try:
                answer = await self._query(normalize_name(name), rtype, [], 0)
            except DnsError as exc:
                errors.append(exc)
                continue
            addresses += [r.address for r in answer.records
                          if isinstance(r, AddressRecord) and r.type == rtype]
        if not addresses and errors:
            raise errors[0]
        return addresses

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> defer.Deferred[list[None]]:
        """Abort the exchanges still open; the Deferred fires when their sockets are shut."""
        for query in list(self._open):
            query.exchange.finish(DnsError("client closed"))
            if isinstance(query, _TcpQuery):
                query.abort()
            # A UDP query's port is stopped once its exchange is finished (see _udp).
        self._open.clear()
        waits = []
        for stopping in list(self._stopping):
            wait: defer.Deferred[None] = defer.Deferred()
            stopping.addBoth(_fire, wait)
            waits.append(wait)
        return defer.gatherResults(waits)


__all__ = ["DnsClient", "DnsError", "DnsTimeout", "DnsUnreachable", "parse_server"]
