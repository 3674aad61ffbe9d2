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
    assert names == view.order


def test_scan_response_agrees_with_the_full_parser(sip_message):
    data = sip_message
    view = scan_response(data)
    if view is None:
        return  # left to the full parser, whatever it makes of it
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
