"""Requests from RFC 2543 elements: no branch, or a branch without the magic cookie.

RFC 3261 §17.2.3 matches them on the Request-URI, To tag, From tag, Call-ID, CSeq and
top Via; an ACK on the To tag of the response the transaction sent. Each case below
changes one of those fields of a retransmission and says what the table makes of it.
"""

from __future__ import annotations

import pytest

from testbed.sip import (
    Deliver,
    RemoteProtocolError,
    Request,
    Routed,
    ServerInviteTransaction,
    TransactionState,
    TransactionTable,
    Transmit,
    make_response,
    parse_message,
    server_key,
)

CALL_ID = "a84b4c76e66710@old.example.com"
TO_TAG = "314159"


def old_request(method: str = "INVITE", *, via: str = "SIP/2.0/UDP old.example.com:5060",
                uri: str = "sip:bob@biloxi.example.com", to_tag: str | None = None,
                from_tag: str = "1928301774", call_id: str = CALL_ID, cseq: int = 1,
                cseq_method: str | None = None) -> Request:
    """A request as an RFC 2543 element sends it: a top Via without a branch."""
    to = "<sip:bob@biloxi.example.com>" + (f";tag={to_tag}" if to_tag else "")
    raw = (f"{method} {uri} SIP/2.0\r\nVia: {via}\r\nTo: {to}\r\n"
           f"From: <sip:alice@old.example.com>;tag={from_tag}\r\nCall-ID: {call_id}\r\n"
           f"CSeq: {cseq} {cseq_method or method}\r\nContent-Length: 0\r\n\r\n")
    message = parse_message(raw.encode())
    assert isinstance(message, Request)
    return message


def started(method: str = "INVITE") -> tuple[TransactionTable, Routed]:
    table = TransactionTable(send_trying=False)
    created = table.receive(old_request(method), 0.0, reliable=False)
    assert created.created and created.transaction is not None
    return table, created


@pytest.mark.parametrize(("change", "outcome"), [
    ({}, "same"),                                                       # a retransmission
    ({"via": "SIP/2.0/udp OLD.example.com:5060"}, "same"),              # case (§7.3.1)
    ({"uri": "sip:bob@BILOXI.example.com"}, "same"),                    # §19.1.4 equality
    ({"via": "SIP/2.0/UDP old.example.com:5070"}, "new"),               # another top Via
    ({"via": "SIP/2.0/UDP old.example.com:5060;maddr=10.0.0.1"}, "new"),
    ({"call_id": "other@old.example.com"}, "new"),
    ({"from_tag": "other"}, "new"),
    ({"cseq": 2}, "new"),
    ({"uri": "sip:carol@biloxi.example.com"}, 482),                     # merged (§8.2.2.2)
    ({"to_tag": "other"}, 482),
], ids=lambda value: str(value))
def test_invite_retransmission_matching(change: dict[str, object], outcome: object) -> None:
    table, created = started()
    again = old_request(**change)  # type: ignore[arg-type]
    if outcome == 482:
        with pytest.raises(RemoteProtocolError) as raised:
            table.receive(again, 0.1, reliable=False)
        assert raised.value.status_hint == 482
        assert len(table) == 1
        return
    routed = table.receive(again, 0.1, reliable=False)
    if outcome == "same":
        assert routed.transaction is created.transaction and not routed.created
    else:
        assert routed.created and routed.transaction is not created.transaction
        assert len(table) == 2


def test_responses_find_the_transaction_and_answer_retransmissions() -> None:
    table, created = started()
    invite = old_request()
    busy = make_response(invite, 486, to_tag=TO_TAG)
    assert table.send_response(busy, 0.1) == Routed(created.transaction, [Transmit(busy)])
    routed = table.receive(old_request(), 0.2, reliable=False)
    assert routed.actions == [Transmit(busy, retransmission=True)]


@pytest.mark.parametrize(("to_tag", "absorbed"), [(TO_TAG, True), ("other", False),
                                                 (None, False)])
def test_ack_matches_on_the_to_tag_of_the_response_sent(to_tag: str | None,
                                                        absorbed: bool) -> None:
    table, created = started()
    table.send_response(make_response(old_request(), 486, to_tag=TO_TAG), 0.1)
    ack = old_request("ACK", to_tag=to_tag)
    routed = table.receive(ack, 0.2, reliable=False)
    transaction = created.transaction
    assert isinstance(transaction, ServerInviteTransaction)
    if absorbed:
        assert routed == Routed(transaction, [])
        assert transaction.state is TransactionState.CONFIRMED
    else:
        assert routed == Routed(None, [Deliver(ack)])  # for the TU: not this one's ACK
        assert transaction.state is TransactionState.COMPLETED


def test_ack_for_a_2xx_reaches_the_tu_through_the_transaction() -> None:
    table, created = started()
    table.send_response(make_response(old_request(), 200, to_tag=TO_TAG), 0.1)
    ack = old_request("ACK", to_tag=TO_TAG)
    assert table.receive(ack, 0.2, reliable=False) == Routed(created.transaction,
                                                             [Deliver(ack)])


def test_cancel_has_its_own_transaction_and_finds_the_invite() -> None:
    table, created = started()
    cancel = old_request("CANCEL")
    cancelling = table.receive(cancel, 0.1, reliable=False)
    assert cancelling.created and cancelling.transaction is not created.transaction
    assert table.get(server_key(cancel)._replace(method="INVITE")) is created.transaction


def test_non_invite_retransmission_gets_the_final_response_again() -> None:
    table, created = started("OPTIONS")
    ok = make_response(old_request("OPTIONS"), 200, to_tag=TO_TAG)
    table.send_response(ok, 0.1)
    routed = table.receive(old_request("OPTIONS"), 0.2, reliable=False)
    assert routed == Routed(created.transaction, [Transmit(ok, retransmission=True)])


@pytest.mark.parametrize(("via", "rfc2543"), [
    ("SIP/2.0/UDP old.example.com", True),                      # no branch
    ("SIP/2.0/UDP old.example.com;branch=1234", True),          # no magic cookie
    ("SIP/2.0/UDP old.example.com;branch=z9hG4bK1234", False),  # RFC 3261
    ("SIP/2.0/UDP old.example.com;branch=Z9HG4BK1234", False),  # compared lower-cased
])
def test_which_requests_match_as_rfc2543(via: str, rfc2543: bool) -> None:
    key = server_key(old_request(via=via))
    assert key.rfc2543 is rfc2543
    assert key.sent_by == "old.example.com" and key.method == "INVITE"


def test_the_rfc2543_key_holds_what_responses_copy() -> None:
    invite = old_request()
    assert server_key(make_response(invite, 180, to_tag=TO_TAG)) == server_key(invite)
    # Via parameters in any order and case (§20.42, §7.3.1): the same top Via.
    ordered = old_request(via="SIP/2.0/UDP old.example.com:5060;received=192.0.2.1;x=1")
    other = old_request(via="SIP/2.0/UDP old.example.com:5060;X=1;received=192.0.2.1")
    assert server_key(ordered) == server_key(other)
