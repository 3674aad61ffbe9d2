"""Client transactions (RFC 3261 §17.1, with RFC 6026 §7.2): INVITE and non-INVITE.

Each kind is a class and ONE transition table, transcribing RFC 3261 Figure 5 (with
RFC 6026 Figure 4) and Figure 6; the handlers above each table do the work of its
transitions. :func:`client_transaction` picks the kind for a request.
"""

from __future__ import annotations

from typing import TypeAlias

from ._errors import LocalProtocolError, RemoteProtocolError
from ._headers import Headers
from ._matching import ClientKey, client_key
from ._message import Message, Request, Response
from ._timer_values import Timers
from ._transaction import (
    Action,
    Deliver,
    Transaction,
    TransactionEvent,
    TransactionState,
    Transitions,
    Transmit,
    ignore,
    timed_out,
    transport_failed,
)

_S = TransactionState
_E = TransactionEvent


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


def make_cancel(invite: Request) -> Request:
    """The CANCEL of a pending INVITE (RFC 3261 §9.1).

    Request-URI, Call-ID, From, To (without a tag the INVITE had none) and the CSeq
    number of the INVITE, method CANCEL; a single Via, the INVITE's top one (so it
    matches the server transaction); the INVITE's Route headers. No body.
    """
    if invite.method != "INVITE":
        raise LocalProtocolError("make_cancel() cancels an INVITE")
    headers = Headers()
    headers.add("Via", invite.headers.values("Via")[0])
    headers.add("Max-Forwards", invite.headers.get("Max-Forwards") or "70")
    for route in invite.headers.get_all("Route"):
        headers.add("Route", route)
    headers.add("From", _header(invite, "From"))
    headers.add("To", _header(invite, "To"))
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq.seq} CANCEL")
    return Request("CANCEL", invite.uri, headers)


def _header(message: Message, name: str) -> str:
    value = message.headers.get(name)
    if value is None:
        raise LocalProtocolError(f"Cannot build the ACK: {name} header missing")
    return value


class _ClientTransaction(Transaction):
    key: ClientKey

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
        _E.TIMER_B: (timed_out("B"), _S.TERMINATED),
        _E.RESPONSE_1XX_RECEIVED: (_ci_provisional, _S.PROCEEDING),
        _E.RESPONSE_2XX_RECEIVED: (_ci_success, _S.ACCEPTED),
        _E.RESPONSE_300_699_RECEIVED: (_ci_failure, _S.COMPLETED),
        _E.TRANSPORT_ERROR: (transport_failed, _S.TERMINATED),
    },
    _S.PROCEEDING: {
        _E.RESPONSE_1XX_RECEIVED: (_ci_provisional, _S.PROCEEDING),
        _E.RESPONSE_2XX_RECEIVED: (_ci_success, _S.ACCEPTED),
        _E.RESPONSE_300_699_RECEIVED: (_ci_failure, _S.COMPLETED),
        # Not in Figure 5: without it a lost connection while ringing waits forever.
        _E.TRANSPORT_ERROR: (transport_failed, _S.TERMINATED),
    },
    _S.COMPLETED: {
        _E.RESPONSE_1XX_RECEIVED: (ignore, _S.COMPLETED),  # late 1xx: absorbed
        _E.RESPONSE_2XX_RECEIVED: (ignore, _S.COMPLETED),  # 2xx after a final: absorbed
        _E.RESPONSE_300_699_RECEIVED: (_ci_reack, _S.COMPLETED),
        _E.TIMER_D: (ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (transport_failed, _S.TERMINATED),
    },
    _S.ACCEPTED: {
        _E.RESPONSE_1XX_RECEIVED: (ignore, _S.ACCEPTED),  # RFC 6026 §8.4: absorbed
        _E.RESPONSE_2XX_RECEIVED: (_ci_success, _S.ACCEPTED),
        _E.RESPONSE_300_699_RECEIVED: (ignore, _S.ACCEPTED),  # RFC 6026 §8.4: absorbed
        _E.TIMER_M: (ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (transport_failed, _S.TERMINATED),  # not in Figure 4
    },
    _S.TERMINATED: {
        _E.RESPONSE_1XX_RECEIVED: (ignore, _S.TERMINATED),
        _E.RESPONSE_2XX_RECEIVED: (ignore, _S.TERMINATED),
        _E.RESPONSE_300_699_RECEIVED: (ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (ignore, _S.TERMINATED),
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
        _E.TIMER_F: (timed_out("F"), _S.TERMINATED),
        _E.RESPONSE_1XX_RECEIVED: (_cn_provisional, _S.PROCEEDING),
        _E.RESPONSE_2XX_RECEIVED: (_cn_final, _S.COMPLETED),
        _E.RESPONSE_300_699_RECEIVED: (_cn_final, _S.COMPLETED),
        _E.TRANSPORT_ERROR: (transport_failed, _S.TERMINATED),
    },
    _S.PROCEEDING: {
        _E.TIMER_E: (_cn_timer_e_proceeding, _S.PROCEEDING),
        _E.TIMER_F: (timed_out("F"), _S.TERMINATED),
        _E.RESPONSE_1XX_RECEIVED: (_cn_provisional, _S.PROCEEDING),
        _E.RESPONSE_2XX_RECEIVED: (_cn_final, _S.COMPLETED),
        _E.RESPONSE_300_699_RECEIVED: (_cn_final, _S.COMPLETED),
        _E.TRANSPORT_ERROR: (transport_failed, _S.TERMINATED),
    },
    _S.COMPLETED: {
        _E.RESPONSE_1XX_RECEIVED: (ignore, _S.COMPLETED),
        _E.RESPONSE_2XX_RECEIVED: (ignore, _S.COMPLETED),  # retransmission: absorbed
        _E.RESPONSE_300_699_RECEIVED: (ignore, _S.COMPLETED),  # retransmission: absorbed
        _E.TIMER_K: (ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (transport_failed, _S.TERMINATED),  # not in Figure 6
    },
    _S.TERMINATED: {
        _E.RESPONSE_1XX_RECEIVED: (ignore, _S.TERMINATED),
        _E.RESPONSE_2XX_RECEIVED: (ignore, _S.TERMINATED),
        _E.RESPONSE_300_699_RECEIVED: (ignore, _S.TERMINATED),
        _E.TRANSPORT_ERROR: (ignore, _S.TERMINATED),
    },
}
ClientNonInviteTransaction.TRANSITIONS = _CLIENT_NON_INVITE


ClientTransaction: TypeAlias = ClientInviteTransaction | ClientNonInviteTransaction


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



__all__ = [
    "ClientInviteTransaction", "ClientNonInviteTransaction", "ClientTransaction",
    "client_transaction", "make_non_2xx_ack",
]
