"""SIP transactions (RFC 3261 §17, with RFC 6026's Accepted state), sans-IO: the machinery.

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

This module holds what the four kinds share: the actions, the states and events, the
:class:`Transaction` base that dispatches through a table, and the handlers every table
uses. The kinds and their tables are in :mod:`._client_transaction` and
:mod:`._server_transaction`; routing messages to transactions in
:mod:`._transaction_table`.

Time is an argument: nothing here reads a clock. Timers are absolute deadlines,
armed from the ``now`` of the input that starts them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from ._errors import LocalProtocolError
from ._matching import ClientKey, ServerKey
from ._message import Message, Request, Response
from ._timer_values import Timers

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

    A transaction is equal only to itself and hashes by identity, so the layers above
    can keep one record per transaction in a dict keyed by the transaction (two
    transactions never share a live key, but a terminated one and its successor can).
    """

    __eq__ = object.__eq__
    __hash__ = object.__hash__

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



# -- the handlers every table uses -------------------------------------------------------


def ignore(txn: Transaction, message: Message | None, now: float) -> list[Action]:
    """No action: a timer that only ends a state, or a message the state absorbs."""
    return []


def deliver(txn: Transaction, message: Message, now: float) -> list[Action]:
    """Pass the message up to the TU."""
    return [Deliver(message)]


def transport_failed(txn: Transaction, message: None, now: float) -> list[Action]:
    """Tell the TU the transport failed (§17.1.4, §17.2.4)."""
    return [TransportFailed(txn.failure_reason or "transport error")]


def timed_out(timer: str) -> Handler:
    """The handler of timer ``timer`` (B, F or H) running out: report a :class:`Timeout`."""

    def handler(txn: Transaction, message: None, now: float) -> list[Action]:
        return [Timeout(timer)]

    handler.__name__ = f"timed_out_{timer.lower()}"
    return handler


__all__ = [
    "TU_EVENTS", "Action", "Deliver", "Handler", "Terminated", "Timeout", "Transaction",
    "TransactionEvent", "TransactionState", "Transition", "Transitions", "Transmit",
    "TransportFailed", "deliver", "ignore", "timed_out", "transport_failed",
]
