"""Parsing cost: µs per message for a REGISTER and a 200 OK, best of a few passes, by the
full parser (``parse_message``) and by the fast paths' lazy scanners.

Every message differs (branch, tag, Call-ID), as on the wire, so the parser's memo
tables only help with what really repeats (the request URI, the To of a user).
"""

from __future__ import annotations

import time
from collections.abc import Callable

REGISTER = (
    "REGISTER sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{n:016d};rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice{u}@example.com>;tag={n:010d}\r\n"
    "To: <sip:alice{u}@example.com>\r\n"
    "Call-ID: {n:016d}@testbed\r\n"
    "CSeq: 2 REGISTER\r\n"
    "User-Agent: sip-transport-testbed/0.1\r\n"
    "Contact: <sip:alice{u}@127.0.0.1:5070>\r\n"
    "Expires: 3600\r\n"
    "Content-Length: 0\r\n\r\n")
OK = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{n:016d};rport=5070;received=127.0.0.1\r\n"
    "From: <sip:alice{u}@example.com>;tag={n:010d}\r\n"
    "To: <sip:alice{u}@example.com>;tag={n:012d}\r\n"
    "Call-ID: {n:016d}@testbed\r\n"
    "CSeq: 2 REGISTER\r\n"
    "Contact: <sip:alice{u}@127.0.0.1:5070>;expires=3600\r\n"
    "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
    "Content-Length: 0\r\n\r\n")


def microseconds(template: str, parser: Callable[[bytes], object] | None = None, *,
                 messages: int = 3000, passes: int = 5) -> float:
    """Best-of-``passes`` µs per ``parser(message)`` (default ``parse_message``) over
    ``messages`` distinct messages."""
    from testbed.sip import parse_message

    parse = parser or parse_message
    data = [template.format(n=n, u=n % 1000).encode("ascii") for n in range(messages)]
    best = float("inf")
    for _ in range(passes):
        started = time.perf_counter()
        for message in data:
            parse(message)
        best = min(best, time.perf_counter() - started)
    return best / messages * 1e6


def parse_figures() -> dict[str, float]:
    """The full parser and the lazy scanners of the fast paths, on the same messages."""
    from testbed.sip import scan_register, scan_response

    return {"REGISTER": microseconds(REGISTER), "200 OK": microseconds(OK),
            "REGISTER, scan_register": microseconds(REGISTER, scan_register),
            "200 OK, scan_response": microseconds(OK, scan_response)}
