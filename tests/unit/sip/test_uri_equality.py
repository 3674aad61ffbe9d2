"""URI equality (RFC 3261 §19.1.4) and the digest ``uri`` check built on it.

The pairs are §19.1.4's own examples. The digest server refuses credentials computed
for another URI than the Request-URI (RFC 7616 §3.4.6, RFC 2617 §3.2.2.5) before it
computes a hash or spends a nonce count.
"""

from __future__ import annotations

import pytest

from testbed.sip import (
    DigestServer,
    VerifyStatus,
    build_authorization,
    parse_uri,
    uris_equal,
)

EQUAL = [  # RFC 3261 §19.1.4, "equivalent"
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
    ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.com?priority=urgent&subject=project%20x"),
    ("sip:[2001:db8::1]:5060", "sip:[2001:DB8:0::1]:5060"),   # an address by its value
    ("tel:+1-201-555-0123", "TEL:+1-201-555-0123"),
]
DIFFERENT = [  # RFC 3261 §19.1.4, "not equivalent", and a few of ours
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
    ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
    ("sip:alice:secret@atlanta.com", "sip:alice@atlanta.com"),
    ("sip:atlanta.com", "sip:alice@atlanta.com"),
    ("sip:alice@atlanta.com;maddr=10.0.0.1", "sip:alice@atlanta.com"),
    ("tel:+1-201-555-0123", "sip:+1-201-555-0123@atlanta.com"),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equivalent_uris(a: str, b: str) -> None:
    assert uris_equal(parse_uri(a), parse_uri(b))
    assert uris_equal(parse_uri(b), parse_uri(a))


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_uris(a: str, b: str) -> None:
    assert not uris_equal(parse_uri(a), parse_uri(b))
    assert not uris_equal(parse_uri(b), parse_uri(a))


# -- the digest uri (RFC 7616 §3.4.6) -----------------------------------------------------

REQUEST_URI = "sip:pbx.example.com"


def answer(challenge, uri: str, nc: int = 1):
    return build_authorization(challenge, username="alice", password="secret",
                               method="REGISTER", uri=uri, cnonce="c0ffee", nc=nc)


def verify(server: DigestServer, credentials, request_uri: str | None = REQUEST_URI):
    return server.verify(credentials, method="REGISTER", now=2.0,
                         password_lookup={"alice": "secret"}.get,
                         request_uri=None if request_uri is None else parse_uri(request_uri))


def credentials_for(uri: str):
    server = DigestServer("pbx.example.com", b"secret key")
    return server, answer(server.challenge(1.0), uri)


@pytest.mark.parametrize(("digest_uri", "status"), [
    (REQUEST_URI, VerifyStatus.OK),
    ("sip:PBX.example.com", VerifyStatus.OK),                 # the same resource
    ("sip:pbx.example.com:5060", VerifyStatus.URI_MISMATCH),  # §19.1.4: not the same
    ("sip:bob@pbx.example.com", VerifyStatus.URI_MISMATCH),
    ("sip:other.example.com", VerifyStatus.URI_MISMATCH),
    ("not a uri", VerifyStatus.URI_MISMATCH),
])
def test_digest_uri_must_be_the_request_uri(digest_uri: str, status: VerifyStatus) -> None:
    server, credentials = credentials_for(digest_uri)
    result = verify(server, credentials)
    assert result.status is status
    if status is VerifyStatus.URI_MISMATCH:
        assert "Request-URI" in result.reason


def test_a_refused_uri_spends_no_nonce_count() -> None:
    server = DigestServer("pbx.example.com", b"secret key")
    challenge = server.challenge(1.0)
    assert verify(server, answer(challenge, "sip:other.example.com")).status \
        is VerifyStatus.URI_MISMATCH
    # The same nonce and nc for the right URI still verify: nothing was consumed.
    assert verify(server, answer(challenge, REQUEST_URI)).ok
    assert verify(server, answer(challenge, REQUEST_URI)).status is VerifyStatus.NC_REPLAY


def test_without_the_request_uri_the_check_is_the_callers() -> None:
    server, credentials = credentials_for("sip:other.example.com")
    assert verify(server, credentials, request_uri=None).ok
