"""Server transactions (RFC 3261 §17.2, with RFC 6026 §7.1): INVITE and non-INVITE.

Each kind is a class and ONE transition table, transcribing RFC 3261 Figure 7 (with
RFC 6026 Figure 5) and Figure 8; the handlers above each table do the work of its
transitions. :func:`server_transaction` picks the kind for a request.
"""

from __future__ import annotations

from typing import TypeAlias

from ._errors import LocalProtocolError
from ._matching import ServerKey, server_key
from ._message import Message, Request, Response, make_response
from ._timer_values import Timers
from ._transaction import (
    Action,
    Deliver,
    Transaction,
    TransactionEvent,
    TransactionState,
    Transitions,
    Transmit,
    deliver,
    ignore,
    timed_out,
    transport_failed,
)

_S = TransactionState
_E = TransactionEvent


def make_trying(request: Request) -> Response:
    """The 100 (Trying) response to ``request``: no To tag, Timestamp copied (§8.2.6.1)."""
    timestamp = request.headers.get("Timestamp")
    return make_response(request, 100, headers=[("Timestamp", timestamp)] if timestamp else [])



class _ServerTransaction(Transaction):
    key: ServerKey

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
        _E.ACK_RECEIVED: (ignore, _S.PROCEEDING),  # an ACK before any final: absorbed
        _E.RESPONSE_1XX_FROM_TU: (_sv_respond, _S.PROCEEDING),
        _E.RESPONSE_2XX_FROM_TU: (_si_success, _S.ACCEPTED),
        _E.RESPONSE_300_699_FROM_TU: (_si_failure, _S.COMPLETED),
        # RFC 6026 Figure 5: inform the TU and stay; the TU still owes a final response.
        _E.TRANSPORT_ERROR: (transport_failed, _S.PROCEEDING),
    },
    _S.COMPLETED: {
        _E.REQUEST_RECEIVED: (_sv_resend, _S.COMPLETED),
        _E.ACK_RECEIVED: (_si_confirm, _S.CONFIRMED),
        _E.TIMER_G: (_si_timer_g, _S.COMPLETED),
        _E.TIMER_H: (timed_out("H"), _S.TERMINATED),
        _E.TRANSPORT_ERROR: (transport_failed, _S.TERMINATED),
    },
    _S.CONFIRMED: {
        _E.REQUEST_RECEIVED: (ignore, _S.CONFIRMED),
        _E.ACK_RECEIVED: (ignore, _S.CONFIRMED),  # §17.2.1: absorb ACK retransmissions
        _E.TIMER_I: (ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (transport_failed, _S.TERMINATED),  # not in Figure 7
    },
    _S.ACCEPTED: {
        _E.REQUEST_RECEIVED: (ignore, _S.ACCEPTED),  # RFC 6026 §8.7: absorbed, not to TU
        _E.ACK_RECEIVED: (deliver, _S.ACCEPTED),  # RFC 6026 §8.7: ACK passed to the TU
        _E.RESPONSE_2XX_FROM_TU: (_sv_respond, _S.ACCEPTED),  # the TU's retransmissions
        _E.TIMER_L: (ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (transport_failed, _S.ACCEPTED),  # RFC 6026 Figure 5
    },
    _S.TERMINATED: {
        _E.REQUEST_RECEIVED: (ignore, _S.TERMINATED),
        _E.ACK_RECEIVED: (ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (ignore, _S.TERMINATED),
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
        _E.REQUEST_RECEIVED: (deliver, _S.TRYING),  # §17.2.2: pass the request to the TU
    },
    _S.TRYING: {
        _E.REQUEST_RECEIVED: (ignore, _S.TRYING),  # §17.2.2: retransmissions discarded
        _E.RESPONSE_1XX_FROM_TU: (_sv_respond, _S.PROCEEDING),
        _E.RESPONSE_2XX_FROM_TU: (_sn_final, _S.COMPLETED),
        _E.RESPONSE_300_699_FROM_TU: (_sn_final, _S.COMPLETED),
        _E.TRANSPORT_ERROR: (transport_failed, _S.TERMINATED),  # not in Figure 8
    },
    _S.PROCEEDING: {
        _E.REQUEST_RECEIVED: (_sv_resend, _S.PROCEEDING),
        _E.RESPONSE_1XX_FROM_TU: (_sv_respond, _S.PROCEEDING),
        _E.RESPONSE_2XX_FROM_TU: (_sn_final, _S.COMPLETED),
        _E.RESPONSE_300_699_FROM_TU: (_sn_final, _S.COMPLETED),
        _E.TRANSPORT_ERROR: (transport_failed, _S.TERMINATED),
    },
    _S.COMPLETED: {
        _E.REQUEST_RECEIVED: (_sv_resend, _S.COMPLETED),
        _E.TIMER_J: (ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (transport_failed, _S.TERMINATED),
    },
    _S.TERMINATED: {
        _E.REQUEST_RECEIVED: (ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (ignore, _S.TERMINATED),
    },
}
ServerNonInviteTransaction.TRANSITIONS = _SERVER_NON_INVITE


ServerTransaction: TypeAlias = ServerInviteTransaction | ServerNonInviteTransaction


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


__all__ = [
    "ServerInviteTransaction", "ServerNonInviteTransaction", "ServerTransaction",
    "make_trying", "server_transaction",
]
