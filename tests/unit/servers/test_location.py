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


# -- prepare, then commit; the limits ------------------------------------------------------


def test_prepare_stores_nothing_until_commit():
    table = LocationTable()
    update = table.prepare(register(["<sip:a@10.0.0.1>"], expires=60), now=0)
    assert [str(b.contact.uri) for b in update.bindings] == ["sip:a@10.0.0.1"]
    assert table.lookup("sip:alice@example.com", 0) == []
    table.commit(update)
    assert len(table.lookup("sip:alice@example.com", 0)) == 1
    removal = table.prepare(register(["<sip:a@10.0.0.1>"], expires=0, cseq=2), now=1)
    assert removal.bindings == [] and len(table.lookup("sip:alice@example.com", 1)) == 1
    table.commit(removal)
    assert table.bindings == {}


def contacts(n):
    return [f"<sip:a{i}@10.0.0.1>" for i in range(n)]


@pytest.mark.parametrize(("cap", "already", "added", "refused"), [
    (3, 0, 3, False), (3, 0, 4, True), (3, 2, 1, False), (3, 3, 1, True),
    (0, 0, 50, False),  # 0: no cap
])
def test_max_contacts_per_aor_is_503_as_kamailio(cap, already, added, refused):
    table = LocationTable(max_contacts=cap)
    table.register(register(contacts(already)), now=0)
    request = register([f"<sip:new{i}@10.0.0.2>" for i in range(added)], call_id="c2")
    if not refused:
        assert len(table.register(request, now=1)) == already + added
        return
    with pytest.raises(RegisterRejected) as info:
        table.register(request, now=1)
    assert (info.value.status, info.value.headers) == (
        503, (("P-Registrar-Error", "Too many registered contacts"),))
    assert len(table.lookup("sip:alice@example.com", 1)) == already  # nothing changed


def test_refreshing_at_the_cap_is_not_refused():
    table = LocationTable(max_contacts=2)
    table.register(register(contacts(2)), now=0)
    assert len(table.register(register(contacts(2), cseq=2), now=1)) == 2


@pytest.mark.parametrize(("uri_length", "refused"), [(512, False), (513, True)])
def test_contact_max_size_is_400_as_kamailio(uri_length, refused):
    table = LocationTable(contact_max_size=512)
    uri = "sip:" + "a" * (uri_length - len("sip:@h")) + "@h"
    assert len(uri) == uri_length
    if not refused:
        table.register(register([f"<{uri}>"]), now=0)
        return
    with pytest.raises(RegisterRejected) as info:
        table.register(register([f"<{uri}>"]), now=0)
    assert info.value.status == 400
    assert info.value.headers == (("P-Registrar-Error", "Contact/received too long"),)


def test_contact_max_size_is_per_uri_not_per_line():
    table = LocationTable(contact_max_size=40)
    line = ", ".join(contacts(10))  # a long line of short URIs
    assert len(line) > 40
    assert len(table.register(register([line]), now=0)) == 10


def test_max_aors_refuses_new_ones_until_some_expire():
    table = LocationTable(max_aors=2)
    for user in ("alice", "bob"):
        table.register(register(["<sip:a@h>"], expires=60, to=f"sip:{user}@example.com"),
                       now=0)
    carol = register(["<sip:c@h>"], expires=60, to="sip:carol@example.com")
    with pytest.raises(RegisterRejected) as info:
        table.register(carol, now=1)
    assert info.value.status == 503
    assert info.value.headers == (("P-Registrar-Error",
                                   "Too many registered addresses-of-record"),)
    # Known ones still refresh; once alice and bob expired, carol gets in.
    table.register(register(["<sip:a@h>"], expires=60, cseq=2), now=2)
    assert len(table.register(carol, now=70)) == 1
    assert set(table.bindings) == {"sip:carol@example.com"}  # the expired were swept
