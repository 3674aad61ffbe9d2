"""RFC 4475 §3.1 torture messages, byte-exact from the RFC's Appendix A.

Every valid message (§3.1.1) must parse, serialise stably and expose the values the
RFC calls out; every invalid one (§3.1.2) must be refused with a specific reason and
the status the RFC asks for. The files and ``index.yaml`` sit beside this test.
"""

from pathlib import Path

import pytest
import yaml

from testbed.sip import RemoteProtocolError, Request, Response, StreamFramer, parse_message

HERE = Path(__file__).parent / "rfc4475"
INDEX = yaml.safe_load((HERE / "index.yaml").read_text(encoding="utf-8"))["messages"]
VALID = [m["name"] for m in INDEX if m["valid"]]
INVALID = [m["name"] for m in INDEX if not m["valid"]]


def load(name: str) -> bytes:
    return (HERE / name).read_bytes()


def test_the_index_covers_every_section_3_1_file():
    assert len(VALID) == 13 and len(INVALID) == 19
    assert sorted(VALID + INVALID) == sorted(p.name for p in HERE.glob("*.dat"))


@pytest.mark.parametrize("name", VALID)
def test_valid_messages_parse_and_round_trip(name):
    message = parse_message(load(name))
    again = parse_message(bytes(message))
    assert again == message
    assert bytes(again) == bytes(message)
    # the typed views every layer uses must all work
    message.via, message.from_, message.to, message.cseq, message.contacts  # noqa: B018


def test_wsinv_whitespace_folding_and_compact_forms():
    m = parse_message(load("wsinv.dat"))
    assert str(m.uri) == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    assert len(m.headers) == 14
    assert m.to.tag == "1918181833n" and m.to.display_name is None
    assert m.from_.display_name == 'J Rosenberg \\"'
    assert m.from_.tag == "98asjd8"
    assert m.max_forwards == 68
    assert (m.cseq.seq, m.cseq.method) == (9, "INVITE")
    assert m.headers.get("Subject") == ""
    assert [(v.transport, v.host, v.branch) for v in m.via] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert m.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    (contact,) = m.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == (("newparam", "newvalue"), ("secondparam", None), ("q", "0.33"))
    assert len(m.body) == 150


def test_intmeth_unusual_characters():
    m = parse_message(load("intmeth.dat"))
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.uri.host == "example.com"
    assert m.top_via.branch == "z9hG4bK-.!%66*_+`'~"
    assert m.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert m.from_.param("fromparam''~+*_!.-%") == '"работающий"'
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"


def test_escapes():
    m = parse_message(load("esc01.dat"))
    assert m.uri.user_unescaped == "sips:user@example.com"
    assert m.to.uri.user_unescaped == "user"
    assert m.from_.uri.user_unescaped == "I have spaces"
    assert m.contacts[0].uri.user_unescaped == "caller"
    assert m.contacts[0].uri.param("n%61me") == "v%61lue%25%34%31"
    null = parse_message(load("escnull.dat"))
    assert null.to.uri.user_unescaped == "null-\x00-null"
    assert [c.uri.user_unescaped for c in null.contacts] == ["\x00", "\x00\x00"]
    not_escape = parse_message(load("esc02.dat"))
    assert not_escape.method == "RE%47IST%45R" != "REGISTER"
    assert not_escape.to.display_name == "%Z%45"
    assert [str(c.uri) for c in not_escape.contacts] == [
        "sip:alias1@host1.example.com", "sip:alias3@host3.example.com"]
    assert not_escape.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_long_values_and_many_vias():
    m = parse_message(load("longreq.dat"))
    assert len(m.headers) == 43
    assert len(m.via) == 34
    assert m.via[-1].branch == "very" + "long" * 50 + "branchvalue"
    assert m.to.display_name == "I have a user name of " + "extreme" * 10 + " proportion"
    assert m.from_.tag == "12" + "982" * 50 + "424"
    assert m.call_id == "longreq.one" + "really" * 20 + "longcallid"


def test_other_valid_details():
    assert parse_message(load("lwsdisp.dat")).from_.display_name == "caller"
    dbl = parse_message(load("dblreq.dat"))
    assert dbl.method == "REGISTER" and dbl.body == b""
    semi = parse_message(load("semiuri.dat"))
    assert semi.uri.user_unescaped == "user;par=u@example.net" and semi.uri.params == ()
    assert len(semi.headers.values("Accept")) == 6
    assert [v.transport for v in parse_message(load("transports.dat")).via] == [
        "UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    mpart = parse_message(load("mpart01.dat"))
    assert len(mpart.body) == 553 and b"\x00" in mpart.body
    unreason = parse_message(load("unreason.dat"))
    assert isinstance(unreason, Response)
    assert unreason.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    noreason = parse_message(load("noreason.dat"))
    assert (noreason.status, noreason.reason) == (100, "")


INVALID_REASONS = {
    "badinv01.dat": (400, "Empty"),
    "clerr.dat": (400, "Content-Length 9999 larger than"),
    "ncl.dat": (400, "Invalid Content-Length"),
    "scalar02.dat": (400, "out of range"),
    "scalarlg.dat": (400, "out of range"),
    "quotbal.dat": (400, "Unterminated quoted string"),
    "ltgtruri.dat": (400, "Invalid URI"),
    "lwsruri.dat": (400, "Malformed Request-Line"),
    "lwsstart.dat": (400, "Malformed Request-Line"),
    "trws.dat": (400, "Malformed Request-Line"),
    "escruri.dat": (400, "Headers not allowed in Request-URI"),
    "baddate.dat": (400, "Invalid Date"),
    "regbadct.dat": (400, "not enclosed in <>"),
    "badaspec.dat": (400, "Invalid URI in To"),
    "baddn.dat": (400, "Non-token characters in display name"),
    "badvers.dat": (505, "Version Not Supported"),
    "mismatch01.dat": (400, "CSeq method INVITE does not match OPTIONS"),
    "mismatch02.dat": (400, "CSeq method INVITE does not match NEWMETHOD"),
    "bigcode.dat": (400, "Invalid status code"),
}


def test_every_invalid_message_has_an_expected_reason():
    assert sorted(INVALID_REASONS) == sorted(INVALID)


@pytest.mark.parametrize("name", INVALID)
def test_invalid_messages_are_refused_with_a_reason(name):
    status, reason = INVALID_REASONS[name]
    with pytest.raises(RemoteProtocolError, match=reason) as info:
        parse_message(load(name))
    assert info.value.status_hint == status


def test_clerr_over_a_stream_waits_for_the_rest():
    # RFC 4475 §3.1.2.2: on a stream, a Content-Length beyond the data means "wait".
    framer = StreamFramer()
    assert framer.events(load("clerr.dat")) == []
    assert framer.buffered == len(load("clerr.dat"))


def test_ncl_over_a_stream_is_fatal():
    with pytest.raises(RemoteProtocolError, match="Invalid Content-Length"):
        StreamFramer().events(load("ncl.dat"))


def test_requests_and_responses_are_told_apart():
    assert isinstance(parse_message(load("wsinv.dat")), Request)
    assert isinstance(parse_message(load("noreason.dat")), Response)
