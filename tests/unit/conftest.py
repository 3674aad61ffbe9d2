"""The SIP message corpus of the lazy-parsing tests: the RFC 4475 torture messages
(``sip/rfc4475``), one message of every shape the scenario catalogue exchanges
(``sip/catalogue/messages.txt``, made by ``sip/catalogue/collect.py``), and each request
of both turned into a body-less REGISTER.

``sip_corpus`` is the whole of it by name; a test that takes ``sip_message`` runs once
per message.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "sip"


def torture() -> dict[str, bytes]:
    return {f"rfc4475/{p.name}": p.read_bytes() for p in sorted((HERE / "rfc4475").glob("*.dat"))}


def catalogue() -> dict[str, bytes]:
    text = (HERE / "catalogue" / "messages.txt").read_text(encoding="utf-8")
    out = {}
    for index, chunk in enumerate(text.split("=== ")[1:]):
        name, _, message = chunk.partition("\n")
        head, blank, body = message.rstrip("\n").partition("\n\n")
        data = head.replace("\n", "\r\n") + "\r\n\r\n" + (body.replace("\n", "\r\n") + "\r\n"
                                                           if blank and body else "")
        out[f"catalogue/{index}-{name.replace(' ', '-')}"] = data.encode()
    return out


def as_register(data: bytes) -> bytes | None:
    """A request turned into a body-less REGISTER (method, CSeq method, no body)."""
    head, sep, _ = data.partition(b"\r\n\r\n")
    first, _, rest = head.partition(b"\r\n")
    if first.startswith(b"SIP/") or not sep or b" " not in first:
        return None
    first = b"REGISTER " + first.split(b" ", 1)[1]
    rest = re.sub(rb"(?im)^(CSeq[ \t]*:[ \t]*[0-9]+[ \t]+)[A-Za-z]+", rb"\1REGISTER", rest)
    rest = re.sub(rb"(?im)^(Content-Length|l)[ \t]*:.*$", b"Content-Length: 0", rest)
    rest = re.sub(rb"(?im)^(Content-Type|c)[ \t]*:.*\r\n", b"", rest)
    return first + b"\r\n" + rest + b"\r\n\r\n"


CORPUS = {**torture(), **catalogue()}
CORPUS.update({f"{name} as REGISTER": r for name, data in list(CORPUS.items())
               if (r := as_register(data)) is not None})


@pytest.fixture(scope="session")
def sip_corpus() -> dict[str, bytes]:
    return dict(CORPUS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sip_message" in metafunc.fixturenames:
        names = sorted(CORPUS)
        metafunc.parametrize("sip_message", [CORPUS[n] for n in names], ids=names)
