"""The registrar's location service: RFC 3261 §10.3 rules, time passed as numbers."""

import pytest

from servers.registrar import LocationTable, RegisterRejected
from testbed.sip import Request


def register(contacts, *, expires=None, call_id="c1", cseq=1, to="sip:alice@example.com"):
    headers = [("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx"), ("From", f"<{to}>;tag=1"),
               ("To", f"<{to}>"), ("Call-ID", call_id), ("CSeq", f"{cseq} REGISTER")]
    headers += [("Contact", c) for c in contacts]
    if expires is not None:
        headers.append(("Expires", str(expires)))
    return Request("REGISTER", "sip:example.com", headers)


def test_binding_expiry_and_lookup():
    table = LocationTable(default_expires=3600)
    table.register(register(["<sip:alice@10.0.0.1:5070>"], expires=60), now=0)
    assert len(table.lookup("sip:alice@example.com", 59.9)) == 1
    assert table.lookup("sip:alice@example.com", 60.0) == []


@pytest.mark.parametrize(
    "contact, header, expected",
    [("<sip:a@h>;expires=30", 120, 30), ("<sip:a@h>", 120, 120), ("<sip:a@h>", None, 3600),
     ("<sip:a@h>;expires=999999", None, 86400)],
)
def test_expires_precedence(contact, header, expected):
    table = LocationTable()
    (binding,) = table.register(register([contact], expires=header), now=100)
    assert binding.remaining(100) == expected


def test_too_brief_is_423_with_min_expires():
    table = LocationTable(min_expires=60)
    with pytest.raises(RegisterRejected) as info:
        table.register(register(["<sip:a@h>"], expires=10), now=0)
    assert info.value.status == 423
    assert ("Min-Expires", "60") in info.value.headers


def test_refresh_replaces_and_zero_removes():
    table = LocationTable()
    table.register(register(["<sip:a@h>"], expires=60, cseq=1), now=0)
    (binding,) = table.register(register(["<sip:a@h>"], expires=120, cseq=2), now=10)
    assert binding.remaining(10) == 120
    assert table.register(register(["<sip:a@h>"], expires=0, cseq=3), now=20) == []


def test_out_of_order_request_is_ignored():
    table = LocationTable()
    table.register(register(["<sip:a@h>"], expires=60, cseq=5), now=0)
    (binding,) = table.register(register(["<sip:a@h>"], expires=0, cseq=4), now=1)
    assert binding.cseq == 5


def test_wildcard_needs_expires_zero():
    table = LocationTable()
    table.register(register(["<sip:a@h1>", "<sip:a@h2>"], expires=60), now=0)
    with pytest.raises(RegisterRejected) as info:
        table.register(register(["*"], expires=30, cseq=2), now=1)
    assert info.value.status == 400
    assert table.register(register(["*"], expires=0, cseq=3), now=1) == []
    assert table.lookup("sip:alice@example.com", 1) == []


def test_contact_headers_carry_remaining_expiry():
    table = LocationTable()
    bindings = table.register(register(["<sip:a@h>;q=0.5"], expires=100), now=0)
    assert table.contact_headers(bindings, 40) == [("Contact", "<sip:a@h>;q=0.5;expires=60")]


def test_aor_is_canonical():
    table = LocationTable()
    table.register(register(["<sip:a@h>"], to="sip:%61lice@EXAMPLE.com"), now=0)
    assert len(table.lookup("sip:alice@example.com", 0)) == 1
