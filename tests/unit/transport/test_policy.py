"""The connection policy on a clock: deadlines, registrations and caps, without sockets.

Connections are accepted through a stack's gate onto a recording transport; behind the
gate sit the real stream protocol and the real registrar (on ``task.Clock``).
"""

from __future__ import annotations

import random

import pytest
from twisted.internet import error, protocol, task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from servers.registrar import Registrar, RegistrarConfig
from testbed.sip import (
    Address,
    Request,
    SipUri,
    Transport,
    Via,
    make_response,
    new_branch,
    parse_message,
)
from testbed.transport import (
    ConnectionGuard,
    ConnectionPolicy,
    SipStack,
    StreamProtocol,
    registration_hold,
)

SERVER = ("192.0.2.10", 5060)
PHONE = "192.0.2.1"
POLICY = ConnectionPolicy()  # the defaults: 5 s, 5 s, 10 s, 120 s, 2048, 1024
RNG = random.Random(5626)


# -- a recording transport, and connections accepted through a stack's gate ------------


class Wire(StringTransport):
    """A transport that keeps what is written and tells its protocol when it is closed."""

    def __init__(self, peer: tuple[str, int]) -> None:
        super().__init__(hostAddress=IPv4Address("TCP", *SERVER),
                         peerAddress=IPv4Address("TCP", *peer))
        self.proto: protocol.Protocol | None = None
        self.lost = False

    def abortConnection(self) -> None:
        self._lose(error.ConnectionAborted())

    def loseConnection(self) -> None:
        self._lose(error.ConnectionDone())

    def _lose(self, why: Exception) -> None:
        if not self.lost:
            self.lost = True
            assert self.proto is not None
            self.proto.connectionLost(Failure(why))


class StreamServer(protocol.Factory):
    def __init__(self, stack: SipStack, transport: Transport) -> None:
        self.stack = stack
        self.transport = transport

    def buildProtocol(self, addr: object) -> StreamProtocol:
        return StreamProtocol(self.stack, self.stack.trace, self.transport, "server")


def registrar(policy: ConnectionPolicy = POLICY) -> tuple[task.Clock, Registrar]:
    clock = task.Clock()
    server = Registrar(clock, RegistrarConfig())  # type: ignore[arg-type]  # a clock is enough
    server.stack.policy = policy
    return clock, server


def accept(server: Registrar, source: str = PHONE, port: int = 40000,
           transport: Transport = Transport.TCP) -> tuple[ConnectionGuard, Wire] | None:
    """A connection from ``source:port`` as a listening port accepts it (None: refused)."""
    gated = server.stack.gate.factory(StreamServer(server.stack, transport), transport)
    guard = gated.buildProtocol(IPv4Address("TCP", source, port))
    if guard is None:
        return None
    wire = Wire((source, port))
    wire.proto = guard
    guard.makeConnection(wire)
    return guard, wire


def register(port: int = 40000, expires: int = 3600, contact: str | None = None,
             user: str = "alice", cseq: int = 1) -> bytes:
    via = Via(Transport.TCP, PHONE, port, (("branch", new_branch(RNG)),))
    aor = Address(SipUri(host="example.com", user=user))
    return Request("REGISTER", SipUri(host="example.com"), [
        ("Via", via), ("Max-Forwards", 70), ("From", aor.with_param("tag", "t1")),
        ("To", aor), ("Call-ID", f"{user}-{port}@phone"), ("CSeq", f"{cseq} REGISTER"),
        ("Contact", contact or f"<sip:{user}@{PHONE}:{port};transport=tcp>"),
        ("Expires", expires),
    ]).to_bytes()


OPTIONS = (b"OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1:40000;branch=z9hG4bKo1\r\n"
           b"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=1\r\n"
           b"To: <sip:example.com>\r\nCall-ID: o1@phone\r\nCSeq: 1 OPTIONS\r\n"
           b"Content-Length: 0\r\n\r\n")


def lasts(clock: task.Clock, wire: Wire, seconds: float) -> None:
    """The connection is still open ``seconds`` from now, less a hundredth, and closed then."""
    clock.advance(seconds - 0.01)
    assert not wire.lost
    clock.advance(0.01)
    assert wire.lost


def closes(server: Registrar) -> list[str]:
    return [f"{e.summary} ({e.detail})" for e in server.trace.events if e.kind == "closed"]


# -- the policy's values ------------------------------------------------------------------


@pytest.mark.parametrize("field, value", [
    ("handshake_timeout", 0), ("first_message_timeout", -1.0), ("idle_timeout", float("inf")),
    ("message_timeout", "5s"), ("max_connections", 0), ("max_connections_per_source", 1.5),
    ("listen_backlog", None), ("max_upgrade_size", True),
])
def test_a_value_that_is_no_positive_number_is_refused_naming_its_field(field, value):
    with pytest.raises(ValueError, match=f"^{field}: expected a positive"):
        ConnectionPolicy(**{field: value})


def test_the_defaults_are_kamailios_and_off_lifts_every_limit():
    assert (POLICY.idle_timeout, POLICY.max_connections, POLICY.max_connections_per_source,
            POLICY.listen_backlog) == (120.0, 2048, 1024, 1024)
    assert POLICY.watches and not ConnectionPolicy.off().watches
    assert ConnectionPolicy.off().listen_backlog == 50


def test_a_stack_without_a_policy_polices_with_the_defaults():
    assert SipStack(task.Clock(), None).policy == ConnectionPolicy()  # type: ignore[arg-type]


@pytest.mark.parametrize("policy, backlog, gated", [
    (ConnectionPolicy(), 1024, True),
    (ConnectionPolicy(listen_backlog=4096), 4096, True),
    (ConnectionPolicy.off(), 50, False),
])
def test_a_listening_port_gets_the_policys_backlog_and_gate(policy, backlog, gated):
    memory = MemoryReactorClock()
    stack = SipStack(memory, None, policy=policy)  # type: ignore[arg-type]
    stack.listen_stream("TCP", "127.0.0.1", 5060)
    stack.listen_ws("127.0.0.1", 8080)
    assert [port for port, *_ in memory.tcpServers] == [5060, 8080]
    for _, factory, listen_backlog, interface in memory.tcpServers:
        assert (listen_backlog, interface) == (backlog, "127.0.0.1")
        assert (factory is not None and type(factory).__name__ == "_GatedFactory") == gated


# -- what a REGISTER's answer says about its connection -----------------------------------


def _hold(request_contact: str, expires: int, answered: list[str]) -> tuple[str, float] | None:
    request = parse_message(register(contact=request_contact, expires=expires))
    assert isinstance(request, Request)
    response = make_response(request, 200, headers=[("Contact", c) for c in answered])
    return registration_hold(request, response)


MINE = "<sip:alice@192.0.2.1:40000;transport=tcp>"
OTHER = "<sip:alice@198.51.100.7:5060>"


@pytest.mark.parametrize("contact, expires, answered, held", [
    (MINE, 3600, [f"{MINE};expires=3600"], 3600.0),
    (MINE, 3600, [f"{MINE};expires=600"], 600.0),  # the registrar's word, not the request's
    (MINE, 3600, [f"{OTHER};expires=3000", f"{MINE};expires=60"], 60.0),  # another device's
    (MINE, 0, [f"{OTHER};expires=3000"], 0.0),  # this contact removed: nothing held
    ("*", 0, [], 0.0),  # every binding removed (RFC 3261 §10.2.2)
    (f"{MINE}, <sip:alice@192.0.2.1:40001>", 300,
     [f"{MINE};expires=300", "<sip:alice@192.0.2.1:40001>;expires=900"], 900.0),
])
def test_a_2xx_to_a_register_holds_its_connection_as_long_as_its_own_bindings(
        contact, expires, answered, held):
    assert _hold(contact, expires, answered) == ("sip:alice@example.com", held)


def test_a_query_without_contact_says_nothing_about_the_connection():
    request = parse_message(register())
    assert isinstance(request, Request)
    request.headers.remove("Contact")
    assert registration_hold(request, make_response(request, 200)) is None


# -- handshake, first message, partial message --------------------------------------------


def test_a_silent_tcp_connection_is_closed_when_the_first_message_is_due():
    clock, server = registrar()
    guard, wire = accept(server)
    lasts(clock, wire, 5.0)
    assert server.stack.gate.total == 0
    assert closes(server) == [
        "connection closed (closed by the connection policy: no SIP message within 5 s)"]


def test_a_half_sent_first_message_does_not_buy_time():
    clock, server = registrar()
    guard, wire = accept(server)
    clock.advance(4.0)
    guard.dataReceived(register()[:120])
    clock.advance(1.0)
    assert wire.lost and "no SIP message within 5 s" in closes(server)[0]


def test_a_message_left_incomplete_is_closed_after_the_message_timeout():
    clock, server = registrar()
    guard, wire = accept(server)
    guard.dataReceived(OPTIONS)  # answered; the connection has spoken
    assert b"SIP/2.0 200 OK" in wire.value()
    clock.advance(30.0)
    guard.dataReceived(OPTIONS[:50])  # then a trickle that never ends
    clock.advance(9.0)
    guard.dataReceived(OPTIONS[50:60])  # more bytes, still no message: no new time
    lasts(clock, wire, 1.0)
    assert "an incomplete message for 10 s" in closes(server)[0]


def test_the_rest_of_a_message_in_time_keeps_the_connection():
    clock, server = registrar()
    guard, wire = accept(server)
    guard.dataReceived(OPTIONS + OPTIONS[:50])  # one message and the start of the next
    clock.advance(9.0)
    guard.dataReceived(OPTIONS[50:])
    clock.advance(100.0)
    assert not wire.lost and wire.value().count(b"SIP/2.0 200 OK") == 2


def test_a_tls_connection_without_a_handshake_is_closed_and_logged_once_per_second():
    clock, server = registrar()
    accepted = [accept(server, port=40000 + i, transport=Transport.TLS) for i in range(50)]
    clock.advance(5.0)
    assert all(wire.lost for _, wire in accepted)  # type: ignore[misc]
    lines = closes(server)
    assert lines == [f"closed TLS connection from {PHONE}:40000: no TLS handshake within 5 s "
                     f"(connection policy: handshake_timeout)"]
    accept(server, port=41000, transport=Transport.TLS)
    clock.advance(5.0)
    assert "(and 49 more like it since the last line)" in closes(server)[-1]


# -- idle connections and registered flows -------------------------------------------------


def test_an_idle_connection_without_a_registration_is_closed_after_its_lifetime():
    clock, server = registrar()
    guard, wire = accept(server)
    guard.dataReceived(OPTIONS)
    lasts(clock, wire, 120.0)
    assert "idle for 120 s without a registration" in closes(server)[0]


def test_keepalives_count_as_traffic():
    clock, server = registrar()
    guard, wire = accept(server)
    guard.dataReceived(OPTIONS)
    for _ in range(5):
        clock.advance(100.0)
        guard.dataReceived(b"\r\n\r\n")  # RFC 5626 §3.5.1 ping, answered
    assert not wire.lost and wire.value().endswith(b"\r\n")
    clock.advance(120.0)
    assert wire.lost


def test_a_registered_connection_lives_as_long_as_its_binding():
    clock, server = registrar()
    guard, wire = accept(server)
    guard.dataReceived(register(expires=600))
    assert b"SIP/2.0 200 OK" in wire.value() and server.bindings("sip:alice@example.com")
    lasts(clock, wire, 600.0)  # far beyond the idle lifetime
    assert "its registration expired" in closes(server)[0]


def test_a_refresh_extends_the_hold_and_a_removal_ends_it():
    clock, server = registrar()
    guard, wire = accept(server)
    guard.dataReceived(register(expires=600))
    clock.advance(500.0)
    guard.dataReceived(register(expires=600, cseq=2))  # refreshed: until 1100
    clock.advance(550.0)
    assert not wire.lost
    guard.dataReceived(register(expires=0, cseq=3))  # removed at 1050: idle from now
    lasts(clock, wire, 120.0)
    assert "idle for 120 s" in closes(server)[0]


def test_every_address_of_record_on_a_connection_holds_it():
    clock, server = registrar()
    guard, wire = accept(server)
    guard.dataReceived(register(expires=600, user="alice"))
    guard.dataReceived(register(expires=900, user="bob"))
    guard.dataReceived(register(expires=0, user="bob", cseq=2))
    lasts(clock, wire, 600.0)


def test_a_connection_this_element_opened_is_not_policed():
    clock, server = registrar()
    client = StreamProtocol(server.stack, server.trace, Transport.TCP, "client")
    wire = Wire((PHONE, 5060))
    wire.proto = client
    client.makeConnection(wire)
    clock.advance(3600.0)
    assert not wire.lost and client.flow is not None and client.flow.guard is None


# -- caps -----------------------------------------------------------------------------------


def test_caps_refuse_new_connections_and_never_close_open_ones():
    clock, server = registrar(ConnectionPolicy(max_connections=4, max_connections_per_source=2,
                                               make_room=False))
    first = accept(server, port=1)
    assert first is not None
    first[0].dataReceived(register(port=1))
    assert accept(server, port=2) is not None
    assert accept(server, port=3) is None  # a third from the phone's address
    assert accept(server, "192.0.2.2", 1) is not None
    assert accept(server, "192.0.2.2", 2) is not None
    assert accept(server, "192.0.2.3", 1) is None  # a fifth in all
    gate = server.stack.gate
    assert (gate.total, gate.refused, gate.by_source) == (4, 2, {PHONE: 2, "192.0.2.2": 2})
    assert not first[1].lost
    first[0].dataReceived(register(port=1, cseq=2))  # the registered phone still registers
    assert first[1].value().count(b"SIP/2.0 200 OK") == 2
    notes = [e.summary for e in server.trace.events if e.kind == "note"]
    assert notes == [
        f"refused a TCP connection from {PHONE} at accept: 2 connections open from {PHONE} "
        "(max_connections_per_source 2)",
        "refused a TCP connection from 192.0.2.3 at accept: 4 connections open "
        "(max_connections 4)"]
    first[1].loseConnection()
    assert accept(server, port=3) is not None  # a place is free again


def test_at_the_cap_the_oldest_silent_connection_makes_room():
    clock, server = registrar(ConnectionPolicy(max_connections=3))
    phone = accept(server, port=1)
    phone[0].dataReceived(register(port=1))  # spoken (and registered)
    clock.advance(1.0)
    oldest = accept(server, "192.0.2.2", 1)
    clock.advance(1.0)
    younger = accept(server, "192.0.2.2", 2, transport=Transport.TLS)
    newcomer = accept(server, "192.0.2.3", 1)
    assert newcomer is not None and oldest[1].lost and not younger[1].lost
    assert "no SIP message after 1 s, and its place was taken by a new connection " \
           "(max_connections 3)" in closes(server)[0]
    newcomer[0].dataReceived(OPTIONS)  # the newcomer speaks: it keeps its place
    last = accept(server, "192.0.2.3", 2)
    assert last is not None and younger[1].lost  # the TLS one never shook hands
    assert "closed TLS connection from 192.0.2.2:2: no SIP message after 0 s" in closes(server)[1]
    assert accept(server, "192.0.2.3", 3) is not None and last[1].lost
    gate = server.stack.gate
    assert (gate.evicted, gate.refused, gate.total) == (3, 0, 3)
    assert not phone[1].lost and not newcomer[1].lost


def test_room_is_taken_from_the_address_holding_the_most_connections():
    clock, server = registrar(ConnectionPolicy(max_connections=4))
    phone = accept(server, port=1)  # the oldest silent one: a phone still connecting
    flood = [accept(server, "192.0.2.66", port) for port in (1, 2, 3)]
    assert accept(server, "192.0.2.3", 1) is not None
    assert not phone[1].lost and [f[1].lost for f in flood] == [True, False, False]


def test_at_the_cap_with_every_connection_spoken_a_new_one_is_refused():
    clock, server = registrar(ConnectionPolicy(max_connections=2))
    for port in (1, 2):
        guard, _ = accept(server, port=port)
        guard.dataReceived(OPTIONS)
    assert accept(server, port=3) is None
    assert server.stack.gate.refused == 1


def test_the_policy_off_keeps_every_connection():
    clock, server = registrar(ConnectionPolicy.off())
    accepted = [accept(server, port=i) for i in range(3000)]
    clock.advance(86400.0)
    assert all(a is not None and not a[1].lost for a in accepted)


def test_stopping_the_element_closes_connections_without_a_flow_yet():
    clock, server = registrar()
    guard, wire = accept(server, transport=Transport.TLS)  # mid-handshake: no flow
    server.stop()
    assert wire.lost and server.stack.gate.total == 0 and not server.stack.gate.silent
