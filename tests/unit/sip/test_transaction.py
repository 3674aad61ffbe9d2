"""RFC 3261 §17 transactions: the four tables, the timers, matching and the table.

Time is a number passed in: ``drive()`` fires each deadline the transaction asks for,
so Timer F's 32 s cost nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from testbed.sip import (
    Action,
    ClientInviteTransaction,
    ClientKey,
    ClientNonInviteTransaction,
    Deliver,
    LocalProtocolError,
    RemoteProtocolError,
    Request,
    Response,
    Routed,
    ServerInviteTransaction,
    ServerKey,
    ServerNonInviteTransaction,
    Terminated,
    Timeout,
    Timers,
    Transaction,
    TransactionEvent,
    TransactionState,
    TransactionTable,
    Transmit,
    TransportFailed,
    client_key,
    client_transaction,
    make_non_2xx_ack,
    make_response,
    make_trying,
    new_branch,
    parse_message,
    server_key,
    server_transaction,
)

# The events the TU causes: a table miss on one of them is the TU's mistake.
TU_EVENTS = frozenset(event for event in TransactionEvent if event.value.endswith("from TU"))

E = TransactionEvent
S = TransactionState
KINDS = [
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
]
BRANCH = "z9hG4bKnashds8"
TO_TAG = "a6c85cf"
RFC = Timers()
SCALED = Timers(t1=0.05, t2=0.4, t4=0.5)


# -- messages -----------------------------------------------------------------------------


def request(
    method: str = "INVITE",
    *,
    branch: str = BRANCH,
    sent_by: str = "pc33.atlanta.example.com",
    cseq: int = 314159,
    proxied: bool = False,
) -> Request:
    """A request as a UAC sends it, or (``proxied``) as a proxy forwards it: two Vias."""
    headers: list[tuple[str, object]] = [("Via", f"SIP/2.0/UDP {sent_by};branch={branch}")]
    if proxied:
        headers.append(("Via", "SIP/2.0/UDP ua.example.com:5062;branch=z9hG4bKua1;received=192.0.2.7"))
    headers += [
        ("Max-Forwards", "70"),
        ("Route", "<sip:p1.example.com;lr>"),
        ("Route", "<sip:p2.example.com;lr>"),
        ("To", "Bob <sip:bob@biloxi.example.com>"),
        ("From", "Alice <sip:alice@atlanta.example.com>;tag=1928301774"),
        ("Call-ID", "a84b4c76e66710@pc33.atlanta.example.com"),
        ("CSeq", f"{cseq} {method}"),
        ("Contact", "<sip:alice@pc33.atlanta.example.com>"),
    ]
    body = b"v=0\r\n" if method == "INVITE" else b""
    return Request(method, "sip:bob@biloxi.example.com", headers, body)


def respond(req: Request, status: int) -> Response:
    return make_response(req, status, to_tag=TO_TAG)


def ack_for(req: Request) -> Request:
    return make_non_2xx_ack(req, respond(req, 486))


def drive(txn: Transaction | TransactionTable, until: float = float("inf")) -> list[tuple[float, object]]:
    """Fire every deadline up to ``until``; the (time, action) log."""
    log: list[tuple[float, object]] = []
    for _ in range(10_000):
        deadline = txn.next_deadline()
        if deadline is None or deadline > until:
            return log
        log += [(deadline, action) for action in txn.on_timer(deadline)]
    raise AssertionError("timers never settle")


def transmit_times(log: list[tuple[float, object]]) -> list[float]:
    return [t for t, action in log if isinstance(action, Transmit)]


def others(log: list[tuple[float, object]]) -> list[tuple[float, object]]:
    return [(t, action) for t, action in log if not isinstance(action, Transmit)]


def new(kind: type[Transaction], *, reliable: bool = False, timers: Timers = RFC) -> Transaction:
    method = "INVITE" if kind in (ClientInviteTransaction, ServerInviteTransaction) else "REGISTER"
    return kind(request(method), reliable=reliable, timers=timers)


# -- timer values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rfc", "scaled"),
    [
        ("timer_a", 0.5, 0.05), ("timer_b", 32.0, 3.2), ("timer_d", 32.0, 3.2),
        ("timer_e", 0.5, 0.05), ("timer_f", 32.0, 3.2), ("timer_g", 0.5, 0.05),
        ("timer_h", 32.0, 3.2), ("timer_i", 5.0, 0.5), ("timer_j", 32.0, 3.2),
        ("timer_k", 5.0, 0.5), ("timer_l", 32.0, 3.2), ("timer_m", 32.0, 3.2),
    ],
)
def test_timer_values_derive_from_t1_t4(name: str, rfc: float, scaled: float) -> None:
    assert getattr(RFC, name) == pytest.approx(rfc)
    assert getattr(SCALED, name) == pytest.approx(scaled)


@pytest.mark.parametrize(("timer", "unreliable"), [("D", 32.0), ("I", 5.0), ("J", 32.0), ("K", 5.0)])
def test_lingering_timers_are_zero_over_reliable_transports(timer: str, unreliable: float) -> None:
    assert RFC.linger(timer, reliable=False) == unreliable
    assert RFC.linger(timer, reliable=True) == 0.0


@pytest.mark.parametrize(
    "kwargs", [{"t1": 0}, {"t1": -1}, {"t2": float("inf")}, {"t4": "5"}, {"t1": 5.0, "t2": 4.0}]
)
def test_bad_timer_values_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Timers(**kwargs)  # type: ignore[arg-type]


# -- client non-INVITE (§17.1.2) ------------------------------------------------------------

E_TIMES = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]


@pytest.mark.parametrize(("timers", "scale"), [(RFC, 1.0), (SCALED, 0.1)])
def test_non_invite_over_udp_retransmits_then_timer_f(timers: Timers, scale: float) -> None:
    req = request("REGISTER")
    txn = ClientNonInviteTransaction(req, reliable=False, timers=timers)
    assert txn.send(req, 0.0) == [Transmit(req)]
    assert txn.state is S.TRYING
    log = drive(txn)
    assert transmit_times(log) == pytest.approx([t * scale for t in E_TIMES])
    assert all(action == Transmit(req, retransmission=True) for _, action in log[:-2])
    assert others(log) == [(pytest.approx(32.0 * scale), Timeout("F")), (pytest.approx(32.0 * scale), Terminated())]
    assert txn.state is S.TERMINATED and txn.next_deadline() is None


@pytest.mark.parametrize(("timers", "scale"), [(RFC, 1.0), (SCALED, 0.1)])
def test_non_invite_over_reliable_transport_sends_once_then_timer_f(timers: Timers, scale: float) -> None:
    req = request("REGISTER")
    txn = ClientNonInviteTransaction(req, reliable=True, timers=timers)
    assert txn.send(req, 0.0) == [Transmit(req)]
    assert txn.pending_timers() == {"F": pytest.approx(64 * timers.t1)}
    assert drive(txn) == [(pytest.approx(32.0 * scale), Timeout("F")), (pytest.approx(32.0 * scale), Terminated())]


def test_non_invite_in_proceeding_timer_e_fires_every_t2() -> None:
    req = request("REGISTER")
    txn = ClientNonInviteTransaction(req, reliable=False)
    txn.send(req, 0.0)
    trying = respond(req, 100)
    assert txn.receive(trying, 0.2) == [Deliver(trying)]
    assert txn.state is S.PROCEEDING
    log = drive(txn)
    # Timer E was due at 0.5; from its first firing in Proceeding it is reset to T2.
    assert transmit_times(log) == [0.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5]
    assert others(log) == [(32.0, Timeout("F")), (32.0, Terminated())]


@pytest.mark.parametrize("status", [200, 404])
def test_non_invite_final_response_then_timer_k(status: int) -> None:
    req = request("REGISTER")
    txn = ClientNonInviteTransaction(req, reliable=False)
    txn.send(req, 0.0)
    final = respond(req, status)
    assert txn.receive(final, 2.0) == [Deliver(final)]
    assert txn.state is S.COMPLETED
    assert txn.pending_timers() == {"K": 7.0}  # Timer E and F stopped, K = T4
    assert txn.receive(final, 3.0) == []  # retransmission absorbed
    assert drive(txn) == [(7.0, Terminated())]


def test_non_invite_final_over_reliable_transport_terminates_at_once() -> None:
    req = request("REGISTER")
    txn = ClientNonInviteTransaction(req, reliable=True)
    txn.send(req, 0.0)
    ok = respond(req, 200)
    assert txn.receive(ok, 0.1) == [Deliver(ok), Terminated()]
    assert txn.state is S.TERMINATED and txn.next_deadline() is None


# -- client INVITE (§17.1.1, RFC 6026 §7.2) --------------------------------------------------


def test_invite_over_udp_timer_a_doubles_without_cap_then_timer_b() -> None:
    req = request()
    txn = ClientInviteTransaction(req, reliable=False)
    assert txn.send(req, 0.0) == [Transmit(req)]
    assert txn.state is S.CALLING
    log = drive(txn)
    assert transmit_times(log) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert others(log) == [(32.0, Timeout("B")), (32.0, Terminated())]


def test_invite_over_reliable_transport_is_not_retransmitted() -> None:
    req = request()
    txn = ClientInviteTransaction(req, reliable=True, timers=SCALED)
    txn.send(req, 0.0)
    assert drive(txn) == [(pytest.approx(3.2), Timeout("B")), (pytest.approx(3.2), Terminated())]


def test_invite_provisional_response_stops_retransmissions() -> None:
    req = request()
    txn = ClientInviteTransaction(req, reliable=False)
    txn.send(req, 0.0)
    assert transmit_times(drive(txn, until=1.5)) == [0.5, 1.5]
    ringing = respond(req, 180)
    assert txn.receive(ringing, 2.0) == [Deliver(ringing)]
    assert txn.state is S.PROCEEDING
    assert txn.next_deadline() is None  # no Timer A, and Timer B only applies in Calling
    assert txn.receive(ringing, 3.0) == [Deliver(ringing)]


@pytest.mark.parametrize("proxied", [False, True])
def test_invite_non_2xx_is_acked_by_the_transaction(proxied: bool) -> None:
    req = request(proxied=proxied)
    txn = ClientInviteTransaction(req, reliable=False)
    txn.send(req, 0.0)
    txn.receive(respond(req, 180), 0.3)
    busy = respond(req, 486)
    actions = txn.receive(busy, 5.0)
    assert txn.state is S.COMPLETED
    ack = txn.ack
    assert actions == [Transmit(ack), Deliver(busy)]
    # §17.1.1.3, header by header.
    assert ack.method == "ACK" and str(ack.uri) == str(req.uri)
    assert ack.headers.get_all("Via") == [f"SIP/2.0/UDP pc33.atlanta.example.com;branch={BRANCH}"]
    assert ack.headers.get("From") == req.headers.get("From")
    assert ack.headers.get("To") == busy.headers.get("To") and ack.to.tag == TO_TAG
    assert ack.call_id == req.call_id
    assert str(ack.cseq) == "314159 ACK"
    assert ack.headers.get_all("Route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert ack.headers.get("Max-Forwards") == "70"
    assert "Contact" not in ack.headers and ack.body == b""
    assert parse_message(bytes(ack)) == ack
    assert client_key(ack) == txn.key
    # A retransmitted 486 gets the same ACK again and is not passed to the TU.
    assert txn.receive(busy, 6.0) == [Transmit(ack, retransmission=True)]
    assert txn.receive(respond(req, 180), 6.5) == []
    # Timer D: 64*T1 = 32 s after the 486.
    assert drive(txn) == [(37.0, Terminated())]


def test_invite_non_2xx_over_reliable_transport_terminates_at_once() -> None:
    req = request()
    txn = ClientInviteTransaction(req, reliable=True)
    txn.send(req, 0.0)
    busy = respond(req, 486)
    assert txn.receive(busy, 1.0) == [Transmit(txn.ack), Deliver(busy), Terminated()]


@pytest.mark.parametrize("reliable", [False, True])
def test_invite_2xx_moves_to_accepted_and_delivers_retransmissions(reliable: bool) -> None:
    req = request()
    txn = ClientInviteTransaction(req, reliable=reliable)
    txn.send(req, 0.0)
    ok = respond(req, 200)
    assert txn.receive(ok, 1.0) == [Deliver(ok)]  # the 2xx ACK is the TU's
    assert txn.state is S.ACCEPTED and txn.ack is None
    assert txn.pending_timers() == {"M": 33.0}
    assert txn.receive(ok, 2.0) == [Deliver(ok)]  # RFC 6026: retransmitted 2xx to the TU
    assert txn.pending_timers() == {"M": 33.0}  # not restarted
    assert txn.receive(respond(req, 486), 3.0) == []
    assert drive(txn) == [(33.0, Terminated())]


# -- server INVITE (§17.2.1, RFC 6026 §7.1) ----------------------------------------------------


def test_server_invite_sends_100_and_answers_retransmissions_with_last_response() -> None:
    req = request()
    txn = ServerInviteTransaction(req, reliable=False)
    trying = make_trying(req)
    assert txn.receive(req, 0.0) == [Transmit(trying), Deliver(req)]
    assert txn.state is S.PROCEEDING and txn.next_deadline() is None
    assert txn.receive(req, 0.5) == [Transmit(trying, retransmission=True)]
    ringing = respond(req, 180)
    assert txn.send(ringing, 1.0) == [Transmit(ringing)]
    assert txn.receive(req, 1.5) == [Transmit(ringing, retransmission=True)]
    busy = respond(req, 486)
    assert txn.send(busy, 2.0) == [Transmit(busy)]
    assert txn.receive(req, 2.1) == [Transmit(busy, retransmission=True)]


def test_server_invite_without_automatic_100() -> None:
    req = request()
    txn = ServerInviteTransaction(req, reliable=False, send_trying=False)
    assert txn.receive(req, 0.0) == [Deliver(req)]
    assert txn.receive(req, 0.5) == []  # nothing sent yet, nothing to resend


def test_server_invite_timer_g_capped_at_t2_then_timer_h() -> None:
    req = request()
    txn = ServerInviteTransaction(req, reliable=False)
    txn.receive(req, 0.0)
    busy = respond(req, 486)
    txn.send(busy, 0.0)
    assert txn.state is S.COMPLETED
    log = drive(txn)
    assert transmit_times(log) == E_TIMES  # T1, 2*T1, 4*T1, then T2 each time
    assert all(action == Transmit(busy, retransmission=True) for _, action in log[:-2])
    assert others(log) == [(32.0, Timeout("H")), (32.0, Terminated())]


def test_server_invite_ack_confirms_then_timer_i() -> None:
    req = request()
    txn = ServerInviteTransaction(req, reliable=False)
    txn.receive(req, 0.0)
    txn.send(respond(req, 486), 0.0)
    assert txn.receive(ack_for(req), 2.0) == []  # absorbed: not passed to the TU
    assert txn.state is S.CONFIRMED
    assert txn.pending_timers() == {"I": 7.0}  # G and H stopped; I = T4
    assert txn.receive(ack_for(req), 3.0) == []
    assert txn.receive(req, 3.5) == []
    assert drive(txn) == [(7.0, Terminated())]


def test_server_invite_ack_over_reliable_transport_terminates_at_once() -> None:
    req = request()
    txn = ServerInviteTransaction(req, reliable=True)
    txn.receive(req, 0.0)
    busy = respond(req, 486)
    assert txn.send(busy, 0.0) == [Transmit(busy)]
    assert txn.pending_timers() == {"H": 32.0}  # no Timer G over TCP
    assert txn.receive(ack_for(req), 2.0) == [Terminated()]


def test_server_invite_2xx_moves_to_accepted() -> None:
    req = request()
    txn = ServerInviteTransaction(req, reliable=False)
    txn.receive(req, 0.0)
    ok = respond(req, 200)
    assert txn.send(ok, 1.0) == [Transmit(ok)]
    assert txn.state is S.ACCEPTED
    assert txn.pending_timers() == {"L": 33.0}  # no Timer G: the TU retransmits a 2xx
    assert txn.receive(req, 1.5) == []  # RFC 6026 §8.7: absorbed
    assert txn.send(ok, 1.5) == [Transmit(ok)]  # the TU's own retransmission
    ack = request("ACK")
    assert txn.receive(ack, 2.0) == [Deliver(ack)]
    assert drive(txn) == [(33.0, Terminated())]


# -- server non-INVITE (§17.2.2) ----------------------------------------------------------


def test_server_non_invite_answers_retransmissions_then_timer_j() -> None:
    req = request("REGISTER")
    txn = ServerNonInviteTransaction(req, reliable=False)
    assert txn.receive(req, 0.0) == [Deliver(req)]
    assert txn.receive(req, 0.5) == []  # Trying: retransmissions discarded
    trying = respond(req, 100)
    assert txn.send(trying, 0.6) == [Transmit(trying)]
    assert txn.receive(req, 1.5) == [Transmit(trying, retransmission=True)]
    ok = respond(req, 200)
    assert txn.send(ok, 2.0) == [Transmit(ok)]
    assert txn.state is S.COMPLETED
    assert txn.receive(req, 3.5) == [Transmit(ok, retransmission=True)]
    assert drive(txn) == [(34.0, Terminated())]


def test_server_non_invite_over_reliable_transport_terminates_on_final() -> None:
    req = request("REGISTER")
    txn = ServerNonInviteTransaction(req, reliable=True)
    txn.receive(req, 0.0)
    ok = respond(req, 200)
    assert txn.send(ok, 0.1) == [Transmit(ok), Terminated()]


# -- transport errors (§17.1.4, §17.2.4) --------------------------------------------------

FAILED = TransportFailed("connection reset")
TRANSPORT_ERRORS = [
    (ClientInviteTransaction, S.CALLING, [FAILED, Terminated()], S.TERMINATED),
    (ClientInviteTransaction, S.PROCEEDING, [FAILED, Terminated()], S.TERMINATED),
    (ClientInviteTransaction, S.COMPLETED, [FAILED, Terminated()], S.TERMINATED),
    (ClientInviteTransaction, S.ACCEPTED, [FAILED, Terminated()], S.TERMINATED),
    (ClientInviteTransaction, S.TERMINATED, [], S.TERMINATED),
    (ClientNonInviteTransaction, S.TRYING, [FAILED, Terminated()], S.TERMINATED),
    (ClientNonInviteTransaction, S.PROCEEDING, [FAILED, Terminated()], S.TERMINATED),
    (ClientNonInviteTransaction, S.COMPLETED, [FAILED, Terminated()], S.TERMINATED),
    (ServerInviteTransaction, S.PROCEEDING, [FAILED], S.PROCEEDING),  # RFC 6026 Figure 5
    (ServerInviteTransaction, S.COMPLETED, [FAILED, Terminated()], S.TERMINATED),
    (ServerInviteTransaction, S.CONFIRMED, [FAILED, Terminated()], S.TERMINATED),
    (ServerInviteTransaction, S.ACCEPTED, [FAILED], S.ACCEPTED),  # RFC 6026 Figure 5
    (ServerNonInviteTransaction, S.TRYING, [FAILED, Terminated()], S.TERMINATED),
    (ServerNonInviteTransaction, S.PROCEEDING, [FAILED, Terminated()], S.TERMINATED),
    (ServerNonInviteTransaction, S.COMPLETED, [FAILED, Terminated()], S.TERMINATED),
]


@pytest.mark.parametrize(
    ("kind", "state", "expected", "after"),
    TRANSPORT_ERRORS,
    ids=[f"{k.kind}-{s.value}" for k, s, _, _ in TRANSPORT_ERRORS],
)
def test_transport_error(
    kind: type[Transaction], state: TransactionState, expected: list[object], after: TransactionState
) -> None:
    txn = reach(kind, state)
    assert txn.transport_error(1.0, "connection reset") == expected
    assert txn.state is after
    if after is S.TERMINATED:
        assert txn.next_deadline() is None


def test_lost_connection_fails_a_request_at_once_not_at_timer_f() -> None:
    req = request("REGISTER")
    txn = ClientNonInviteTransaction(req, reliable=True)
    txn.send(req, 0.0)
    assert txn.transport_error(0.2, "TCP connection closed by peer") == [
        TransportFailed("TCP connection closed by peer"),
        Terminated(),
    ]
    assert txn.next_deadline() is None


# -- the transition tables ------------------------------------------------------------------

Step = Callable[[Transaction, float], list[Action]]


SENT = {E.RESPONSE_1XX_FROM_TU: 180, E.RESPONSE_2XX_FROM_TU: 200, E.RESPONSE_300_699_FROM_TU: 486}
RECEIVED = {
    E.RESPONSE_1XX_RECEIVED: 180, E.RESPONSE_2XX_RECEIVED: 200, E.RESPONSE_300_699_RECEIVED: 486
}


def apply(txn: Transaction, event: TransactionEvent, now: float = 0.0) -> list[Action]:
    """Cause ``event`` on ``txn`` through its public inputs; a timer fires at its deadline."""
    req = txn.request
    if event is E.REQUEST_FROM_TU:
        return txn.send(req, now)
    if event in SENT:
        return txn.send(respond(req, SENT[event]), now)
    if event is E.REQUEST_RECEIVED:
        return txn.receive(req, now)
    if event is E.ACK_RECEIVED:
        return txn.receive(ack_for(req), now)
    if event in RECEIVED:
        return txn.receive(respond(req, RECEIVED[event]), now)
    if event is E.TRANSPORT_ERROR:
        return txn.transport_error(now, "connection reset")
    return txn.on_timer(txn.pending_timers()[event.name[-1]])


PATHS: dict[type[Transaction], dict[TransactionState, list[TransactionEvent]]] = {
    ClientInviteTransaction: {
        S.IDLE: [],
        S.CALLING: [E.REQUEST_FROM_TU],
        S.PROCEEDING: [E.REQUEST_FROM_TU, E.RESPONSE_1XX_RECEIVED],
        S.COMPLETED: [E.REQUEST_FROM_TU, E.RESPONSE_300_699_RECEIVED],
        S.ACCEPTED: [E.REQUEST_FROM_TU, E.RESPONSE_2XX_RECEIVED],
        S.TERMINATED: [E.REQUEST_FROM_TU, E.TRANSPORT_ERROR],
    },
    ClientNonInviteTransaction: {
        S.IDLE: [],
        S.TRYING: [E.REQUEST_FROM_TU],
        S.PROCEEDING: [E.REQUEST_FROM_TU, E.RESPONSE_1XX_RECEIVED],
        S.COMPLETED: [E.REQUEST_FROM_TU, E.RESPONSE_2XX_RECEIVED],
        S.TERMINATED: [E.REQUEST_FROM_TU, E.TRANSPORT_ERROR],
    },
    ServerInviteTransaction: {
        S.IDLE: [],
        S.PROCEEDING: [E.REQUEST_RECEIVED],
        S.COMPLETED: [E.REQUEST_RECEIVED, E.RESPONSE_300_699_FROM_TU],
        S.CONFIRMED: [E.REQUEST_RECEIVED, E.RESPONSE_300_699_FROM_TU, E.ACK_RECEIVED],
        S.ACCEPTED: [E.REQUEST_RECEIVED, E.RESPONSE_2XX_FROM_TU],
        S.TERMINATED: [E.REQUEST_RECEIVED, E.RESPONSE_300_699_FROM_TU, E.TRANSPORT_ERROR],
    },
    ServerNonInviteTransaction: {
        S.IDLE: [],
        S.TRYING: [E.REQUEST_RECEIVED],
        S.PROCEEDING: [E.REQUEST_RECEIVED, E.RESPONSE_1XX_FROM_TU],
        S.COMPLETED: [E.REQUEST_RECEIVED, E.RESPONSE_2XX_FROM_TU],
        S.TERMINATED: [E.REQUEST_RECEIVED, E.TRANSPORT_ERROR],
    },
}


def reach(kind: type[Transaction], state: TransactionState) -> Transaction:
    txn = new(kind)
    for event in PATHS[kind][state]:
        apply(txn, event)
    assert txn.state is state
    return txn


TRANSITIONS = [
    (kind, state, event, target)
    for kind in KINDS
    for state, row in kind.TRANSITIONS.items()
    for event, (_, target) in row.items()
]
MISSES = [
    (kind, state, event)
    for kind in KINDS
    for state, row in kind.TRANSITIONS.items()
    for event in TransactionEvent
    if event in TU_EVENTS and event not in row
]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_state_of_a_table_is_reachable(kind: type[Transaction]) -> None:
    assert set(PATHS[kind]) == set(kind.TRANSITIONS)
    for state in kind.TRANSITIONS:
        reach(kind, state)


@pytest.mark.parametrize(
    ("kind", "state", "event", "target"),
    TRANSITIONS,
    ids=[f"{k.kind}-{s.value}-{e.value}" for k, s, e, _ in TRANSITIONS],
)
def test_every_transition_of_every_table(
    kind: type[Transaction], state: TransactionState, event: TransactionEvent, target: TransactionState
) -> None:
    txn = reach(kind, state)
    actions = apply(txn, event)
    assert txn.state is target
    assert (Terminated() in actions) == (target is S.TERMINATED and state is not S.TERMINATED)


@pytest.mark.parametrize(
    ("kind", "state", "event"),
    MISSES,
    ids=[f"{k.kind}-{s.value}-{e.value}" for k, s, e in MISSES],
)
def test_illegal_tu_action_names_kind_state_and_event(
    kind: type[Transaction], state: TransactionState, event: TransactionEvent
) -> None:
    txn = reach(kind, state)
    with pytest.raises(LocalProtocolError) as info:
        apply(txn, event)
    assert f"{kind.kind} transaction" in info.value.reason
    assert f"state {state.value}" in info.value.reason
    assert event.value in info.value.reason
    assert txn.state is state


def test_second_final_response_in_completed_is_refused() -> None:
    txn = reach(ServerNonInviteTransaction, S.COMPLETED)
    with pytest.raises(
        LocalProtocolError,
        match="server non-INVITE transaction in state Completed: no transition for 300-699 from TU",
    ):
        txn.send(respond(txn.request, 500), 1.0)


PEER_EVENTS = {
    ClientInviteTransaction: {E.RESPONSE_1XX_RECEIVED, E.RESPONSE_2XX_RECEIVED, E.RESPONSE_300_699_RECEIVED},
    ClientNonInviteTransaction: {E.RESPONSE_1XX_RECEIVED, E.RESPONSE_2XX_RECEIVED, E.RESPONSE_300_699_RECEIVED},
    ServerInviteTransaction: {E.REQUEST_RECEIVED, E.ACK_RECEIVED},
    ServerNonInviteTransaction: {E.REQUEST_RECEIVED},
}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_nothing_a_peer_sends_misses_the_table(kind: type[Transaction]) -> None:
    for state, row in kind.TRANSITIONS.items():
        if state is not S.IDLE:
            assert PEER_EVENTS[kind] | {E.TRANSPORT_ERROR} <= set(row), state


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_timer_events_only_where_their_timer_runs(kind: type[Transaction]) -> None:
    """Every timer left running on entering a state has an entry in that state's row."""
    for state, row in kind.TRANSITIONS.items():
        listed = {event.name[-1] for event in row if event.name.startswith("TIMER_")}
        assert set(reach(kind, state).pending_timers()) <= listed, state


# -- misuse -------------------------------------------------------------------------------


def test_client_transaction_is_started_with_its_own_request() -> None:
    txn = ClientNonInviteTransaction(request("REGISTER"), reliable=False)
    with pytest.raises(LocalProtocolError):
        txn.send(request("REGISTER"), 0.0)  # an equal request, not the one it carries


def test_misrouted_message_is_refused() -> None:
    txn = reach(ClientInviteTransaction, S.CALLING)
    other = respond(request(branch="z9hG4bKother"), 180)
    with pytest.raises(LocalProtocolError, match="does not match"):
        txn.receive(other, 1.0)


@pytest.mark.parametrize(
    ("kind", "method"),
    [
        (ClientInviteTransaction, "REGISTER"), (ClientNonInviteTransaction, "INVITE"),
        (ClientNonInviteTransaction, "ACK"), (ServerInviteTransaction, "BYE"),
        (ServerNonInviteTransaction, "ACK"),
    ],
)
def test_kind_must_fit_the_method(kind: type[Transaction], method: str) -> None:
    with pytest.raises(LocalProtocolError):
        kind(request(method), reliable=False)


def test_factories_pick_the_kind_and_refuse_ack() -> None:
    assert isinstance(client_transaction(request(), reliable=False), ClientInviteTransaction)
    assert isinstance(client_transaction(request("BYE"), reliable=False), ClientNonInviteTransaction)
    assert isinstance(server_transaction(request(), reliable=False), ServerInviteTransaction)
    assert isinstance(server_transaction(request("CANCEL"), reliable=False), ServerNonInviteTransaction)
    with pytest.raises(LocalProtocolError, match="ACK"):
        client_transaction(request("ACK"), reliable=False)
    with pytest.raises(LocalProtocolError, match="ACK"):
        server_transaction(request("ACK"), reliable=False)


def test_request_without_branch_cannot_start_a_client_transaction() -> None:
    req = request("OPTIONS")
    req.headers.set("Via", "SIP/2.0/UDP pc33.atlanta.example.com")
    with pytest.raises(LocalProtocolError, match="RFC 2543"):
        client_transaction(req, reliable=False)


# -- matching (§17.1.3, §17.2.3) --------------------------------------------------------------


def test_client_key_is_branch_and_cseq_method() -> None:
    invite = request()
    assert client_key(invite) == (BRANCH.lower(), "INVITE")
    assert client_key(respond(invite, 180)) == client_key(invite)
    assert client_key(ack_for(invite)) == client_key(invite)  # ACK belongs to the INVITE
    cancel = request("CANCEL")
    assert client_key(respond(cancel, 200)) == (BRANCH.lower(), "CANCEL")
    assert client_key(respond(request(branch=BRANCH.upper()), 200)) == client_key(invite)


def test_server_key_is_branch_sent_by_and_method() -> None:
    invite = request()
    key = (BRANCH.lower(), "pc33.atlanta.example.com", "INVITE")
    assert server_key(invite) == key
    assert server_key(ack_for(invite)) == key  # ACK → INVITE
    assert server_key(respond(invite, 486)) == key
    assert server_key(request("CANCEL"))[2] == "CANCEL"
    assert server_key(request(sent_by="PC33.Atlanta.example.com:5060")) != key  # port differs


@pytest.mark.parametrize(
    "make_key, key_type, fields",
    [
        (client_key, ClientKey, ("branch", "method")),
        (server_key, ServerKey, ("branch", "sent_by", "method")),
    ],
)
def test_keys_are_typed_values(make_key, key_type, fields) -> None:
    key = make_key(request())
    assert type(key) is key_type and key._fields == fields
    assert hash(key) == hash(make_key(request()))  # a value: equal keys hash alike


def test_client_and_server_keys_never_collide() -> None:
    invite = request()
    assert client_key(invite) != server_key(invite)
    assert ClientKey("b", "INVITE") != ServerKey("b", "INVITE", "")


@pytest.mark.parametrize(
    "role, key_of",
    [("client", client_key), ("server", server_key)],
)
def test_table_looks_a_key_up_by_its_type(role: str, key_of: Callable) -> None:
    table = TransactionTable()
    invite = request()
    if role == "client":
        transaction = table.start_client(invite, 0.0, reliable=False).transaction
    else:
        transaction = table.receive(invite, 0.0, reliable=False).transaction
    other = server_key if key_of is client_key else client_key
    assert table.get(key_of(invite)) is transaction
    assert table.get(other(invite)) is None  # the same branch, the other role
    with pytest.raises(TypeError, match="ClientKey or a ServerKey"):
        table.get(tuple(key_of(invite)))  # a plain tuple is refused


def test_table_get_finds_only_live_transactions_of_the_keys_role() -> None:
    table = TransactionTable()
    options = request("OPTIONS")
    assert table.get(server_key(options)) is None  # nothing at all: nothing looked at
    table.start_client(options, 0.0, reliable=False)
    assert table.get(server_key(options)) is None  # a client's is not a server's
    transaction = table.receive(options, 0.0, reliable=True).transaction
    assert table.get(server_key(options)) is transaction
    transaction.transport_error(0.1, "reset")  # terminated outside the table
    assert table.get(server_key(options)) is None


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_transactions_hash_by_identity(kind: type[Transaction]) -> None:
    method = "INVITE" if kind.kind.endswith(" INVITE") else "OPTIONS"
    req = request(method)
    first, second = kind(req, reliable=False), kind(req, reliable=False)
    assert first.key == second.key and first != second
    records = {first: "one", second: "two"}  # one record per transaction, same key
    assert records[first] == "one" and records[second] == "two"
    assert hash(first) == object.__hash__(first)


def test_missing_branch_gives_an_rfc2543_server_key_and_no_client_key() -> None:
    raw = (
        b"OPTIONS sip:bob@biloxi.example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP old.example.com\r\n"
        b"To: <sip:bob@biloxi.example.com>\r\nFrom: <sip:old@example.com>;tag=1\r\n"
        b"Call-ID: 1@old\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    key = server_key(parse_message(raw))
    assert key.rfc2543 and key.sent_by == "old.example.com" and key.method == "OPTIONS"
    with pytest.raises(RemoteProtocolError, match="RFC 2543"):
        client_key(parse_message(raw))  # we never send one: no answer to us has one


# -- helpers ------------------------------------------------------------------------------


def test_new_branch_is_seeded_and_well_formed() -> None:
    first = [new_branch(random.Random(7)) for _ in range(2)]
    assert first[0] == first[1]  # same seed, same branch
    rng = random.Random(7)
    branches = {new_branch(rng) for _ in range(100)}
    assert len(branches) == 100
    for branch in branches:
        assert branch.startswith("z9hG4bK") and branch[7:].isalnum() and len(branch) == 23


def test_make_trying_copies_timestamp_and_adds_no_tag() -> None:
    req = request()
    req.headers.add("Timestamp", "54")
    trying = make_trying(req)
    assert trying.status == 100 and trying.headers.get("Timestamp") == "54"
    assert trying.to.tag is None and trying.headers.get_all("Via") == req.headers.get_all("Via")


def test_make_non_2xx_ack_refuses_a_2xx() -> None:
    with pytest.raises(LocalProtocolError):
        make_non_2xx_ack(request(), respond(request(), 200))


# -- TransactionTable ---------------------------------------------------------------------


def cancel_for(invite: Request) -> Request:
    cancel = Request("CANCEL", invite.uri)
    for name in ("Via", "Max-Forwards", "Route", "From", "To", "Call-ID"):
        for value in invite.headers.get_all(name):
            cancel.headers.add(name, value)
    cancel.headers.add("CSeq", f"{invite.cseq.seq} CANCEL")
    return cancel


def test_table_routes_responses_by_branch_and_method() -> None:
    table = TransactionTable()
    invite = request()
    started = table.start_client(invite, 0.0, reliable=False)
    assert started == Routed(started.transaction, [Transmit(invite)])
    cancel = cancel_for(invite)
    cancelling = table.start_client(cancel, 1.0, reliable=False).transaction
    assert cancelling is not started.transaction and len(table) == 2  # same branch, CANCEL
    ok = respond(cancel, 200)
    assert table.receive(ok, 1.1, reliable=False) == Routed(cancelling, [Deliver(ok)])
    terminated = respond(invite, 487)
    routed = table.receive(terminated, 1.2, reliable=False)
    assert routed.transaction is started.transaction
    assert routed.actions == [Transmit(started.transaction.ack), Deliver(terminated)]


@pytest.mark.parametrize(
    "response",
    [
        respond(request(branch="z9hG4bKunknown"), 200),
        respond(request("BYE"), 200),  # our branch, but no BYE transaction
    ],
    ids=["unknown branch", "other method"],
)
def test_table_reports_stray_responses(response: Response) -> None:
    table = TransactionTable()
    table.start_client(request(), 0.0, reliable=False)
    assert table.receive(response, 1.0, reliable=False) == Routed(None, [], stray=True)


def test_table_reports_a_response_without_branch_as_stray() -> None:
    table = TransactionTable()
    response = respond(request(), 200)
    response.headers.set("Via", "SIP/2.0/UDP pc33.atlanta.example.com")
    assert table.receive(response, 0.0, reliable=False).stray


def test_table_creates_and_matches_server_transactions() -> None:
    table = TransactionTable()
    invite = request()
    created = table.receive(invite, 0.0, reliable=False)
    assert created.created and isinstance(created.transaction, ServerInviteTransaction)
    assert created.actions == [Transmit(make_trying(invite)), Deliver(invite)]
    again = table.receive(invite, 0.5, reliable=False)
    assert again == Routed(created.transaction, [Transmit(make_trying(invite), retransmission=True)])
    # A CANCEL has the INVITE's branch but its own transaction (§9.2).
    cancel = cancel_for(invite)
    cancelling = table.receive(cancel, 1.0, reliable=False)
    assert cancelling.created and isinstance(cancelling.transaction, ServerNonInviteTransaction)
    assert cancelling.actions == [Deliver(cancel)]
    assert table.get(server_key(cancel)._replace(method="INVITE")) is created.transaction
    # The TU answers both through the table.
    ok = respond(cancel, 200)
    assert table.send_response(ok, 1.1) == Routed(cancelling.transaction, [Transmit(ok)])
    terminated = respond(invite, 487)
    assert table.send_response(terminated, 1.1) == Routed(created.transaction, [Transmit(terminated)])
    # The ACK for the 487 matches the INVITE server transaction.
    assert table.receive(ack_for(invite), 1.3, reliable=False) == Routed(created.transaction, [])
    assert created.transaction.state is S.CONFIRMED


def test_table_passes_an_unmatched_ack_to_the_tu() -> None:
    table = TransactionTable()
    table.receive(request(), 0.0, reliable=False)
    ack = request("ACK", branch="z9hG4bK2xxack")  # the ACK for a 2xx: a new branch
    assert table.receive(ack, 1.0, reliable=False) == Routed(None, [Deliver(ack)])
    assert len(table) == 1


def test_table_keys_server_transactions_by_sent_by() -> None:
    table = TransactionTable()
    first = table.receive(request(), 0.0, reliable=False).transaction
    second = table.receive(request(sent_by="other.example.com"), 0.0, reliable=False)
    assert second.created and second.transaction is not first and len(table) == 2


def test_table_refuses_bad_input() -> None:
    table = TransactionTable()
    req = request("OPTIONS")
    req.headers.set("Via", "SIP/2.0/UDP old.example.com")
    table.receive(req, 0.0, reliable=False)
    merged = request("OPTIONS")
    merged.headers.set("Via", "SIP/2.0/UDP old.example.com")
    merged.uri = parse_message(bytes(merged)).uri.replace(user="carol")
    with pytest.raises(RemoteProtocolError, match="Loop Detected") as raised:
        table.receive(merged, 0.0, reliable=False)  # §8.2.2.2: a merged request
    assert raised.value.status_hint == 482
    with pytest.raises(LocalProtocolError, match="No server transaction"):
        table.send_response(respond(request(), 200), 0.0)
    table.start_client(request(), 0.0, reliable=False)
    with pytest.raises(LocalProtocolError, match="already exists"):
        table.start_client(request(), 0.0, reliable=False)


def test_table_timers_and_dropping_terminated_transactions() -> None:
    table = TransactionTable(SCALED)
    register = request("REGISTER", branch="z9hG4bKreg")
    client = table.start_client(register, 0.0, reliable=False).transaction
    server = table.receive(request("OPTIONS", branch="z9hG4bKopt"), 0.0, reliable=True).transaction
    assert table.next_deadline() == pytest.approx(0.05)
    assert table.on_timer(0.05) == [Routed(client, [Transmit(register, retransmission=True)])]
    # The server answers over TCP: Timer J is zero, it ends and leaves the table at once.
    ok = respond(server.request, 200)
    assert table.send_response(ok, 0.1) == Routed(server, [Transmit(ok), Terminated()])
    assert list(table) == [client]
    log = drive(table)
    assert log[-1] == (pytest.approx(3.2), Routed(client, [Timeout("F"), Terminated()]))
    assert len(table) == 0 and table.next_deadline() is None


def test_table_transport_error_drops_the_transaction() -> None:
    table = TransactionTable()
    client = table.start_client(request(), 0.0, reliable=True).transaction
    assert table.transport_error(client, 0.1, "reset") == Routed(
        client, [TransportFailed("reset"), Terminated()]
    )
    assert len(table) == 0


def test_table_forgets_a_transaction_terminated_outside_it() -> None:
    table = TransactionTable()
    client = table.start_client(request("OPTIONS"), 0.0, reliable=False).transaction
    client.transport_error(0.1, "reset")  # driven directly, not through the table
    assert len(table) == 0 and table.next_deadline() is None
    assert table.receive(respond(client.request, 200), 0.2, reliable=False).stray


@pytest.mark.parametrize("method, timer", [("OPTIONS", "E"), ("INVITE", "A")])
def test_late_timers_do_not_shift_the_retransmission_schedule(method, timer):
    # An adapter that fires a timer late (a busy reactor) must not delay every later
    # retransmission: the next one is due at its RFC time, counted from the last deadline.
    req = request(method)
    txn = (ClientNonInviteTransaction(req, reliable=False) if method == "OPTIONS"
           else client_transaction_for(req))
    txn.send(req, 0.0)
    assert txn.pending_timers()[timer] == 0.5
    txn.on_timer(0.7)  # 0.2 s late
    assert txn.pending_timers()[timer] == 1.5  # 0.5 + 2*T1, not 0.7 + 2*T1


def client_transaction_for(req):
    return ClientInviteTransaction(req, reliable=False)
