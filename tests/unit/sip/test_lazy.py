"""The lazy scanners against the full parser, on the RFC 4475 torture corpus and on one
message of every shape the scenario catalogue exchanges (``catalogue/messages.txt``),
each also turned into a REGISTER.

What :func:`scan_register` accepts, :func:`parse_message` accepts with the same values;
what :func:`scan_response` reads of a message the parser accepts is what the parser
reads. Garbage never makes a scanner raise.
"""

from __future__ import annotations

import pytest

from testbed.sip import (
    Request,
    Response,
    parse_message,
    scan_register,
    scan_response,
)


def test_the_corpus_has_registers_the_scanner_takes_and_ones_it_leaves(sip_corpus):
    taken = [name for name, data in sip_corpus.items() if scan_register(data) is not None]
    assert len(sip_corpus) > 150
    assert 20 < len(taken) < len(sip_corpus) - 50


def test_scan_register_agrees_with_the_full_parser(sip_message):
    data = sip_message
    view = scan_register(data)
    if view is None:
        return  # left to the full parser, whatever it makes of it
    _agrees(data, view)
    assert scan_register(data) == view  # again: from the shape remembered


# The values a REGISTER's shape leaves out, replaced by others, good and bad.
_VARIANTS = [
    (rb"(;branch=)[^;,\s]+", [b"z9hG4bK-other.1", b"z9hG4bKa{b", b"z9hG4bK", b"plain1",
                              b"Z9HG4BKupper"]),
    (rb"(;tag=)[^;,\s>]+", [b"t2", b"a{b", b"x\"y", b"~ok!"]),
    (rb"(\r\nCall-ID: )[^\r\n]*", [b"new-1@host", b"a b", b"", b"x@y@z", b"c ",
                                     b"\xc3\xa9"]),
    (rb"(\r\nCSeq: )[^\r\n]*", [b"2 REGISTER", b"2 INVITE", b"x REGISTER",
                                  b"1234567890 REGISTER", b"7  REGISTER", b"3 REGISTER "]),
    (rb"(\r\nAuthorization: )[^\r\n]*", [b'Digest username="bob", realm="r", nonce="n", '
                                           b'uri="sip:r", response="00"', b"", b"  x  "]),
]


def test_registers_of_a_known_shape_agree_with_the_full_parser(sip_corpus):
    """Messages the scanner took, each with one varying value changed: read from the
    shape remembered, they give what the full parser gives, or are left to it."""
    tried, hits = _variants_agree(sip_corpus, scan_register, _VARIANTS, _agrees)
    assert tried > 200 and hits > 50


def _variants_agree(corpus, scan, variants, agrees) -> tuple[int, int]:
    """Each message ``scan`` takes, with each varying value of ``variants`` replaced:
    ``agrees`` with every view ``scan`` gives; how many were tried and taken."""
    import re

    tried = hits = 0
    for data in corpus.values():
        if scan(data) is None:
            continue
        for pattern, values in variants:
            if len(re.findall(pattern, data)) != 1:
                continue
            for value in values:
                variant = re.sub(pattern, lambda m, v=value: m[1] + v, data)
                tried += 1
                view = scan(variant)
                if view is not None:
                    hits += 1
                    agrees(variant, view)
    return tried, hits


def _agrees(data: bytes, view) -> None:
    """``view`` says of ``data`` what the full parser says."""
    message = parse_message(data)  # must not raise: the scanner vouched for it
    assert isinstance(message, Request) and message.method == "REGISTER"
    assert message.body == b""
    assert message.uri == view.uri
    headers = message.headers
    assert (headers.get("From"), headers.get("To"), headers.get("CSeq")) == \
        (view.from_, view.to, view.cseq_text)
    assert message.to == view.to_address
    assert (message.call_id, message.cseq.seq, message.expires) == \
        (view.call_id, view.cseq, view.expires)
    assert message.contacts == ([view.contact] if view.contact else [])
    assert headers.get_all("Contact") == ([view.contact_text] if view.contact_text else [])
    assert headers.get_all("Authorization") == view.authorization
    assert headers.get_all("Via") == [view.via_text]
    assert message.top_via.branch == view.branch
    assert message.top_via.with_param("branch", "\x00") == view.via
    order = [key for key in ("via", "from", "to", "call-id", "cseq")]
    names = [name.lower() for name, _ in headers if name.lower() in order]
    assert tuple(names) == view.order


def test_scan_response_agrees_with_the_full_parser(sip_message):
    data = sip_message
    view = scan_response(data)
    if view is None:
        return  # left to the full parser, whatever it makes of it
    _response_agrees(data, view)
    assert scan_response(data) == view  # again: from the shape remembered


# The values a response's shape leaves out, replaced by others, good and bad.
_RESPONSE_VARIANTS = [
    (rb"(;branch=)[^;,\s>]+", [b"z9hG4bK-other.1", b"z9hG4bKa{b", b"nocookie"]),
    (rb"(\r\nFrom: )[^\r\n]*", [b"<sip:bob@example.com>;tag=x1", b"<sip:bob@example.com>",
                                  b"<sip:bob@example.com>;tag=a{b", b"bad <", b" <sip:a@b>"]),
    (rb"(\r\nTo: )[^\r\n]*", [b"<sip:bob@example.com>;tag=t9", b"sip:bob@example.com",
                                b"<sip:bob@example.com>;tag=", b"<sip:a@b>;tag=t9 "]),
    (rb"(\r\nCall-ID: )[^\r\n]*", [b"other-1@host", b"a b", b""]),
    (rb"(\r\nCSeq: )[^\r\n]*", [b"9 REGISTER", b"9 INVITE", b"x REGISTER", b"9"]),
    (rb"(\r\nDate: )[^\r\n]*", [b"Thu, 03 Dec 2026 15:00:00 GMT", b"yesterday"]),
    (rb"(;expires=)[^;,\s>]+", [b"7", b"1234567890", b"x"]),
    (rb"(\r\nWWW-Authenticate: )[^\r\n]*", [b'Digest realm="r", nonce="n2"', b"",
                                              b"  Digest realm=\"r\"  "]),
]


def test_responses_of_a_known_shape_agree_with_the_full_parser(sip_corpus):
    """Responses the scanner took, each with one varying value changed: read from the
    shape remembered, they give what the full parser gives, or are left to it."""
    tried, hits = _variants_agree(sip_corpus, scan_response, _RESPONSE_VARIANTS,
                                  _response_agrees)
    assert tried > 100 and hits > 30


def _response_agrees(data: bytes, view) -> None:
    """``view`` says of ``data`` what the full parser says."""
    message = parse_message(data)  # must not raise: the scanner vouched for it
    assert isinstance(message, Response)
    assert view.response() == message
    assert (message.status, message.reason) == (view.status, view.reason)
    assert (message.call_id, message.cseq.seq, message.cseq.method) == \
        (view.call_id, view.cseq, view.method)
    assert message.top_via.branch == view.branch
    challenges = message.headers.get_all("WWW-Authenticate") \
        or message.headers.get_all("Proxy-Authenticate")
    assert view.challenge == (challenges[0] if challenges else None)


def test_responses_to_registers_of_the_catalogue_are_scanned(sip_corpus):
    responses = [d for n, d in sip_corpus.items()
                 if n.startswith("catalogue") and d[:4] == b"SIP/" and b" REGISTER\r\n" in d
                 and b"\r\nVia: SIP/2.0/UDP" in d and d.count(b"\r\nVia:") == 1]
    assert len(responses) >= 4  # 200 and 401, from the registrar and through relays
    assert all(scan_response(d) is not None for d in responses)


@pytest.mark.parametrize("cut", [0, 1, 10, 40, 100, -30, -4, -1])
def test_cut_or_garbled_input_never_raises(cut, sip_corpus):
    for data in sip_corpus.values():
        part = data[:cut]
        for variant in (part, part + b"\r\n\r\n", part.replace(b"\r\n", b"\n"),
                        bytes(b ^ 0x80 for b in part[:60]) + part[60:]):
            scan_register(variant)
            scan_response(variant)
