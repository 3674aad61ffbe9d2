"""URIs: RFC 3261 §19.1 and §25.1."""

import pytest

from testbed.sip import AbsoluteUri, RemoteProtocolError, SipUri, parse_uri


@pytest.mark.parametrize(
    "text, expected",
    [
        ("sip:alice@atlanta.com", SipUri(host="atlanta.com", user="alice")),
        ("sip:alice:secretword@atlanta.com;transport=tcp",
         SipUri(host="atlanta.com", user="alice", password="secretword",
                params=(("transport", "tcp"),))),
        ("sips:alice@atlanta.com?subject=project%20x&priority=urgent",
         SipUri(host="atlanta.com", user="alice", scheme="sips",
                headers=(("subject", "project%20x"), ("priority", "urgent")))),
        ("sip:+1-212-555-1212:1234@gateway.com;user=phone",
         SipUri(host="gateway.com", user="+1-212-555-1212", password="1234",
                params=(("user", "phone"),))),
        ("sips:1212@gateway.com", SipUri(host="gateway.com", user="1212", scheme="sips")),
        ("sip:alice@192.0.2.4", SipUri(host="192.0.2.4", user="alice")),
        ("sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
         SipUri(host="atlanta.com", params=(("method", "REGISTER"),),
                headers=(("to", "alice%40atlanta.com"),))),
        ("sip:alice;day=tuesday@atlanta.com", SipUri(host="atlanta.com", user="alice;day=tuesday")),
        ("sip:[2001:db8::10]:5070;lr", SipUri(host="2001:db8::10", port=5070, params=(("lr", None),))),
        ("SIP:Bob@Biloxi.example.com:5061", SipUri(host="Biloxi.example.com", user="Bob", port=5061)),
    ],
)
def test_parse_sip_uri(text, expected):
    assert parse_uri(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "sip:alice@atlanta.com",
        "sips:alice:pw@[::1]:5061;transport=tls;lr?h=v&x=y",
        "sip:%61lice@example.com;%6c%72",
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
    ],
)
def test_round_trip(text):
    assert str(parse_uri(text)) == text


def test_properties():
    uri = parse_uri("sips:bob@[2001:db8::1]:5061;transport=TLS;maddr=239.255.255.1;lr")
    assert uri.secure and uri.is_ipv6
    assert uri.transport == "tls"
    assert uri.maddr == "239.255.255.1"
    assert uri.lr
    assert uri.host_port == "[2001:db8::1]:5061"
    assert parse_uri("sip:%75se%72@example.com").user_unescaped == "user"
    assert str(uri.with_param("transport", "tcp")) == (
        "sips:bob@[2001:db8::1]:5061;transport=tcp;maddr=239.255.255.1;lr")


@pytest.mark.parametrize("text", ["tel:+1-201-555-0123", "urn:service:sos", "mailto:a@b.c"])
def test_other_schemes_pass_through(text):
    uri = parse_uri(text)
    assert isinstance(uri, AbsoluteUri)
    assert str(uri) == text


@pytest.mark.parametrize(
    "text, reason",
    [
        ("alice@atlanta.com", "Invalid URI"),
        ("<sip:alice@atlanta.com>", "Invalid URI"),
        ("sip:", "Missing host"),
        ("sip:@atlanta.com", "Empty user"),
        ("sip:alice@atlanta .com", "Invalid character"),
        ("sip:alice@[2001:db8::1", "Unterminated IPv6"),
        ("sip:alice@[zz::1]", "Invalid IPv6"),
        ("sip:alice@host:99999", "Invalid port"),
        ("sip:alice@host:50x", "Invalid port"),
        ("sip:alice@host;;lr", "Empty URI parameter"),
        ("sip:alice@host;transport=", "Empty value"),
        ("sip:alice@host?subject", "Malformed URI header"),
        ("sip:alice@ho$t", "Invalid host"),
        ("tel:", "Empty tel: URI"),
    ],
)
def test_invalid(text, reason):
    with pytest.raises(RemoteProtocolError, match=reason):
        parse_uri(text)
