"""The REGISTER fast path against the full path: the same bytes out, the same bindings.

Two registrars with the same configuration and seed, on one Clock: one takes the fast
path (the default), the other (``fast_path=False``) parses every message and runs a
server transaction for it. The same datagrams and stream bytes go to both; what they
send, where, what they store and what they record must be equal, message by message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from servers.registrar import Registrar, RegistrarConfig
from testbed.sip import Challenge, Transport, build_authorization
from testbed.transport import StreamProtocol, UdpEndpoint

REALM = "example.com"
SERVER = ("127.0.0.1", 5060)
PHONE = ("127.0.0.2", 5070)


@dataclass
class DatagramRecorder:
    """The one method of a UDP transport the endpoint writes with."""

    sent: list[tuple[bytes, tuple[str, int]]] = field(default_factory=list)

    def write(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr))


class Side:
    """One registrar fed by hand over UDP and one TCP connection."""

    def __init__(self, fast: bool, **config: object) -> None:
        config.setdefault("realm", REALM)
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.registrar = Registrar(self.clock, RegistrarConfig(**config),  # type: ignore[arg-type]
                                   fast_path=fast)
        stack = self.registrar.stack
        self.udp = UdpEndpoint(stack, stack.trace)
        self.udp.local = SERVER
        self.datagrams = DatagramRecorder()
        self.udp.transport = self.datagrams  # type: ignore[assignment]  # recording fake
        stack.udp = self.udp
        self.registrar._local_hosts.add(SERVER[0])
        self.tcp = StreamProtocol(stack, stack.trace, Transport.TCP, "server")
        self.wire = StringTransport(peerAddress=_ipv4(PHONE), hostAddress=_ipv4(SERVER))
        self.tcp.makeConnection(self.wire)

    def datagram(self, data: bytes, source: tuple[str, int] = PHONE) -> list:
        before = len(self.datagrams.sent)
        self.udp.datagramReceived(data, source)
        return self.datagrams.sent[before:]

    def stream(self, data: bytes) -> bytes:
        self.wire.clear()
        self.tcp.dataReceived(data)
        return self.wire.value()

    def state(self) -> dict:
        location = {aor: [(str(b.contact), b.expires_at, b.call_id, b.cseq, b.source)
                          for b in bindings]
                    for aor, bindings in self.registrar.location.bindings.items()}
        received = [(r.method, r.transport, r.remote, r.status, r.user, r.note)
                    for r in self.registrar.received]
        kinds = [(e.kind, e.summary, e.transport, e.remote, e.data)
                 for e in self.registrar.trace.events if e.kind in ("received", "sent")]
        return {"location": location, "received": received, "trace": kinds}


def _ipv4(address: tuple[str, int]):
    from twisted.internet.address import IPv4Address

    return IPv4Address("TCP", *address)


def register(n: int, *, user: str = "alice", transport: str = "UDP", expires: str = "3600",
             extra: str = "", contact: str | None = None, via: str | None = None,
             to: str | None = None, cseq: int | None = None) -> bytes:
    via = via or f"SIP/2.0/{transport} {PHONE[0]}:{PHONE[1]};branch=z9hG4bK{n:08d};rport"
    contact = contact if contact is not None else f"<sip:{user}@{PHONE[0]}:{PHONE[1]}>"
    lines = [f"REGISTER sip:{REALM} SIP/2.0", f"Via: {via}", "Max-Forwards: 70",
             f"From: <sip:{user}@{REALM}>;tag=f{n}", f"To: {to or f'<sip:{user}@{REALM}>'}",
             f"Call-ID: call-{user}@{PHONE[0]}", f"CSeq: {cseq or n} REGISTER"]
    if contact:
        lines.append(f"Contact: {contact}")
    if expires:
        lines.append(f"Expires: {expires}")
    if extra:
        lines.append(extra)
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def both(**config: object) -> tuple[Side, Side]:
    return Side(True, **config), Side(False, **config)


def same(fast: Side, full: Side, send) -> list:
    """Send through both sides; their outputs must be equal. Returns the fast one's."""
    got, want = send(fast), send(full)
    assert got == want
    return got


SEQUENCES = {
    "register, refresh, remove": [register(1), register(2), register(3, expires="0")],
    "contact expires beats header": [register(1, contact="<sip:alice@127.0.0.2:5070>;expires=60")],
    "too brief gets 423": [register(1, expires="1")],
    "out of order is ignored": [register(5), register(4)],
    "a query without contact": [register(1), register(2, contact="", expires="")],
    "received added, no rport": [register(1, via="SIP/2.0/UDP phone.example.com:5070;branch=z9hG4bKx1")],
    "filled rport kept": [register(1, via="SIP/2.0/UDP 127.0.0.2:5999;rport=5999;branch=z9hG4bKx2")],
    "compact forms and order": [
        b"REGISTER sip:example.com SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKc1;rport\r\n"
        b"t: <sip:alice@example.com>\r\nf: Alice <sip:alice@example.com>;tag=9\r\ni: c1\r\n"
        b"CSeq: 7 REGISTER\r\nm: <sip:alice@127.0.0.2:5070;transport=udp>\r\nl: 0\r\n\r\n"],
    "to with a tag kept": [register(1, to="<sip:alice@example.com>;tag=abc")],
    "several contacts go the full way": [
        register(1, contact="<sip:alice@127.0.0.2:5070>, <sip:alice@127.0.0.2:5071>")],
    "star goes the full way": [register(1), register(2, contact="*", expires="0")],
    "rfc 2543 branch goes the full way": [register(1, via="SIP/2.0/UDP 127.0.0.2:5070;branch=old")],
    "malformed expires goes the full way": [register(1, expires="soon")],
    "retransmissions absorbed": [register(1), register(1), register(2), register(1)],
}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_open_registrar_udp_and_tcp(name):
    fast, full = both()
    for message in SEQUENCES[name]:
        same(fast, full, lambda side, m=message: side.datagram(m))
        fast.clock.advance(1)
        full.clock.advance(1)
    for message in SEQUENCES[name]:
        tcp = message.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP").replace(b"z9hG4bK", b"z9hG4bKt")
        assert same(fast, full, lambda side, m=tcp: side.stream(m)).startswith(b"SIP/2.0 ")
    assert fast.state() == full.state()


def test_the_fast_path_takes_plain_registers_and_absorbs_their_retransmissions():
    fast, _ = both()
    fast.datagram(register(1))
    first = fast.datagram(register(2))
    again = fast.datagram(register(2))
    assert again == first  # the same answer to the same destination (§17.2.2)
    assert fast.registrar.fast_path is not None
    assert (fast.registrar.fast_path.taken, fast.registrar.fast_path.absorbed) == (2, 1)
    assert len(fast.registrar.stack.table) == 0  # no server transaction was created
    fast.clock.advance(fast.registrar.stack.timers.timer_j + 1)
    later = fast.datagram(register(2))  # Timer J fired: a new request, out of order (§10.3)
    assert fast.registrar.fast_path.taken == 3 and later[0][0].startswith(b"SIP/2.0 200")


def test_a_transaction_of_the_full_path_keeps_its_retransmissions():
    fast, full = both(register_status=503)  # a forced status goes the full way
    same(fast, full, lambda side: side.datagram(register(1)))
    fast.registrar.config.register_status = None
    full.registrar.config.register_status = None
    # the retransmission belongs to the transaction the full path created
    got = same(fast, full, lambda side: side.datagram(register(1)))
    assert got[0][0].startswith(b"SIP/2.0 503")


def challenge_answer(side: Side, sent: list, n: int, password: str = "secret") -> bytes:
    text = sent[0][0].decode()
    value = [line.split(": ", 1)[1] for line in text.split("\r\n")
             if line.startswith("WWW-Authenticate")][0]
    credentials = build_authorization(Challenge.parse(value), username="alice",
                                      password=password, method="REGISTER",
                                      uri=f"sip:{REALM}", cnonce="c0ffee")
    return register(n, extra=f"Authorization: {credentials.to_header()}")


@pytest.mark.parametrize(("password", "status"), [("secret", b"200"), ("wrong", b"401")])
def test_digest_challenge_and_credentials(password, status):
    fast, full = both(users={"alice": "secret"})
    sent = same(fast, full, lambda side: side.datagram(register(1)))
    assert sent[0][0].startswith(b"SIP/2.0 401")
    answer = challenge_answer(fast, sent, 2, password)
    got = same(fast, full, lambda side: side.datagram(answer))
    assert got[0][0].startswith(b"SIP/2.0 " + status)
    assert fast.state() == full.state()


@pytest.mark.parametrize(("config", "status"), [
    ({"users": {"alice": "secret", "bob": "x"}, "registrar_policy": "own"}, b"403"),
    ({"domains": ("elsewhere.example",)}, b"404"),
    ({"max_contacts": 1}, b"503"),
])
def test_refusals_are_the_registrars(config, status):
    fast, full = both(**config)
    if "users" in config:
        sent = same(fast, full, lambda side: side.datagram(register(1)))
        message = challenge_answer(fast, sent, 2).replace(b"<sip:alice@example.com>",
                                                          b"<sip:bob@example.com>")
        message = message.replace(b"sip:bob@example.com>;tag", b"sip:alice@example.com>;tag")
    elif "max_contacts" in config:
        same(fast, full, lambda side: side.datagram(register(1)))
        message = register(2, contact="<sip:alice@127.0.0.2:5099>")
    else:
        message = register(1)
    got = same(fast, full, lambda side: side.datagram(message))
    assert got[0][0].split(b" ")[1] == status
    assert fast.state() == full.state()


def test_every_register_of_the_corpus_gets_the_same_answer(sip_corpus):
    """Each REGISTER of the torture and catalogue corpus (``tests/unit/conftest.py``),
    over UDP, to an open registrar and to one with accounts."""
    registers = [data for data in sip_corpus.values() if data.startswith(b"REGISTER ")]
    assert len(registers) > 30
    for config in ({}, {"users": {"alice": "secret"}}):
        fast, full = both(**config)
        for data in registers:
            same(fast, full, lambda side, d=data: side.datagram(d))
            fast.clock.advance(1)
            full.clock.advance(1)
        assert fast.state() == full.state()
        assert fast.registrar.fast_path is not None and fast.registrar.fast_path.taken > 10


class CountingTransport(StringTransport):
    """A stream transport double that counts the writes it is given and, as Twisted's
    TLS transport does, drops what is written once it is told to close."""

    writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        if not self.disconnecting:
            super().write(data)


def _counting_side() -> tuple[Side, CountingTransport]:
    side = Side(True)
    wire = CountingTransport(peerAddress=_ipv4(PHONE), hostAddress=_ipv4(SERVER))
    side.tcp = StreamProtocol(side.registrar.stack, side.registrar.trace, Transport.TCP,
                              "server")
    side.tcp.makeConnection(wire)
    return side, wire


def test_the_answers_to_one_read_go_out_in_one_write_in_order():
    side, wire = _counting_side()
    side.tcp.dataReceived(b"".join(register(n, transport="TCP") for n in (1, 2, 3)))
    assert wire.writes == 1
    answers = wire.value().split(b"SIP/2.0 200 OK")[1:]
    assert len(answers) == 3
    assert all(b"CSeq: %d REGISTER" % n in answer
               for n, answer in zip((1, 2, 3), answers, strict=True))
    side.tcp.dataReceived(register(4, transport="TCP"))  # the next read: its own write
    assert wire.writes == 2 and b"CSeq: 4 REGISTER" in wire.value()


def test_what_a_read_answered_goes_out_before_the_stream_is_closed():
    side, wire = _counting_side()
    # A good REGISTER, then a message the stream cannot be split after (no Content-Length).
    side.tcp.dataReceived(register(1, transport="TCP") + b"REGISTER sip:x SIP/2.0\r\n\r\n")
    sent = wire.value()
    assert sent.startswith(b"SIP/2.0 200 OK") and b"SIP/2.0 400 " in sent
    assert wire.disconnecting
