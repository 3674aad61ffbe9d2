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
from collections.abc import Callable, Iterator
from typing import Any

from testbed.reactor import IReactor

from ._barrage import KINDS, Target, run_barrage
from ._dns import queries
from ._served import ServedWorld

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


def frame(rng: random.Random, message: bytes) -> bytes:
    """A message behind its TCP length (RFC 1035 §4.2.2), one in twenty a wrong one."""
    size = len(message) if rng.random() >= 0.05 else rng.choice([0, 1, len(message) + 1])
    return size.to_bytes(2, "big") + message


def deframe(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The whole messages at the start of what a TCP connection received, and the rest."""
    messages = []
    while len(buffer) >= 2:
        size = int.from_bytes(buffer[:2], "big")
        if len(buffer) < 2 + size:
            break
        messages.append(buffer[2:2 + size])
        buffer = buffer[2 + size:]
    return messages, buffer


async def dns_barrage(reactor: IReactor, world: ServedWorld, transport: str, *, count: int,
                      seed: int, every: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Send ``count`` bad DNS messages over ``transport`` (UDP or TCP); the figures."""
    assert world.dns is not None, "the served world has a DNS server"
    rng = random.Random(seed)
    tcp = transport == "TCP"

    def liveness(tag: str) -> tuple[bytes, bytes]:
        query, label = probe(world.domain, tag)
        return (len(query).to_bytes(2, "big") + query if tcp else query), label

    target = Target("DNS barrage", "queries", transport, world.dns,
                    bad_queries(rng, world.domain), KINDS, liveness,
                    tcp_batch=lambda batch: b"".join(frame(rng, data) for data in batch),
                    deframe=deframe)
    return await run_barrage(reactor, world, target, count=count, seed=seed, every=every,
                             say=say)
