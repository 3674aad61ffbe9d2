"""CANCEL of a pending INVITE (RFC 3261 §9.1) and Timer C's value (§16.6)."""

import pytest

from testbed.sip import LocalProtocolError, Request, Timers, make_cancel, parse_message

INVITE = (b"INVITE sip:bob@example.com SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-inv1;rport\r\n"
          b"Via: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK-below\r\n"
          b"Max-Forwards: 69\r\nRoute: <sip:proxy.example.com;lr>\r\n"
          b"From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n"
          b"Call-ID: c1\r\nCSeq: 7 INVITE\r\nContact: <sip:alice@127.0.0.1:5070>\r\n"
          b"Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n")


def test_cancel_matches_the_invite_it_cancels():
    invite = parse_message(INVITE)
    assert isinstance(invite, Request)
    cancel = parse_message(make_cancel(invite).to_bytes())
    assert isinstance(cancel, Request)
    assert (cancel.method, str(cancel.uri), cancel.call_id) == ("CANCEL", str(invite.uri), "c1")
    assert cancel.headers.values("Via") == ["SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-inv1;rport"]
    assert cancel.headers.get("CSeq") == "7 CANCEL"
    assert cancel.headers.get("From") == invite.headers.get("From")
    assert cancel.headers.get("To") == invite.headers.get("To")
    assert cancel.headers.get_all("Route") == ["<sip:proxy.example.com;lr>"]
    assert cancel.body == b""


def test_only_an_invite_is_cancelled():
    bye = parse_message(INVITE.replace(b"INVITE sip:", b"BYE sip:", 1)
                        .replace(b"7 INVITE", b"7 BYE"))
    with pytest.raises(LocalProtocolError):
        make_cancel(bye)


def test_timer_c_is_three_minutes_at_the_default_t1_and_scales():
    assert Timers().timer_c == 180.0
    assert Timers.scaled(0.01).timer_c == pytest.approx(3.6)
