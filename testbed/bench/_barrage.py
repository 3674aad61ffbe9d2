"""The barrage: malformed SIP at a served registrar, with liveness checks.

The driver (:func:`run_barrage`) is the same for every protocol: a :class:`Target`
gives the bad input, how a batch goes on a TCP connection, the liveness request and
what its answer holds (the DNS barrage is another target, see :mod:`._dns_barrage`).

Three kinds of bad input, drawn from a seeded ``random.Random`` so a run repeats:

- garbage: random bytes, 1 to 1,400 of them (some start like SIP);
- mutated: a well-formed request or response (REGISTER with credentials, OPTIONS,
  INVITE with SDP, BYE, 200 OK) with 1 to 8 edits: a byte flipped, bytes inserted or
  deleted, a line doubled, a CR, LF or NUL dropped in, a number made huge or negative,
  a header emptied;
- truncated: a well-formed message cut anywhere.

Every ``every`` messages an OPTIONS of our own goes to the registrar and must be
answered (retransmitted as RFC 3261 §17.1.2.2 says, within :data:`LIVENESS_TIMEOUT`;
its branch names it in the answer).
Over UDP the messages go from one socket; over TCP each batch of ``every`` messages
goes on a connection of its own (the server may close it at the first framing error,
as it should) and each liveness check on another, so a check never lands inside a body
the barrage left half-sent.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, protocol, task
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import TimeoutError as TwistedTimeoutError

from testbed.reactor import IReactor

from ._served import ServedWorld

LIVENESS_TIMEOUT = 5.0
KINDS = ("garbage", "mutated", "truncated")


def templates(host: str, port: int, transport: str) -> list[bytes]:
    """Well-formed messages to mutate and truncate (the barrage's raw material)."""
    via = f"Via: SIP/2.0/{transport} 127.0.0.1:5099;branch=z9hG4bKbarrage;rport\r\n"
    common = ("From: <sip:alice0@example.com>;tag=b1\r\nTo: <sip:alice0@example.com>\r\n"
              "Call-ID: barrage@127.0.0.1\r\nMax-Forwards: 70\r\n")
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 4000 RTP/AVP 0\r\n")
    uri = f"sip:{host}:{port}"
    messages = [
        f"REGISTER {uri} SIP/2.0\r\n{via}{common}CSeq: 2 REGISTER\r\n"
        f"Contact: <sip:alice0@127.0.0.1:5099>;expires=60\r\nExpires: 60\r\n"
        f'Authorization: Digest username="alice0", realm="example.com", nonce="abc", '
        f'uri="{uri}", response="0123456789abcdef0123456789abcdef", algorithm=MD5, '
        f'qop=auth, nc=00000001, cnonce="x"\r\nContent-Length: 0\r\n\r\n',
        f"OPTIONS {uri} SIP/2.0\r\n{via}{common}CSeq: 1 OPTIONS\r\nAccept: application/sdp"
        f"\r\nContent-Length: 0\r\n\r\n",
        f"INVITE sip:bob@{host}:{port} SIP/2.0\r\n{via}{common}CSeq: 1 INVITE\r\n"
        f"Contact: <sip:alice0@127.0.0.1:5099>\r\nContent-Type: application/sdp\r\n"
        f"Content-Length: {len(sdp)}\r\n\r\n{sdp}",
        f"BYE sip:bob@{host}:{port} SIP/2.0\r\n{via}{common}CSeq: 3 BYE\r\n"
        f"Content-Length: 0\r\n\r\n",
        f"SIP/2.0 200 OK\r\n{via}{common}CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    ]
    return [m.encode("ascii") for m in messages]


def _mutate(rng: random.Random, message: bytes) -> bytes:
    data = bytearray(message)
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(data)) if data else 0
        edit = rng.randrange(7)
        if edit == 0 and data:
            data[at] ^= 1 << rng.randrange(8)
        elif edit == 1:
            data[at:at] = rng.randbytes(rng.randint(1, 40))
        elif edit == 2:
            del data[at:at + rng.randint(1, 40)]
        elif edit == 3:
            data[at:at] = rng.choice([b"\r", b"\n", b"\0", b"\r\n", b"\r\n\r\n", b":", b";"])
        elif edit == 4:
            lines = bytes(data).split(b"\r\n")
            line = rng.randrange(len(lines))
            lines.insert(line, lines[line])
            data = bytearray(b"\r\n".join(lines))
        elif edit == 5:
            numbers = list(re.finditer(rb"\d+", bytes(data)))
            if numbers:
                found = rng.choice(numbers)
                data[found.start():found.end()] = rng.choice(
                    [b"-1", b"99999999999999999999", b"0", b"4294967296", b"1e9"])
        else:
            lines = bytes(data).split(b"\r\n")
            line = rng.randrange(len(lines))
            lines[line] = lines[line].split(b":", 1)[0] + b":"
            data = bytearray(b"\r\n".join(lines))
    return bytes(data)


def bad_messages(rng: random.Random, host: str, port: int,
                 transport: str) -> Iterator[tuple[str, bytes]]:
    """An endless seeded stream of (kind, bytes) of bad input."""
    originals = templates(host, port, transport)
    while True:
        kind = rng.choice(KINDS)
        if kind == "garbage":
            data = rng.randbytes(rng.randint(1, 1400))
            if rng.random() < 0.3:
                data = rng.choice([b"REGISTER ", b"SIP/2.0 ", b"INVITE sip:"]) + data
        elif kind == "mutated":
            data = _mutate(rng, rng.choice(originals))
        else:
            original = rng.choice(originals)
            data = original[:rng.randrange(1, len(original))]
        yield kind, data or b"\0"


def probe(host: str, port: int, transport: str, tag: str) -> bytes:
    """The liveness OPTIONS; its branch names it in the answer."""
    return (f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} 127.0.0.1:5099;branch=z9hG4bKlive{tag};rport\r\n"
            f"From: <sip:probe@example.com>;tag=live\r\nTo: <sip:{host}:{port}>\r\n"
            f"Call-ID: live{tag}@barrage\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            f"Content-Length: 0\r\n\r\n").encode("ascii")


def _whole(buffer: bytes) -> tuple[list[bytes], bytes]:
    return [buffer], b""


@dataclass
class Target:
    """What a barrage aims at, and how to speak to it.

    ``probe(tag)`` gives the liveness request as sent (over TCP too) and the bytes its
    answer holds; ``tcp_batch`` puts a batch of bad input on one connection;
    ``deframe`` splits what a TCP connection received into messages (and the rest);
    ``responses`` counts the answers in one received message.
    """

    label: str
    unit: str
    transport: str
    address: tuple[str, int]
    stream: Iterator[tuple[str, bytes]]
    kinds: tuple[str, ...]
    probe: Callable[[str], tuple[bytes, bytes]]
    tcp_batch: Callable[[list[bytes]], bytes] = b"".join
    deframe: Callable[[bytes], tuple[list[bytes], bytes]] = _whole
    responses: Callable[[bytes], int] = lambda message: 1


class _Answers:
    """Responses seen, and the liveness checks waiting for theirs (by what they hold)."""

    def __init__(self, responses: Callable[[bytes], int] = lambda message: 1) -> None:
        self.count = responses
        self.responses = 0
        self.waiting: dict[bytes, defer.Deferred[None]] = {}

    def seen(self, data: bytes) -> None:
        self.responses += self.count(data)
        for key, waiter in list(self.waiting.items()):
            if key in data:
                del self.waiting[key]
                if not waiter.called:
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
    def __init__(self, answers: _Answers,
                 deframe: Callable[[bytes], tuple[list[bytes], bytes]] = _whole) -> None:
        self.answers = answers
        self.deframe = deframe
        self.buffer = b""
        self.closed: defer.Deferred[None] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        messages, self.buffer = self.deframe(self.buffer + data)
        for message in messages:
            self.answers.seen(message)

    def connectionLost(self, reason: object = None) -> None:
        if not self.closed.called:
            self.closed.callback(None)


async def barrage(reactor: IReactor, world: ServedWorld, transport: str, *, count: int,
                  seed: int, every: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Send ``count`` bad SIP messages over ``transport`` (UDP or TCP); the figures."""
    host, port = world.addresses[transport]

    def liveness(tag: str) -> tuple[bytes, bytes]:
        return probe(host, port, transport, tag), f"z9hG4bKlive{tag};".encode()

    target = Target("barrage", "messages", transport, (host, port),
                    bad_messages(random.Random(seed), host, port, transport), KINDS,
                    liveness, responses=lambda data: data.count(b"SIP/2.0 "))
    return await run_barrage(reactor, world, target, count=count, seed=seed, every=every,
                             say=say)


async def run_barrage(reactor: IReactor, world: ServedWorld, target: Target, *, count: int,
                      seed: int, every: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Send ``count`` messages of ``target``'s bad input, a liveness check every
    ``every``; the figures."""
    answers = _Answers(target.responses)
    kinds = dict.fromkeys(target.kinds, 0)
    checks = answered = sent = 0
    late: list[int] = []
    udp = _UdpSide(answers) if target.transport == "UDP" else None
    listening = reactor.listenUDP(0, udp, interface="127.0.0.1", maxPacketSize=65535) \
        if udp is not None else None
    rss_before = world.rss_kib()
    started = time.monotonic()
    try:
        while sent < count and world.alive():
            batch = []
            for _ in range(min(every, count - sent)):
                kind, data = next(target.stream)
                kinds[kind] += 1
                batch.append(data)
            sent += len(batch)
            if udp is not None:
                for data in batch:
                    udp.send(data, target.address)
            else:
                await _tcp_batch(reactor, target, target.tcp_batch(batch), answers)
            checks += 1
            tag = f"{target.transport.lower()}{seed}-{checks}"
            if await _alive(reactor, udp, target, target.probe(tag), answers):
                answered += 1
            else:
                late.append(sent)
    finally:
        if listening is not None:
            await defer.maybeDeferred(listening.stopListening)
    elapsed = time.monotonic() - started
    figures: dict[str, Any] = {
        "transport": target.transport, "seed": seed, "messages": sent, "kinds": kinds,
        "checks": checks, "answered": answered, "unanswered_after": late[:20],
        "responses": answers.responses, "seconds": round(elapsed, 1),
        "rate": round(sent / elapsed) if elapsed > 0 else 0, "alive": world.alive(),
        "rss_before_kib": rss_before, "rss_after_kib": world.rss_kib() if world.alive() else 0,
        "tracebacks": world.tracebacks()}
    say(f"  {target.label} {target.transport} seed {seed}: {sent:,} {target.unit} in "
        f"{elapsed:.0f} s ({figures['rate']:,}/s), liveness {answered:,}/{checks:,} answered, "
        f"{answers.responses:,} responses, server {'up' if figures['alive'] else 'DOWN'}, "
        f"RSS {rss_before / 1024:.0f} -> {figures['rss_after_kib'] / 1024:.0f} MiB, "
        f"{figures['tracebacks']} tracebacks in its log")
    return figures


async def _connect(reactor: IReactor, target: Target, answers: _Answers) -> _TcpSide:
    endpoint = TCP4ClientEndpoint(reactor, *target.address, timeout=LIVENESS_TIMEOUT)
    side: _TcpSide = await connectProtocol(endpoint, _TcpSide(answers, target.deframe))
    return side


async def _tcp_batch(reactor: IReactor, target: Target, data: bytes,
                     answers: _Answers) -> None:
    """One connection carries the batch, then our half-close (FIN): the server answers
    what it could parse and closes, or closes at the first framing error; we close it
    after :data:`LIVENESS_TIMEOUT` otherwise."""
    try:
        side = await _connect(reactor, target, answers)
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


async def _alive(reactor: IReactor, udp: _UdpSide | None, target: Target,
                 liveness: tuple[bytes, bytes], answers: _Answers) -> bool:
    """Send the liveness request (retransmitted on UDP, Timer E style); True if
    answered within :data:`LIVENESS_TIMEOUT`."""
    message, key = liveness
    waiter: defer.Deferred[None] = defer.Deferred()
    answers.waiting[key] = waiter
    side = None
    calls = []
    if udp is not None:
        interval = 0.5
        at = 0.0
        while at < LIVENESS_TIMEOUT:
            calls.append(reactor.callLater(at, udp.send, message, target.address))
            at += interval
            interval = min(interval * 2, 4.0)
    else:
        try:
            side = await _connect(reactor, target, answers)
        except (OSError, TwistedTimeoutError, defer.CancelledError):
            answers.waiting.clear()
            return False
        assert side.transport is not None
        side.transport.write(message)
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
            await task.deferLater(reactor, 0, lambda: None)
