"""Messages: parsing and serialising per RFC 3261 §7, §18.3, §20, §25."""

import pytest

from testbed.sip import (
    Address,
    Headers,
    LocalProtocolError,
    RemoteProtocolError,
    Request,
    Response,
    SipUri,
    Via,
    error_response_for,
    make_response,
    parse_message,
)

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)


def with_header(line: bytes, base: bytes = INVITE) -> bytes:
    """INVITE with one extra header line inserted after the Request-Line."""
    first, rest = base.split(b"\r\n", 1)
    return first + b"\r\n" + line + b"\r\n" + rest


def replace_header(name: bytes, line: bytes, base: bytes = INVITE) -> bytes:
    out = []
    for item in base.split(b"\r\n"):
        out.append(line if item.lower().startswith(name.lower() + b":") else item)
    return b"\r\n".join(out)


def test_parse_request_fields():
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert msg.uri == SipUri(host="biloxi.example.com", user="bob")
    assert msg.top_via.branch == "z9hG4bK776asdhds"
    assert msg.top_via.rport is True
    assert msg.from_.tag == "1928301774"
    assert msg.from_.display_name == "Alice"
    assert msg.to.tag is None
    assert msg.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert (msg.cseq.seq, msg.cseq.method) == (314159, "INVITE")
    assert msg.max_forwards == 70
    assert msg.body == b"v=0\n"


def test_compact_forms_and_case_insensitive_names():
    raw = (
        b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/TCP h;branch=z9hG4bKx\r\ni: abc\r\n"
        b"f: <sip:c@d>;tag=1\r\nt: sip:a@b\r\ncSeQ: 1 OPTIONS\r\nm: <sip:c@h>\r\n"
        b"k: path\r\nl: 0\r\n\r\n"
    )
    msg = parse_message(raw)
    assert msg.call_id == "abc"
    assert msg.headers.get("supported") == "path"
    assert msg.headers.get("K") == "path"
    assert [name for name, _ in msg.headers][:3] == ["Via", "Call-ID", "From"]
    assert b"Call-ID: abc\r\n" in bytes(msg)


def test_folding_and_multi_value_headers():
    raw = with_header(b"Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1,\r\n SIP/2.0/TCP\r\n\tp2.example.com:5070;branch=z9hG4bK2",
                      INVITE.replace(b"Via:", b"Route: <sip:p1;lr>, <sip:p2;lr>\r\nVia:", 1))
    msg = parse_message(raw)
    assert [v.sent_by for v in msg.via] == [
        "p1.example.com", "p2.example.com:5070", "pc33.atlanta.example.com"]
    assert msg.headers.values("Route") == ["<sip:p1;lr>", "<sip:p2;lr>"]


def test_via_details():
    via = Via.parse("SIP / 2.0 / tls [2001:db8::9]:5061 ; branch = z9hG4bKabc ; received=2001:db8::1 ; rport=5062")
    assert via.transport == "TLS"
    assert via.host == "2001:db8::9" and via.port == 5061
    assert via.received == "2001:db8::1"
    assert via.rport == 5062
    assert str(via) == "SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bKabc;received=2001:db8::1;rport=5062"


@pytest.mark.parametrize(
    "text, display, uri, params",
    [
        ('"A. G. Bell" <sip:agb@bell-telephone.com> ;tag=a48s', "A. G. Bell", "sip:agb@bell-telephone.com", (("tag", "a48s"),)),
        ("sip:+12125551212@server.phone2net.com;tag=887s", None, "sip:+12125551212@server.phone2net.com", (("tag", "887s"),)),
        ("Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8", "Anonymous", "sip:c8oqz84zk7z@privacy.org", (("tag", "hyh8"),)),
        ("caller<sip:caller@example.com>;tag=323", "caller", "sip:caller@example.com", (("tag", "323"),)),
        ('"\\"quoted\\" \\\\ name" <sip:x@y>', '"quoted" \\ name', "sip:x@y", ()),
        ("<sip:x@y;transport=tcp>;expires=60;+sip.instance=\"<urn:uuid:1>\"", None, "sip:x@y;transport=tcp",
         (("expires", "60"), ("+sip.instance", '"<urn:uuid:1>"'))),
        ("<tel:+1-201-555-0123>", None, "tel:+1-201-555-0123", ()),
    ],
)
def test_address_forms(text, display, uri, params):
    address = Address.parse(text)
    assert address.display_name == display
    assert str(address.uri) == uri
    assert address.params == params
    assert Address.parse(str(address)) == address


def test_contact_star_and_list():
    raw = replace_header(b"Contact", b"Contact: *", INVITE).replace(b"INVITE", b"REGISTER")
    msg = parse_message(raw)
    assert msg.contact_star and msg.contacts == []
    raw = replace_header(b"Contact", b"Contact: <sip:a@h1>;q=0.5, \"B\" <sip:b@h2>;expires=10", raw)
    msg = parse_message(raw)
    assert [str(c.uri) for c in msg.contacts] == ["sip:a@h1", "sip:b@h2"]
    assert msg.contacts[1].param("expires") == "10"


@pytest.mark.parametrize(
    "data, reason, status",
    [
        (b"", "Empty message", 400),
        (b"\r\n\r\n", "Empty message", 400),
        (INVITE.replace(b"INVITE sip", b"INVITE  sip", 1), "Malformed Request-Line", 400),
        (INVITE.replace(b" SIP/2.0\r\n", b" SIP/2.0 \r\n", 1), "Malformed Request-Line", 400),
        (INVITE.replace(b" SIP/2.0\r\n", b" SIP/3.0\r\n", 1), "Version Not Supported", 505),
        (INVITE.replace(b" SIP/2.0\r\n", b" HTTP/1.1\r\n", 1), "Malformed Request-Line", 400),
        (INVITE.replace(b"INVITE sip", b"INV@TE sip", 1), "Invalid method", 400),
        (replace_header(b"Call-ID", b"X-Foo: 1"), "Missing Call-ID", 400),
        (replace_header(b"Via", b"X-Foo: 1"), "Missing Via", 400),
        (replace_header(b"CSeq", b"CSeq: 1 BYE"), "does not match", 400),
        (replace_header(b"CSeq", b"CSeq: 2147483648 INVITE"), "CSeq out of range", 400),
        (replace_header(b"CSeq", b"CSeq: INVITE"), "Malformed CSeq", 400),
        (replace_header(b"Max-Forwards", b"Max-Forwards: 256"), "Max-Forwards out of range", 400),
        (replace_header(b"Max-Forwards", b"Max-Forwards: -1"), "Invalid Max-Forwards", 400),
        (replace_header(b"Content-Length", b"Content-Length: 5000"), "larger than", 400),
        (replace_header(b"Content-Length", b"Content-Length: abc"), "Invalid Content-Length", 400),
        # Found by the barrage: a control character that str.strip() drops and int() keeps.
        (replace_header(b"Content-Length", b"Content-Length: 0\x1d"), "Invalid Content-Length", 400),
        (replace_header(b"Max-Forwards", b"Max-Forwards: 70\x1c"), "Invalid Max-Forwards", 400),
        (with_header(b"Call-ID: second"), "More than one Call-ID", 400),
        (with_header(b"Expires: 4294967296"), "Expires out of range", 400),
        (with_header(b"Date: Sat, 13 Nov 2010 23:29:00 PST"), "Invalid Date", 400),
        (with_header(b"Broken header line"), "Malformed header line", 400),
        (with_header(b"Bad Name: x"), "Malformed header line", 400),
        (replace_header(b"From", b'From: "unterminated <sip:a@b>;tag=1'), "Unterminated quoted", 400),
        (replace_header(b"From", b"From: Bell, Alexander <sip:a@b>;tag=1"), "Non-token", 400),
        (replace_header(b"To", b"To: < sip:a@b >"), "Invalid URI in To", 400),
        (replace_header(b"To", b"To: <sip:a@b"), "Unterminated '<'", 400),
        (replace_header(b"Contact", b"Contact: sip:a@b?Route=x"), "not enclosed in <>", 400),
        (replace_header(b"Contact", b"Contact: <sip:a@b>;;x"), "Empty parameter", 400),
        (replace_header(b"Contact", b"Contact: <sip:a@b>;expires=99999999999"), "Contact expires out of range", 400),
        (replace_header(b"Contact", b"Contact: *, <sip:a@b>"), "mixed with other contacts", 400),
        (replace_header(b"Via", b"Via: SIP/2.0/UDP host;branch=1,,"), "Empty element in Via", 400),
        (replace_header(b"Via", b"Via: SIP/3.0/UDP host"), "Unsupported Via protocol", 400),
        (replace_header(b"Via", b"Via: SIP/2.0/UDP"), "Malformed Via", 400),
        (INVITE.replace(b"sip:bob@biloxi.example.com SIP", b"sip:bob@biloxi.example.com?X=1 SIP", 1),
         "Headers not allowed in Request-URI", 400),
        (b"SIP/2.0 2000 OK\r\n\r\n", "Invalid status code", 400),
        (b"SIP/2.0 099 Low\r\n\r\n", "Invalid status code", 400),
        (b"SIP/1.0 200 OK\r\n\r\n", "Unsupported SIP version", 505),
        (b" continuation\r\n\r\n", "Malformed Request-Line", 400),
    ],
)
def test_rejections_name_the_reason(data, reason, status):
    with pytest.raises(RemoteProtocolError, match=reason) as info:
        parse_message(data)
    assert info.value.status_hint == status
    assert info.value.raw == data


def test_datagram_content_length_rules():
    # RFC 3261 §18.3: extra bytes beyond Content-Length are discarded...
    msg = parse_message(INVITE + b"garbage after the body")
    assert msg.body == b"v=0\n"
    # ...and without Content-Length the body runs to the end of the datagram.
    msg = parse_message(replace_header(b"Content-Length", b"X-No-Length: 1") + b"more")
    assert msg.body == b"v=0\nmore"


def test_leading_crlf_and_lf_only_lines_are_tolerated():
    msg = parse_message(b"\r\n\r\n" + INVITE)
    assert msg.method == "INVITE"
    msg = parse_message(INVITE.replace(b"\r\n", b"\n").replace(b"\n\nv=0", b"\n\nv=0"))
    assert msg.call_id == "a84b4c76e66710@pc33.atlanta.example.com"


def test_response_parse_and_reason_phrase():
    msg = parse_message(b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                        b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\n"
                        b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason, msg.provisional) == (180, "Ringing", True)
    assert Response(486).reason == "Busy Here"
    assert Response(299).reason == ""


def test_serialise_recomputes_content_length_and_is_stable():
    msg = parse_message(INVITE)
    msg.body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"
    data = bytes(msg)
    assert b"Content-Length: 31\r\n\r\n" in data
    assert bytes(parse_message(data)) == data


def test_make_response_copies_headers_and_adds_tag():
    request = parse_message(with_header(b"Record-Route: <sip:p1.example.com;lr>"))
    ringing = make_response(request, 180, to_tag="totag")
    assert ringing.status == 180
    assert ringing.to.tag == "totag"
    assert ringing.headers.get_all("Record-Route") == ["<sip:p1.example.com;lr>"]
    assert [str(v) for v in ringing.via] == [str(v) for v in request.via]
    assert ringing.call_id == request.call_id and ringing.cseq == request.cseq
    trying = make_response(request, 100, to_tag="totag")
    assert trying.to.tag is None
    assert "Record-Route" not in trying.headers
    busy = make_response(request, 486, headers=[("Retry-After", 30)])
    assert busy.headers.get("Retry-After") == "30"
    assert "Contact" not in busy.headers
    assert parse_message(bytes(busy)) == busy


def test_build_request_from_parts():
    request = Request(
        "REGISTER",
        "sip:example.com",
        [
            ("Via", Via("UDP", "127.0.0.1", 5060, (("branch", "z9hG4bKa"), ("rport", None)))),
            ("From", Address(SipUri(host="example.com", user="alice"), params=(("tag", "t"),))),
            ("To", Address(SipUri(host="example.com", user="alice"))),
            ("Call-ID", "c1"),
            ("CSeq", "1 REGISTER"),
            ("Max-Forwards", 70),
        ],
    )
    data = bytes(request)
    assert data.startswith(b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa;rport\r\n")
    assert parse_message(data) == request


def test_local_errors():
    with pytest.raises(LocalProtocolError):
        Request("BAD METHOD", "sip:a@b")
    with pytest.raises(LocalProtocolError):
        Response(99)


def test_headers_container():
    headers = Headers([("v", "a"), ("Route", "<sip:x>"), ("VIA", "b")])
    assert headers.get_all("Via") == ["a", "b"]
    headers.prepend("Via", "top")
    assert headers.get("via") == "top"
    headers.set("Via", "only")
    assert headers.get_all("Via") == ["only"]
    assert list(headers)[0] == ("Via", "only")
    headers.remove("route")
    assert "Route" not in headers and len(headers) == 1


def test_error_response_copies_matching_headers():
    bad = replace_header(b"Max-Forwards", b"Max-Forwards: 300")
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(bad)
    answer = error_response_for(bad, info.value)
    reply = parse_message(answer)
    assert reply.status == 400
    assert reply.reason == "Max-Forwards out of range: 300"
    assert reply.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert reply.top_via.branch == "z9hG4bK776asdhds"
    assert error_response_for(b"SIP/2.0 200 OK\r\n\r\n", info.value) is None
    assert error_response_for(b"garbage", info.value) is None
