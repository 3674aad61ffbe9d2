"""SIP transactions (RFC 3261 §17, with RFC 6026's Accepted state), sans-IO.

A transaction takes four kinds of input and returns a list of actions:

* ``send(message, now)``: the TU starts a client transaction with its request, or
  sends a response on a server transaction;
* ``receive(message, now)``: the transport delivers a message that matched it;
* ``on_timer(now)``: fires every timer due at ``now`` (``next_deadline()`` says when);
* ``transport_error(now, reason)``: the transport could not deliver, or the
  connection carrying the transaction is gone (§17.1.4, §17.2.4).

The actions are imperatives for the caller: :class:`Transmit` a message,
:class:`Deliver` one to the TU, report a :class:`Timeout` or a
:class:`TransportFailed`, and :class:`Terminated` when the transaction is over.

Each kind of transaction has ONE transition table, ``state → event → (handler, new
state)``, transcribing RFC 3261 Figures 5 to 8 (and RFC 6026 Figures 4 and 5); the
handlers, pjsip style, do the work of a transition and never choose the next state.
An input the table does not list raises :class:`LocalProtocolError` naming the kind,
state and event. Every input a *peer* can cause is listed in every live state, so
nothing received from the network can raise.

Time is an argument: nothing here reads a clock. Timers are absolute deadlines,
armed from the ``now`` of the input that starts them.
"""

from __future__ import annotations

import enum
import functools
import heapq
import itertools
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from ._errors import LocalProtocolError, RemoteProtocolError
from ._headers import BRANCH_MAGIC_COOKIE, Headers
from ._message import Message, Request, Response, make_response, top_via_of
from ._timers import Timers

if TYPE_CHECKING:  # only the type: callers pass their own seeded generator
    import random

# -- actions (what the caller must do) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transmit:
    """Pass ``message`` to the transport (``bytes(message)`` serialises it).

    ``retransmission`` is True when the transaction resends a message it already
    transmitted (Timers A, E and G, or an answer to a retransmitted request or response).
    """

    message: Message
    retransmission: bool = False


@dataclass(frozen=True, slots=True)
class Deliver:
    """Pass ``message`` up to the TU."""

    message: Message


@dataclass(frozen=True, slots=True)
class Timeout:
    """The transaction timed out: ``timer`` is ``"B"``, ``"F"`` or ``"H"``."""

    timer: str


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """The transport failed under the transaction (§17.1.4, §17.2.4); ``reason`` says how."""

    reason: str


@dataclass(frozen=True, slots=True)
class Terminated:
    """The transaction reached the Terminated state: forget it."""


Action: TypeAlias = Transmit | Deliver | Timeout | TransportFailed | Terminated


# -- states and events -----------------------------------------------------------------


class TransactionState(enum.Enum):
    """The states of RFC 3261 §17 (and RFC 6026's Accepted).

    ``IDLE`` is the state before the first input: a client transaction whose request
    the TU has not sent yet, a server transaction whose request has not been passed
    in yet (pjsip's NULL state).
    """

    IDLE = "Idle"
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class TransactionEvent(enum.Enum):
    """The inputs of the transition tables, named as on the arrows of RFC 3261 Figures 5-8."""

    REQUEST_FROM_TU = "request from TU"
    RESPONSE_1XX_FROM_TU = "1xx from TU"
    RESPONSE_2XX_FROM_TU = "2xx from TU"
    RESPONSE_300_699_FROM_TU = "300-699 from TU"
    REQUEST_RECEIVED = "request received"
    ACK_RECEIVED = "ACK received"
    RESPONSE_1XX_RECEIVED = "1xx received"
    RESPONSE_2XX_RECEIVED = "2xx received"
    RESPONSE_300_699_RECEIVED = "300-699 received"
    TIMER_A = "Timer A"
    TIMER_B = "Timer B"
    TIMER_D = "Timer D"
    TIMER_E = "Timer E"
    TIMER_F = "Timer F"
    TIMER_G = "Timer G"
    TIMER_H = "Timer H"
    TIMER_I = "Timer I"
    TIMER_J = "Timer J"
    TIMER_K = "Timer K"
    TIMER_L = "Timer L"
    TIMER_M = "Timer M"
    TRANSPORT_ERROR = "transport error"


_S = TransactionState
_E = TransactionEvent
_TIMER_EVENTS = {event.name[-1]: event for event in _E if event.name.startswith("TIMER_")}

TU_EVENTS = frozenset(
    (
        _E.REQUEST_FROM_TU,
        _E.RESPONSE_1XX_FROM_TU,
        _E.RESPONSE_2XX_FROM_TU,
        _E.RESPONSE_300_699_FROM_TU,
    )
)
"""Events caused by the TU: a table miss on one of them is the TU's mistake."""


def _response_event(response: Response, *, from_tu: bool) -> TransactionEvent:
    if response.status < 200:
        return _E.RESPONSE_1XX_FROM_TU if from_tu else _E.RESPONSE_1XX_RECEIVED
    if response.status < 300:
        return _E.RESPONSE_2XX_FROM_TU if from_tu else _E.RESPONSE_2XX_RECEIVED
    return _E.RESPONSE_300_699_FROM_TU if from_tu else _E.RESPONSE_300_699_RECEIVED


# -- matching (§17.1.3, §17.2.3) ---------------------------------------------------------

ClientKey: TypeAlias = tuple[str, str]
ServerKey: TypeAlias = tuple[str, str, str]


@functools.lru_cache(maxsize=4096)
def _via_key_of(line: str) -> tuple[str, str]:
    """(branch, sent-by) of the top Via of a Via header line, lower-cased; memoised, as
    every message is matched several times on its way (table, transaction, response)."""
    via = top_via_of(line)
    branch = via.branch
    if not branch:
        raise RemoteProtocolError(
            "Top Via has no branch parameter (RFC 2543 transaction matching is not supported)"
        )
    # §7.3.1: parameter values compare case-insensitively unless stated otherwise.
    return branch.lower(), via.sent_by.lower()


def _via_key(message: Message) -> tuple[str, str]:
    line = message.headers.get("Via")
    if line is None:
        raise RemoteProtocolError("Missing Via header")
    return _via_key_of(line)


def _method(message: Message) -> str:
    method = message.method if isinstance(message, Request) else message.cseq.method
    # The ACK for a non-2xx response belongs to the INVITE transaction (§17.1.1.3, §17.2.3).
    return "INVITE" if method == "ACK" else method


def client_key(message: Message) -> ClientKey:
    """The client transaction a message belongs to: ``(branch, method)`` (RFC 3261 §17.1.3).

    For a response: the branch of its top Via and the method of its CSeq, which tells
    a CANCEL apart from the INVITE it cancels (same branch, §9.1). For a request: its
    branch and method, ACK counting as INVITE (the ACK of a non-2xx response is part of
    the INVITE client transaction, §17.1.1.3). The branch is compared case-insensitively.
    Raises :class:`RemoteProtocolError` when the top Via has no branch: RFC 2543
    matching is not implemented.
    """
    return (_via_key(message)[0], _method(message))


def server_key(message: Message) -> ServerKey:
    """The server transaction a message belongs to: ``(branch, sent-by, method)`` (§17.2.3).

    Built from a request (ACK counting as INVITE, so the ACK of a non-2xx response
    matches the INVITE server transaction) or from a response the TU sends (its Via and
    CSeq are copied from the request). A CANCEL has its own key: same branch and
    sent-by as the INVITE, method CANCEL (§9.2). Raises :class:`RemoteProtocolError`
    when the top Via has no branch: RFC 2543 matching (§17.2.3, To tag, Call-ID...)
    is not implemented.
    """
    branch, sent_by = _via_key(message)
    return (branch, sent_by, _method(message))


_BRANCH_CHARS = string.ascii_letters + string.digits


def new_branch(rng: random.Random, length: int = 16) -> str:
    """A fresh RFC 3261 branch: the magic cookie ``z9hG4bK`` and ``length`` token chars.

    ``rng`` is the caller's seeded generator, so that runs repeat (§8.1.1.7 asks for
    uniqueness in space and time: 16 alphanumerics carry 95 bits).
    """
    return BRANCH_MAGIC_COOKIE + "".join(rng.choices(_BRANCH_CHARS, k=length))


# -- message helpers ---------------------------------------------------------------------


def make_trying(request: Request) -> Response:
    """The 100 (Trying) response to ``request``: no To tag, Timestamp copied (§8.2.6.1)."""
    timestamp = request.headers.get("Timestamp")
    return make_response(request, 100, headers=[("Timestamp", timestamp)] if timestamp else [])


def make_non_2xx_ack(invite: Request, response: Response) -> Request:
    """The ACK an INVITE client transaction sends for a 300-699 response (§17.1.1.3).

    Request-URI, Call-ID and From of the INVITE; To of the response (with its tag);
    a single Via, the INVITE's top one; CSeq with the INVITE's number and method ACK;
    the INVITE's Route headers; Max-Forwards of the INVITE (70 if it had none,
    §8.1.1.6). No body. The ACK for a 2xx is the TU's (§13.2.2.4), not this one.
    """
    if invite.method != "INVITE" or not 300 <= response.status <= 699:
        raise LocalProtocolError("make_non_2xx_ack() acknowledges a 300-699 response to an INVITE")
    headers = Headers()
    headers.add("Via", invite.headers.values("Via")[0])
    headers.add("Max-Forwards", invite.headers.get("Max-Forwards") or "70")
    for route in invite.headers.get_all("Route"):
        headers.add("Route", route)
    headers.add("From", _header(invite, "From"))
    headers.add("To", _header(response, "To"))
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq.seq} ACK")
    return Request("ACK", invite.uri, headers)


def _header(message: Message, name: str) -> str:
    value = message.headers.get(name)
    if value is None:
        raise LocalProtocolError(f"Cannot build the ACK: {name} header missing")
    return value


# -- the transaction machinery -----------------------------------------------------------

Handler: TypeAlias = Callable[[Any, Any, float], list[Action]]
"""``handler(transaction, message_or_none, now) -> actions``."""
Transition: TypeAlias = tuple[Handler, TransactionState]
Transitions: TypeAlias = dict[TransactionState, dict[TransactionEvent, Transition]]


class Transaction:
    """What the four kinds share: state, timers, the dispatch through the table.

    Subclasses set ``kind`` (used in error messages), ``TRANSITIONS`` (the table) and
    the key (:func:`client_key` or :func:`server_key` of the request). Public state:
    ``request``, ``reliable``, ``timers``, ``state``, ``key``, ``last_response``,
    ``failure_reason``; ``pending_timers()`` for reports and tests.
    """

    kind: ClassVar[str]
    TRANSITIONS: ClassVar[Transitions]

    def __init__(self, request: Request, *, reliable: bool, timers: Timers | None = None) -> None:
        self.request = request
        self.reliable = reliable
        self.timers = Timers() if timers is None else timers
        self.state = TransactionState.IDLE
        self.key: ClientKey | ServerKey = self._key(request)
        self.last_response: Response | None = None
        """Client: the last response received. Server: the last response sent."""
        self.failure_reason: str | None = None
        """The reason of the last transport error, if any."""
        self._deadlines: dict[str, float] = {}
        self._intervals: dict[str, float] = {}
        self._fired_deadline = 0.0  # the deadline of the timer being fired

    def _key(self, message: Message) -> ClientKey | ServerKey:  # pragma: no cover - overridden
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key} {self.state.value}>"

    # -- inputs

    def send(self, message: Message, now: float) -> list[Action]:
        """The TU sends ``message``: the request that starts a client transaction, or a
        response on a server transaction."""
        if isinstance(message, Request):
            event = _E.REQUEST_FROM_TU
        elif isinstance(message, Response):
            event = _response_event(message, from_tu=True)
        else:
            raise TypeError(f"send() takes a Request or Response, not {type(message).__name__}")
        self._transition(event)  # a TU mistake fails before any check on the message
        if self._key(message) != self.key:
            raise LocalProtocolError(f"{message.start_line()!r} does not belong to {self!r}")
        return self._run(event, message, now)

    def receive(self, message: Message, now: float) -> list[Action]:
        """The transport delivers ``message``, which matched this transaction."""
        if isinstance(message, Request):
            event = _E.ACK_RECEIVED if message.method == "ACK" else _E.REQUEST_RECEIVED
        elif isinstance(message, Response):
            event = _response_event(message, from_tu=False)
        else:
            raise TypeError(f"receive() takes a Request or Response, not {type(message).__name__}")
        self._transition(event)
        if self._key(message) != self.key:
            raise LocalProtocolError(f"{message.start_line()!r} does not match {self!r}")
        return self._run(event, message, now)

    def transport_error(self, now: float, reason: str) -> list[Action]:
        """The transport failed to send for this transaction, or lost its connection.

        Informs the TU at once (:class:`TransportFailed`) instead of letting Timer B or F
        run out (RFC 3261 §17.1.1.2, §17.1.2.2, §17.1.4, §17.2.4).
        """
        self._transition(_E.TRANSPORT_ERROR)
        self.failure_reason = reason
        return self._run(_E.TRANSPORT_ERROR, None, now)

    def on_timer(self, now: float) -> list[Action]:
        """Fire every timer due at or before ``now``, earliest first."""
        return self._expire(now)

    # -- timers

    def next_deadline(self) -> float | None:
        """The earliest pending timer, as an absolute time; None when none is pending."""
        return min(self._deadlines.values(), default=None)

    def pending_timers(self) -> dict[str, float]:
        """Every pending timer by letter (``{"A": 1.5, "B": 32.0}``)."""
        return dict(self._deadlines)

    def _arm(self, timer: str, now: float, interval: float) -> None:
        self._deadlines[timer] = now + interval
        self._intervals[timer] = interval

    def _cancel(self, *timers: str) -> None:
        for timer in timers:
            self._deadlines.pop(timer, None)

    def _expire(self, now: float) -> list[Action]:
        actions: list[Action] = []
        while self._deadlines:
            timer, deadline = min(self._deadlines.items(), key=lambda item: (item[1], item[0]))
            if deadline > now:
                break
            del self._deadlines[timer]
            # Retransmission timers re-arm from when they were due, not from when the
            # caller got round to firing them: lateness must not add up over a
            # transaction (11 REGISTERs before Timer F however busy the reactor is).
            self._fired_deadline = deadline
            actions += self._dispatch(_TIMER_EVENTS[timer], None, now)
        return actions

    # -- dispatch

    @property
    def terminated(self) -> bool:
        """True once the transaction reached Terminated: it takes no more TU input."""
        return self.state is TransactionState.TERMINATED

    def _transition(self, event: TransactionEvent) -> tuple[Handler, TransactionState]:
        try:
            return self.TRANSITIONS[self.state][event]
        except KeyError:
            raise LocalProtocolError(
                f"{self.kind} transaction in state {self.state.value}: "
                f"no transition for {event.value}"
            ) from None

    def _dispatch(
        self, event: TransactionEvent, message: Message | None, now: float
    ) -> list[Action]:
        handler, target = self._transition(event)
        actions = handler(self, message, now)
        if target is not self.state:
            self.state = target
            if target is TransactionState.TERMINATED:
                self._deadlines.clear()
                actions.append(Terminated())
        return actions

    def _run(self, event: TransactionEvent, message: Message | None, now: float) -> list[Action]:
        actions = self._dispatch(event, message, now)
        # Then every timer due by now: those armed with zero (D, I, J, K over reliable
        # transports) end the transaction within this very call.
        return actions + self._expire(now)


def _ignore(txn: Transaction, message: Message | None, now: float) -> list[Action]:
    """No action: a timer that only ends a state, or a message the state absorbs."""
    return []


def _deliver(txn: Transaction, message: Message, now: float) -> list[Action]:
    return [Deliver(message)]


def _transport_failed(txn: Transaction, message: None, now: float) -> list[Action]:
    return [TransportFailed(txn.failure_reason or "transport error")]


def _timeout(timer: str) -> Handler:
    def timed_out(txn: Transaction, message: None, now: float) -> list[Action]:
        return [Timeout(timer)]

    timed_out.__name__ = f"_timeout_{timer.lower()}"
    return timed_out


# -- client transactions -----------------------------------------------------------------


class _ClientTransaction(Transaction):
    def __init__(self, request: Request, *, reliable: bool, timers: Timers | None = None) -> None:
        try:
            super().__init__(request, reliable=reliable, timers=timers)
        except RemoteProtocolError as error:  # our own request: our mistake
            raise LocalProtocolError(error.reason) from None

    def _key(self, message: Message) -> ClientKey:
        return client_key(message)

    def _check_request(self, request: Request) -> None:
        if request is not self.request:
            raise LocalProtocolError(f"{self!r} is started with the request it was created for")


class ClientInviteTransaction(_ClientTransaction):
    """RFC 3261 §17.1.1 (Figure 5) with RFC 6026 §7.2 (Figure 4): Accepted and Timer M.

    ``ack`` is the ACK it built for a 300-699 response (§17.1.1.3), once there is one.
    """

    kind = "client INVITE"

    def __init__(self, request: Request, *, reliable: bool, timers: Timers | None = None) -> None:
        if request.method != "INVITE":
            raise LocalProtocolError(f"No client INVITE transaction for {request.method}")
        super().__init__(request, reliable=reliable, timers=timers)
        self.ack: Request | None = None


def _ci_start(txn: ClientInviteTransaction, request: Request, now: float) -> list[Action]:
    # §17.1.1.2: send the INVITE; Timer A (unreliable only) and Timer B start.
    txn._check_request(request)
    if not txn.reliable:
        txn._arm("A", now, txn.timers.timer_a)
    txn._arm("B", now, txn.timers.timer_b)
    return [Transmit(request)]


def _ci_timer_a(txn: ClientInviteTransaction, message: None, now: float) -> list[Action]:
    # §17.1.1.2: retransmit, and reset Timer A to twice its last value (no cap).
    txn._arm("A", txn._fired_deadline, 2 * txn._intervals["A"])
    return [Transmit(txn.request, retransmission=True)]


def _ci_provisional(txn: ClientInviteTransaction, response: Response, now: float) -> list[Action]:
    # §17.1.1.2: a 1xx goes to the TU; in Proceeding the INVITE is not retransmitted
    # any more and Timer B no longer applies.
    txn._cancel("A", "B")
    txn.last_response = response
    return [Deliver(response)]


def _ci_success(txn: ClientInviteTransaction, response: Response, now: float) -> list[Action]:
    # RFC 6026 §7.2 / §8.4: a 2xx goes to the TU and the transaction waits in Accepted
    # for Timer M, passing retransmitted (or forked) 2xx responses to the TU too. The
    # ACK for a 2xx is the TU's (§13.2.2.4).
    txn._cancel("A", "B")
    txn.last_response = response
    if txn.state is not TransactionState.ACCEPTED:
        txn._arm("M", now, txn.timers.timer_m)
    return [Deliver(response)]


def _ci_failure(txn: ClientInviteTransaction, response: Response, now: float) -> list[Action]:
    # §17.1.1.2: a 300-699 response is ACKed (§17.1.1.3) and passed to the TU; Timer D
    # (zero over reliable transports) absorbs retransmissions of it.
    txn._cancel("A", "B")
    txn.last_response = response
    txn.ack = make_non_2xx_ack(txn.request, response)
    txn._arm("D", now, txn.timers.linger("D", reliable=txn.reliable))
    return [Transmit(txn.ack), Deliver(response)]


def _ci_reack(txn: ClientInviteTransaction, response: Response, now: float) -> list[Action]:
    # §17.1.1.2: a retransmitted final response in Completed gets the ACK again, and is
    # not passed to the TU.
    assert txn.ack is not None
    return [Transmit(txn.ack, retransmission=True)]


_CLIENT_INVITE: Transitions = {
    _S.IDLE: {
        _E.REQUEST_FROM_TU: (_ci_start, _S.CALLING),
    },
    _S.CALLING: {
        _E.TIMER_A: (_ci_timer_a, _S.CALLING),
        _E.TIMER_B: (_timeout("B"), _S.TERMINATED),
        _E.RESPONSE_1XX_RECEIVED: (_ci_provisional, _S.PROCEEDING),
        _E.RESPONSE_2XX_RECEIVED: (_ci_success, _S.ACCEPTED),
        _E.RESPONSE_300_699_RECEIVED: (_ci_failure, _S.COMPLETED),
        _E.TRANSPORT_ERROR: (_transport_failed, _S.TERMINATED),
    },
    _S.PROCEEDING: {
        _E.RESPONSE_1XX_RECEIVED: (_ci_provisional, _S.PROCEEDING),
        _E.RESPONSE_2XX_RECEIVED: (_ci_success, _S.ACCEPTED),
        _E.RESPONSE_300_699_RECEIVED: (_ci_failure, _S.COMPLETED),
        # Not in Figure 5: without it a lost connection while ringing waits forever.
        _E.TRANSPORT_ERROR: (_transport_failed, _S.TERMINATED),
    },
    _S.COMPLETED: {
        _E.RESPONSE_1XX_RECEIVED: (_ignore, _S.COMPLETED),  # late 1xx: absorbed
        _E.RESPONSE_2XX_RECEIVED: (_ignore, _S.COMPLETED),  # 2xx after a final: absorbed
        _E.RESPONSE_300_699_RECEIVED: (_ci_reack, _S.COMPLETED),
        _E.TIMER_D: (_ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (_transport_failed, _S.TERMINATED),
    },
    _S.ACCEPTED: {
        _E.RESPONSE_1XX_RECEIVED: (_ignore, _S.ACCEPTED),  # RFC 6026 §8.4: absorbed
        _E.RESPONSE_2XX_RECEIVED: (_ci_success, _S.ACCEPTED),
        _E.RESPONSE_300_699_RECEIVED: (_ignore, _S.ACCEPTED),  # RFC 6026 §8.4: absorbed
        _E.TIMER_M: (_ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (_transport_failed, _S.TERMINATED),  # not in Figure 4
    },
    _S.TERMINATED: {
        _E.RESPONSE_1XX_RECEIVED: (_ignore, _S.TERMINATED),
        _E.RESPONSE_2XX_RECEIVED: (_ignore, _S.TERMINATED),
        _E.RESPONSE_300_699_RECEIVED: (_ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (_ignore, _S.TERMINATED),
    },
}
ClientInviteTransaction.TRANSITIONS = _CLIENT_INVITE


class ClientNonInviteTransaction(_ClientTransaction):
    """RFC 3261 §17.1.2 (Figure 6): Timer E doubling up to T2, Timer F, Timer K."""

    kind = "client non-INVITE"

    def __init__(self, request: Request, *, reliable: bool, timers: Timers | None = None) -> None:
        if request.method in ("INVITE", "ACK"):
            raise LocalProtocolError(f"No client non-INVITE transaction for {request.method}")
        super().__init__(request, reliable=reliable, timers=timers)


def _cn_start(txn: ClientNonInviteTransaction, request: Request, now: float) -> list[Action]:
    # §17.1.2.2: send the request; Timer E (unreliable only) and Timer F start.
    txn._check_request(request)
    if not txn.reliable:
        txn._arm("E", now, txn.timers.timer_e)
    txn._arm("F", now, txn.timers.timer_f)
    return [Transmit(request)]


def _cn_timer_e_trying(txn: ClientNonInviteTransaction, message: None, now: float) -> list[Action]:
    # §17.1.2.2: in Trying, Timer E is reset to MIN(2 * its last value, T2).
    txn._arm("E", txn._fired_deadline, min(2 * txn._intervals["E"], txn.timers.t2))
    return [Transmit(txn.request, retransmission=True)]


def _cn_timer_e_proceeding(
    txn: ClientNonInviteTransaction, message: None, now: float
) -> list[Action]:
    # §17.1.2.2: in Proceeding, Timer E is reset to T2.
    txn._arm("E", txn._fired_deadline, txn.timers.t2)
    return [Transmit(txn.request, retransmission=True)]


def _cn_provisional(
    txn: ClientNonInviteTransaction, response: Response, now: float
) -> list[Action]:
    # §17.1.2.2: a 1xx goes to the TU; Timers E and F keep running.
    txn.last_response = response
    return [Deliver(response)]


def _cn_final(txn: ClientNonInviteTransaction, response: Response, now: float) -> list[Action]:
    # §17.1.2.2: a final response goes to the TU; Timer K (zero if reliable) absorbs
    # its retransmissions.
    txn._cancel("E", "F")
    txn.last_response = response
    txn._arm("K", now, txn.timers.linger("K", reliable=txn.reliable))
    return [Deliver(response)]


_CLIENT_NON_INVITE: Transitions = {
    _S.IDLE: {
        _E.REQUEST_FROM_TU: (_cn_start, _S.TRYING),
    },
    _S.TRYING: {
        _E.TIMER_E: (_cn_timer_e_trying, _S.TRYING),
        _E.TIMER_F: (_timeout("F"), _S.TERMINATED),
        _E.RESPONSE_1XX_RECEIVED: (_cn_provisional, _S.PROCEEDING),
        _E.RESPONSE_2XX_RECEIVED: (_cn_final, _S.COMPLETED),
        _E.RESPONSE_300_699_RECEIVED: (_cn_final, _S.COMPLETED),
        _E.TRANSPORT_ERROR: (_transport_failed, _S.TERMINATED),
    },
    _S.PROCEEDING: {
        _E.TIMER_E: (_cn_timer_e_proceeding, _S.PROCEEDING),
        _E.TIMER_F: (_timeout("F"), _S.TERMINATED),
        _E.RESPONSE_1XX_RECEIVED: (_cn_provisional, _S.PROCEEDING),
        _E.RESPONSE_2XX_RECEIVED: (_cn_final, _S.COMPLETED),
        _E.RESPONSE_300_699_RECEIVED: (_cn_final, _S.COMPLETED),
        _E.TRANSPORT_ERROR: (_transport_failed, _S.TERMINATED),
    },
    _S.COMPLETED: {
        _E.RESPONSE_1XX_RECEIVED: (_ignore, _S.COMPLETED),
        _E.RESPONSE_2XX_RECEIVED: (_ignore, _S.COMPLETED),  # retransmission: absorbed
        _E.RESPONSE_300_699_RECEIVED: (_ignore, _S.COMPLETED),  # retransmission: absorbed
        _E.TIMER_K: (_ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (_transport_failed, _S.TERMINATED),  # not in Figure 6
    },
    _S.TERMINATED: {
        _E.RESPONSE_1XX_RECEIVED: (_ignore, _S.TERMINATED),
        _E.RESPONSE_2XX_RECEIVED: (_ignore, _S.TERMINATED),
        _E.RESPONSE_300_699_RECEIVED: (_ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (_ignore, _S.TERMINATED),
    },
}
ClientNonInviteTransaction.TRANSITIONS = _CLIENT_NON_INVITE


# -- server transactions -----------------------------------------------------------------


class _ServerTransaction(Transaction):
    def _key(self, message: Message) -> ServerKey:
        return server_key(message)


def _sv_respond(txn: _ServerTransaction, response: Response, now: float) -> list[Action]:
    # §17.2.1, §17.2.2: a response from the TU goes to the transport; the last one is
    # kept to answer retransmitted requests.
    txn.last_response = response
    return [Transmit(response)]


def _sv_resend(txn: _ServerTransaction, request: Request, now: float) -> list[Action]:
    # §17.2.1, §17.2.2: a retransmitted request gets the last response again (if any).
    if txn.last_response is None:
        return []
    return [Transmit(txn.last_response, retransmission=True)]


class ServerInviteTransaction(_ServerTransaction):
    """RFC 3261 §17.2.1 (Figure 7) with RFC 6026 §7.1 (Figure 5): Accepted and Timer L.

    With ``send_trying`` (the default) it answers the INVITE with 100 Trying at once,
    which the RFC requires unless the TU answers within 200 ms; without it the TU sends
    its own (:func:`make_trying`).
    """

    kind = "server INVITE"

    def __init__(
        self,
        request: Request,
        *,
        reliable: bool,
        timers: Timers | None = None,
        send_trying: bool = True,
    ) -> None:
        if request.method != "INVITE":
            raise LocalProtocolError(f"No server INVITE transaction for {request.method}")
        super().__init__(request, reliable=reliable, timers=timers)
        self.send_trying = send_trying


def _si_start(txn: ServerInviteTransaction, request: Request, now: float) -> list[Action]:
    # §17.2.1: pass the INVITE to the TU; send 100 Trying unless the TU will answer within
    # 200 ms. The 100 comes first, so that a TU answering synchronously from Deliver has
    # its response transmitted after it.
    actions: list[Action] = []
    if txn.send_trying:
        txn.last_response = make_trying(request)
        actions.append(Transmit(txn.last_response))
    actions.append(Deliver(request))
    return actions


def _si_success(txn: ServerInviteTransaction, response: Response, now: float) -> list[Action]:
    # RFC 6026 §8.5: a 2xx goes to the transport, unretransmitted by the transaction (the
    # TU does that, §13.3.1.4); Timer L keeps the transaction to absorb INVITE
    # retransmissions and carry the TU's 2xx retransmissions.
    if txn.state is not TransactionState.ACCEPTED:
        txn._arm("L", now, txn.timers.timer_l)
    return _sv_respond(txn, response, now)


def _si_failure(txn: ServerInviteTransaction, response: Response, now: float) -> list[Action]:
    # §17.2.1: a 300-699 response goes to the transport; Timer G (unreliable only)
    # retransmits it until the ACK, Timer H gives up on the ACK.
    if not txn.reliable:
        txn._arm("G", now, txn.timers.timer_g)
    txn._arm("H", now, txn.timers.timer_h)
    return _sv_respond(txn, response, now)


def _si_timer_g(txn: ServerInviteTransaction, message: None, now: float) -> list[Action]:
    # §17.2.1: retransmit the final response; Timer G becomes MIN(2 * its last value, T2).
    txn._arm("G", txn._fired_deadline, min(2 * txn._intervals["G"], txn.timers.t2))
    assert txn.last_response is not None
    return [Transmit(txn.last_response, retransmission=True)]


def _si_confirm(txn: ServerInviteTransaction, ack: Request, now: float) -> list[Action]:
    # §17.2.1: the ACK (absorbed, not passed to the TU) stops G and H; Timer I (zero if
    # reliable) absorbs its retransmissions.
    txn._cancel("G", "H")
    txn._arm("I", now, txn.timers.linger("I", reliable=txn.reliable))
    return []


_SERVER_INVITE: Transitions = {
    _S.IDLE: {
        _E.REQUEST_RECEIVED: (_si_start, _S.PROCEEDING),
    },
    _S.PROCEEDING: {
        _E.REQUEST_RECEIVED: (_sv_resend, _S.PROCEEDING),
        _E.ACK_RECEIVED: (_ignore, _S.PROCEEDING),  # an ACK before any final: absorbed
        _E.RESPONSE_1XX_FROM_TU: (_sv_respond, _S.PROCEEDING),
        _E.RESPONSE_2XX_FROM_TU: (_si_success, _S.ACCEPTED),
        _E.RESPONSE_300_699_FROM_TU: (_si_failure, _S.COMPLETED),
        # RFC 6026 Figure 5: inform the TU and stay; the TU still owes a final response.
        _E.TRANSPORT_ERROR: (_transport_failed, _S.PROCEEDING),
    },
    _S.COMPLETED: {
        _E.REQUEST_RECEIVED: (_sv_resend, _S.COMPLETED),
        _E.ACK_RECEIVED: (_si_confirm, _S.CONFIRMED),
        _E.TIMER_G: (_si_timer_g, _S.COMPLETED),
        _E.TIMER_H: (_timeout("H"), _S.TERMINATED),
        _E.TRANSPORT_ERROR: (_transport_failed, _S.TERMINATED),
    },
    _S.CONFIRMED: {
        _E.REQUEST_RECEIVED: (_ignore, _S.CONFIRMED),
        _E.ACK_RECEIVED: (_ignore, _S.CONFIRMED),  # §17.2.1: absorb ACK retransmissions
        _E.TIMER_I: (_ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (_transport_failed, _S.TERMINATED),  # not in Figure 7
    },
    _S.ACCEPTED: {
        _E.REQUEST_RECEIVED: (_ignore, _S.ACCEPTED),  # RFC 6026 §8.7: absorbed, not to TU
        _E.ACK_RECEIVED: (_deliver, _S.ACCEPTED),  # RFC 6026 §8.7: ACK passed to the TU
        _E.RESPONSE_2XX_FROM_TU: (_sv_respond, _S.ACCEPTED),  # the TU's retransmissions
        _E.TIMER_L: (_ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (_transport_failed, _S.ACCEPTED),  # RFC 6026 Figure 5
    },
    _S.TERMINATED: {
        _E.REQUEST_RECEIVED: (_ignore, _S.TERMINATED),
        _E.ACK_RECEIVED: (_ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (_ignore, _S.TERMINATED),
    },
}
ServerInviteTransaction.TRANSITIONS = _SERVER_INVITE


class ServerNonInviteTransaction(_ServerTransaction):
    """RFC 3261 §17.2.2 (Figure 8): request retransmissions answered, Timer J."""

    kind = "server non-INVITE"

    def __init__(self, request: Request, *, reliable: bool, timers: Timers | None = None) -> None:
        if request.method in ("INVITE", "ACK"):
            raise LocalProtocolError(f"No server non-INVITE transaction for {request.method}")
        super().__init__(request, reliable=reliable, timers=timers)


def _sn_final(txn: ServerNonInviteTransaction, response: Response, now: float) -> list[Action]:
    # §17.2.2: a final response goes to the transport; Timer J (zero if reliable) keeps
    # the transaction to answer request retransmissions.
    txn._arm("J", now, txn.timers.linger("J", reliable=txn.reliable))
    return _sv_respond(txn, response, now)


_SERVER_NON_INVITE: Transitions = {
    _S.IDLE: {
        _E.REQUEST_RECEIVED: (_deliver, _S.TRYING),  # §17.2.2: pass the request to the TU
    },
    _S.TRYING: {
        _E.REQUEST_RECEIVED: (_ignore, _S.TRYING),  # §17.2.2: retransmissions discarded
        _E.RESPONSE_1XX_FROM_TU: (_sv_respond, _S.PROCEEDING),
        _E.RESPONSE_2XX_FROM_TU: (_sn_final, _S.COMPLETED),
        _E.RESPONSE_300_699_FROM_TU: (_sn_final, _S.COMPLETED),
        _E.TRANSPORT_ERROR: (_transport_failed, _S.TERMINATED),  # not in Figure 8
    },
    _S.PROCEEDING: {
        _E.REQUEST_RECEIVED: (_sv_resend, _S.PROCEEDING),
        _E.RESPONSE_1XX_FROM_TU: (_sv_respond, _S.PROCEEDING),
        _E.RESPONSE_2XX_FROM_TU: (_sn_final, _S.COMPLETED),
        _E.RESPONSE_300_699_FROM_TU: (_sn_final, _S.COMPLETED),
        _E.TRANSPORT_ERROR: (_transport_failed, _S.TERMINATED),
    },
    _S.COMPLETED: {
        _E.REQUEST_RECEIVED: (_sv_resend, _S.COMPLETED),
        _E.TIMER_J: (_ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (_transport_failed, _S.TERMINATED),
    },
    _S.TERMINATED: {
        _E.REQUEST_RECEIVED: (_ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (_ignore, _S.TERMINATED),
    },
}
ServerNonInviteTransaction.TRANSITIONS = _SERVER_NON_INVITE


ClientTransaction: TypeAlias = ClientInviteTransaction | ClientNonInviteTransaction
ServerTransaction: TypeAlias = ServerInviteTransaction | ServerNonInviteTransaction


def client_transaction(
    request: Request, *, reliable: bool, timers: Timers | None = None
) -> ClientTransaction:
    """The client transaction for ``request``: INVITE or non-INVITE by its method.

    An ACK has none: the ACK for a 300-699 response is sent by the INVITE client
    transaction, the ACK for a 2xx by the TU straight to the transport (§17.1.1.3).
    """
    if request.method == "ACK":
        raise LocalProtocolError("An ACK has no client transaction (RFC 3261 §17.1.1.3, §13.2.2.4)")
    if request.method == "INVITE":
        return ClientInviteTransaction(request, reliable=reliable, timers=timers)
    return ClientNonInviteTransaction(request, reliable=reliable, timers=timers)


def server_transaction(
    request: Request, *, reliable: bool, timers: Timers | None = None, send_trying: bool = True
) -> ServerTransaction:
    """The server transaction for ``request``: INVITE or non-INVITE by its method.

    An ACK never creates one (§17.2.3): it belongs to an INVITE transaction or to the TU.
    """
    if request.method == "ACK":
        raise LocalProtocolError("An ACK never creates a server transaction (RFC 3261 §17.2.3)")
    if request.method == "INVITE":
        return ServerInviteTransaction(
            request, reliable=reliable, timers=timers, send_trying=send_trying
        )
    return ServerNonInviteTransaction(request, reliable=reliable, timers=timers)


# -- the table of transactions -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Routed:
    """The actions of one transaction, as :class:`TransactionTable` returns them.

    ``transaction`` is None when a message matched none: an ACK for a 2xx (passed to
    the TU) or a ``stray`` response, which is dropped (RFC 6026 §8.9) and flagged so the
    caller can report it. ``created`` is True when the message created a server
    transaction.
    """

    transaction: Transaction | None
    actions: list[Action]
    created: bool = False
    stray: bool = False


class TransactionTable:
    """The live transactions of one SIP element, by key (§17.1.3, §17.2.3).

    Routes received messages to their transaction, creating a server transaction for
    a new request (every element here is stateful); gives the earliest deadline of all
    and fires due timers; drops a transaction as soon as it is terminated.

    Every operation costs O(log n) in the number of live transactions, so that a
    registrar holding the Timer J of 32 s worth of requests keeps up with a load test:
    deadlines sit in a heap (one live entry per transaction; entries superseded by a
    later input are skipped when they surface and swept out when they pile up), and a
    transaction is dropped when an input routed through the table terminates it.
    Drive the table's transactions through the table: a timer armed behind its back is
    only seen when its transaction next goes through it.
    """

    def __init__(self, timers: Timers | None = None, *, send_trying: bool = True) -> None:
        self.timers = Timers() if timers is None else timers
        self.send_trying = send_trying
        self._clients: dict[ClientKey, ClientTransaction] = {}
        self._servers: dict[ServerKey, ServerTransaction] = {}
        # (deadline, sequence, transaction); the live entry of each is in _armed.
        self._heap: list[tuple[float, int, Transaction]] = []
        self._armed: dict[Transaction, tuple[float, int]] = {}
        self._sequence = itertools.count()
        self._stale = 0

    def __len__(self) -> int:
        self._collect()
        return len(self._clients) + len(self._servers)

    def __iter__(self) -> Iterator[Transaction]:
        self._collect()
        yield from list(self._clients.values())
        yield from list(self._servers.values())

    def get(self, key: ClientKey | ServerKey) -> Transaction | None:
        """The transaction with this :func:`client_key` or :func:`server_key`.

        For the INVITE a CANCEL cancels: ``get(server_key(cancel)[:2] + ("INVITE",))``
        (§9.2).
        """
        self._collect()
        if len(key) == 2:
            return self._clients.get(key)  # type: ignore[arg-type]
        return self._servers.get(key)  # type: ignore[arg-type]

    def start_client(self, request: Request, now: float, *, reliable: bool) -> Routed:
        """Create the client transaction for ``request`` and send it."""
        transaction = client_transaction(request, reliable=reliable, timers=self.timers)
        existing = self._live(self._clients.get(transaction.key))
        if existing is not None:
            raise LocalProtocolError(f"A client transaction {transaction.key} already exists")
        self._clients[transaction.key] = transaction
        return self._routed(transaction, transaction.send(request, now))

    def receive(self, message: Message, now: float, *, reliable: bool) -> Routed:
        """Route a message from the transport; ``reliable`` is the transport it came over.

        A response goes to its client transaction, or is stray. A request goes to its
        server transaction; an ACK that matches none is passed to the TU; any other
        request creates a server transaction (which passes it to the TU). Raises
        :class:`RemoteProtocolError` for a request without a Via branch.
        """
        if isinstance(message, Response):
            try:
                client = self._live(self._clients.get(client_key(message)))
            except RemoteProtocolError:  # no branch: cannot be an answer to us
                client = None
            if client is None:
                return Routed(None, [], stray=True)
            return self._routed(client, client.receive(message, now))
        if not isinstance(message, Request):
            raise TypeError(f"receive() takes a Request or Response, not {type(message).__name__}")
        key = server_key(message)
        server = self._live(self._servers.get(key))
        if server is not None:
            return self._routed(server, server.receive(message, now))
        if message.method == "ACK":
            return Routed(None, [Deliver(message)])
        server = server_transaction(
            message, reliable=reliable, timers=self.timers, send_trying=self.send_trying
        )
        self._servers[key] = server
        return self._routed(server, server.receive(message, now), created=True)

    def send_response(self, response: Response, now: float) -> Routed:
        """Send a response from the TU on the server transaction it answers."""
        server = self._live(self._servers.get(server_key(response)))
        if server is None:
            raise LocalProtocolError(f"No server transaction for {response.start_line()!r}")
        return self._routed(server, server.send(response, now))

    def transport_error(self, transaction: Transaction, now: float, reason: str) -> Routed:
        """Report a transport failure to ``transaction`` (:meth:`Transaction.transport_error`)."""
        return self._routed(transaction, transaction.transport_error(now, reason))

    def next_deadline(self) -> float | None:
        """The earliest pending timer of all transactions, or None."""
        heap = self._heap
        while heap:
            deadline, sequence, transaction = heap[0]
            armed = self._armed.get(transaction)
            if armed is None or armed[1] != sequence:
                heapq.heappop(heap)  # superseded or forgotten
                self._stale -= 1
            elif transaction.terminated or transaction.next_deadline() != deadline:
                self._schedule(transaction)  # changed behind the table's back
            else:
                return deadline
        return None

    def on_timer(self, now: float) -> list[Routed]:
        """Fire every timer due at ``now``; the actions of each transaction that had one,
        earliest deadline first."""
        out: list[Routed] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, sequence, transaction = heapq.heappop(heap)
            armed = self._armed.get(transaction)
            if armed is None or armed[1] != sequence:
                self._stale -= 1
                continue
            del self._armed[transaction]
            due = transaction.next_deadline()
            if transaction.terminated or due is None or due > now:
                self._schedule(transaction)
                continue
            out.append(self._routed(transaction, transaction.on_timer(now)))
        return out

    def _routed(
        self, transaction: Transaction, actions: list[Action], created: bool = False
    ) -> Routed:
        self._schedule(transaction)
        return Routed(transaction, actions, created)

    def _live(self, transaction: Transaction | None) -> Transaction | None:
        """``transaction`` unless it is terminated (then it is forgotten)."""
        if transaction is not None and transaction.terminated:
            self._forget(transaction)
            return None
        return transaction

    def _schedule(self, transaction: Transaction) -> None:
        """Keep the heap entry of ``transaction`` in step with its next deadline; forget
        it once terminated (§17.1.1.2: the transaction is destroyed)."""
        if transaction.terminated:
            self._forget(transaction)
            return
        deadline = transaction.next_deadline()
        armed = self._armed.get(transaction)
        if armed is not None:
            if armed[0] == deadline:
                return
            self._stale += 1
        if deadline is None:
            self._armed.pop(transaction, None)
        else:
            sequence = next(self._sequence)
            self._armed[transaction] = (deadline, sequence)
            heapq.heappush(self._heap, (deadline, sequence, transaction))
        if self._stale > 1024 and self._stale > len(self._armed):
            self._sweep()

    def _forget(self, transaction: Transaction) -> None:
        table: dict = self._clients if len(transaction.key) == 2 else self._servers
        if table.get(transaction.key) is transaction:
            del table[transaction.key]
        if self._armed.pop(transaction, None) is not None:
            self._stale += 1

    def _sweep(self) -> None:
        """Rebuild the heap from the live entries only (amortised O(1) per input)."""
        self._heap = [(deadline, sequence, transaction)
                      for transaction, (deadline, sequence) in self._armed.items()]
        heapq.heapify(self._heap)
        self._stale = 0

    def _collect(self) -> None:
        """Drop terminated transactions, however they got there (§17.1.1.2: forget them)."""
        for table in (self._clients, self._servers):
            for transaction in [t for t in table.values() if t.terminated]:
                self._forget(transaction)
