"""The DNS barrage: malformed queries at a served world's DNS server, with liveness checks.

Three kinds of bad input, drawn from a seeded ``random.Random`` so a run repeats:

- garbage: random bytes, 1 to 600 of them (some behind a plausible header);
- mutated: a well-formed NAPTR, SRV or A query (RFC 1035 §4.1) with 1 to 6 edits: a
  byte flipped, bytes inserted or deleted, a section count made huge, a label length
  pointing past the end, a compression pointer to itself (a loop, §4.1.4), the QR or
  opcode bits set;
- truncated: a well-formed query cut anywhere, the 12-byte header included.

Over UDP each is one datagram from one socket. Over TCP (RFC 1035 §4.2.2, RFC 7766)
each batch of ``every`` messages goes on a connection of its own, each behind its two-
byte length, some lengths wrong too; then our half-close. Every ``every`` messages a
well-formed query for ``live<n>.<domain>`` must be answered (the name in the answer
says which): over UDP re-sent every 0.5 s, over TCP on a fresh connection, within
:data:`LIVENESS_TIMEOUT`.
"""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

from twisted.internet import defer, protocol
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import TimeoutError as TwistedTimeoutError

from testbed.reactor import IReactor

from ._dns import queries
from ._served import ServedWorld

LIVENESS_TIMEOUT = 5.0
KINDS = ("garbage", "mutated", "truncated")
_HEADER = 12


def _mutate(rng: random.Random, query: bytes) -> bytes:
    data = bytearray(query)
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(data)) if data else 0
        edit = rng.randrange(7)
        if edit == 0 and data:
            data[at] ^= 1 << rng.randrange(8)
        elif edit == 1:
            data[at:at] = rng.randbytes(rng.randint(1, 20))
        elif edit == 2:
            del data[at:at + rng.randint(1, 20)]
        elif edit == 3 and len(data) >= _HEADER:  # QDCOUNT, ANCOUNT, NSCOUNT or ARCOUNT
            section = 4 + 2 * rng.randrange(4)
            data[section:section + 2] = struct.pack("!H", rng.choice([0, 2, 255, 0xFFFF]))
        elif edit == 4 and len(data) > _HEADER:  # a label longer than what is left
            data[_HEADER] = rng.choice([63, 64, 0x3F, 0xBF, 0xFF])
        elif edit == 5 and len(data) > _HEADER + 1:  # a pointer to itself
            data[_HEADER:_HEADER + 2] = b"\xc0\x0c"
        elif len(data) >= 3:  # QR (a response sent as a query) or an opcode we lack
            data[2] |= rng.choice([0x80, 0x10, 0x28, 0x78])
    return bytes(data)


def bad_queries(rng: random.Random, domain: str) -> Iterator[tuple[str, bytes]]:
    """An endless seeded stream of (kind, bytes) of bad DNS input."""
    bodies = [bytes(query[2:]) for query in queries(domain)]  # the IDs are random: ours
    while True:
        kind = rng.choice(KINDS)
        if kind == "garbage":
            data = rng.randbytes(rng.randint(1, 600))
            if rng.random() < 0.3:  # an ID, flags 0x0100, one question, then noise
                data = rng.randbytes(2) + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + data
        elif kind == "mutated":
            data = _mutate(rng, rng.randbytes(2) + rng.choice(bodies))
        else:
            original = rng.randbytes(2) + rng.choice(bodies)
            data = original[:rng.randrange(1, len(original))]
        yield kind, data or b"\0"


def probe(domain: str, tag: str) -> tuple[bytes, bytes]:
    """The liveness query for ``live<tag>.<domain>``, and the label its answer holds."""
    from dnslib import DNSRecord

    label = f"live{tag}".encode("ascii")
    query = bytes(DNSRecord.question(f"live{tag}.{domain}", "A").pack())
    return query, bytes([len(label)]) + label


class _Answers:
    def __init__(self) -> None:
        self.responses = 0
        self.waiting: dict[bytes, defer.Deferred[None]] = {}

    def seen(self, message: bytes) -> None:
        self.responses += 1
        for label, waiter in list(self.waiting.items()):
            if label in message and not waiter.called:
                del self.waiting[label]
                waiter.callback(None)


class _UdpSide(protocol.DatagramProtocol):
    def __init__(self, answers: _Answers) -> None:
        self.answers = answers

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.answers.seen(datagram)

    def send(self, data: bytes, address: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.write(data, address)


class _TcpSide(protocol.Protocol):
    def __init__(self, answers: _Answers) -> None:
        self.answers = answers
        self.buffer = b""
        self.closed: defer.Deferred[None] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 2:
            size = int.from_bytes(self.buffer[:2], "big")
            if len(self.buffer) < 2 + size:
                break
            self.answers.seen(self.buffer[2:2 + size])
            self.buffer = self.buffer[2 + size:]

    def connectionLost(self, reason: object = None) -> None:
        if not self.closed.called:
            self.closed.callback(None)


def frame(rng: random.Random, message: bytes) -> bytes:
    """A message behind its TCP length (RFC 1035 §4.2.2), one in twenty a wrong one."""
    size = len(message) if rng.random() >= 0.05 else rng.choice([0, 1, len(message) + 1])
    return size.to_bytes(2, "big") + message


async def dns_barrage(reactor: IReactor, world: ServedWorld, transport: str, *, count: int,
                      seed: int, every: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Send ``count`` bad DNS messages over ``transport`` (UDP or TCP); the figures."""
    assert world.dns is not None, "the served world has a DNS server"
    host, port = world.dns
    domain = world.domain
    rng = random.Random(seed)
    stream = bad_queries(rng, domain)
    answers = _Answers()
    kinds = dict.fromkeys(KINDS, 0)
    checks = answered = sent = 0
    late: list[int] = []
    udp = _UdpSide(answers) if transport == "UDP" else None
    listening = reactor.listenUDP(0, udp, interface="127.0.0.1", maxPacketSize=65535) \
        if udp is not None else None
    rss_before = world.rss_kib()
    started = time.monotonic()
    try:
        while sent < count and world.alive():
            batch = []
            for _ in range(min(every, count - sent)):
                kind, data = next(stream)
                kinds[kind] += 1
                batch.append(data)
            sent += len(batch)
            if udp is not None:
                for data in batch:
                    udp.send(data, (host, port))
            else:
                await _tcp_batch(reactor, host, port,
                                 b"".join(frame(rng, data) for data in batch), answers)
            checks += 1
            if await _alive(reactor, udp, host, port, probe(domain, f"{seed}x{checks}"),
                            answers):
                answered += 1
            else:
                late.append(sent)
    finally:
        if listening is not None:
            await defer.maybeDeferred(listening.stopListening)
    elapsed = time.monotonic() - started
    figures: dict[str, Any] = {
        "transport": transport, "seed": seed, "messages": sent, "kinds": kinds,
        "checks": checks, "answered": answered, "unanswered_after": late[:20],
        "responses": answers.responses, "seconds": round(elapsed, 1),
        "rate": round(sent / elapsed) if elapsed > 0 else 0, "alive": world.alive(),
        "rss_before_kib": rss_before, "rss_after_kib": world.rss_kib() if world.alive() else 0}
    say(f"  DNS barrage {transport} seed {seed}: {sent:,} queries in {elapsed:.0f} s "
        f"({figures['rate']:,}/s), liveness {answered:,}/{checks:,} answered, "
        f"{answers.responses:,} responses, server {'up' if figures['alive'] else 'DOWN'}, "
        f"RSS {rss_before / 1024:.0f} -> {figures['rss_after_kib'] / 1024:.0f} MiB")
    return figures


async def _connect(reactor: IReactor, host: str, port: int, answers: _Answers) -> _TcpSide:
    endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=LIVENESS_TIMEOUT)
    side: _TcpSide = await connectProtocol(endpoint, _TcpSide(answers))
    return side


async def _tcp_batch(reactor: IReactor, host: str, port: int, data: bytes,
                     answers: _Answers) -> None:
    """One connection carries the batch, then our half-close; closed by us after
    :data:`LIVENESS_TIMEOUT` if the server keeps it."""
    try:
        side = await _connect(reactor, host, port, answers)
    except (OSError, TwistedTimeoutError, defer.CancelledError):
        return  # a refused connection is the liveness check's business
    assert side.transport is not None
    side.transport.write(data)
    side.transport.loseWriteConnection()  # type: ignore[attr-defined]  # ITCPTransport
    timeout = reactor.callLater(LIVENESS_TIMEOUT, side.closed.cancel)
    try:
        await side.closed
    except defer.CancelledError:
        side.transport.abortConnection()  # type: ignore[attr-defined]
    finally:
        if timeout.active():
            timeout.cancel()


async def _alive(reactor: IReactor, udp: _UdpSide | None, host: str, port: int,
                 query: tuple[bytes, bytes], answers: _Answers) -> bool:
    """Send the liveness query; True if answered within :data:`LIVENESS_TIMEOUT`."""
    message, label = query
    waiter: defer.Deferred[None] = defer.Deferred()
    answers.waiting[label] = waiter
    side = None
    calls = []
    if udp is not None:
        at = 0.0
        while at < LIVENESS_TIMEOUT:
            calls.append(reactor.callLater(at, udp.send, message, (host, port)))
            at += 0.5
    else:
        try:
            side = await _connect(reactor, host, port, answers)
        except (OSError, TwistedTimeoutError, defer.CancelledError):
            answers.waiting.clear()
            return False
        assert side.transport is not None
        side.transport.write(len(message).to_bytes(2, "big") + message)
    calls.append(reactor.callLater(LIVENESS_TIMEOUT, waiter.cancel))
    try:
        await waiter
        return True
    except defer.CancelledError:
        return False
    finally:
        answers.waiting.clear()
        for call in calls:
            if call.active():
                call.cancel()
        if side is not None and side.transport is not None:
            side.transport.loseConnection()
