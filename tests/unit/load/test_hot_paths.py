"""The fast paths made for load against their reference implementations.

Each fast path must accept exactly what the reference accepts and give the same value;
where the reference raises, the public function raises the same error. The
transaction table's deadline heap must agree with a brute-force minimum over every
live transaction, whatever the order of inputs.
"""

import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.sip import (
    Headers,
    RemoteProtocolError,
    Request,
    Response,
    Timers,
    TransactionTable,
    Via,
    clear_parse_caches,
    make_response,
    parse_message,
)
from testbed.sip import _grammar as grammar
from testbed.sip import _memo as memo_module
from testbed.sip import _message as message_module

PARAM_ALPHABET = string.ascii_letters[:6] + string.digits[:3] + ' \t;="\\,:[]<>-.!%*_+`\'~\r\n@'


def outcome(function, *args):
    try:
        return ("ok", function(*args))
    except RemoteProtocolError as exc:
        return ("error", exc.reason)


@settings(max_examples=600)
@given(st.text(alphabet=PARAM_ALPHABET, max_size=40))
def test_parse_params_fast_path_equals_the_scan(text):
    assert outcome(grammar.parse_params, text, "X") == outcome(
        grammar._parse_params_scan, text, "X")


@pytest.mark.parametrize("text", [
    "", ";branch=z9hG4bK1;rport", " ; A = B ; c", ';q="x\\"y";lr', ";received=[::1]",
    ';a=""', ";a=", ";;", ";a b", ';a="unterminated', "x;a", ";a=b c", "; a=\tb\t",
])
def test_parse_params_examples(text):
    assert outcome(grammar.parse_params, text, "X") == outcome(
        grammar._parse_params_scan, text, "X")


@settings(max_examples=600)
@given(st.text(alphabet='ab ,\t"<>\\', max_size=30))
def test_split_list_fast_path_equals_the_scan(value):
    assert outcome(grammar.split_list, value, "X") == outcome(
        grammar._split_list_scan, value, "X")


HEADER_LINE = st.text(alphabet="abV: \t\r-.x", max_size=12)


@settings(max_examples=600)
@given(st.lists(HEADER_LINE, max_size=5))
def test_header_lines_fast_path_equals_the_line_by_line_parse(lines):
    fast = outcome(lambda: list(message_module._parse_header_lines(lines, "\n".join(lines))))
    slow = outcome(lambda: list(message_module._parse_header_lines(lines)))
    assert fast == slow


def test_headers_lookups_stay_consistent_through_edits():
    headers = Headers([("v", "SIP/2.0/UDP a"), ("X-Odd", "1"), ("Via", "SIP/2.0/UDP b"),
                       ("x-odd", "2"), ("Call-ID", "c")])
    assert headers.get("VIA") == "SIP/2.0/UDP a" and headers.get_all("X-ODD") == ["1", "2"]
    headers.set("x-Odd", "3")
    assert list(headers) == [("Via", "SIP/2.0/UDP a"), ("x-Odd", "3"), ("Via", "SIP/2.0/UDP b"),
                             ("Call-ID", "c")]
    headers.replace_first("i", "d")
    headers.prepend("Route", "<sip:r>")
    headers.remove("v")
    assert list(headers) == [("Route", "<sip:r>"), ("x-Odd", "3"), ("Call-ID", "d")]
    copy = headers.copy()
    copy.add("Via", "SIP/2.0/TCP c")
    assert "Via" not in headers and copy.get("v") == "SIP/2.0/TCP c"
    assert headers.get("Missing", "default") == "default" and headers.get_all("Missing") == []


REGISTER = ("REGISTER sip:example.com SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK{n};rport, SIP/2.0/TCP proxy\r\n"
            "From: <sip:a@example.com>;tag={n}\r\nTo: <sip:a@example.com>\r\n"
            "Call-ID: {n}@x\r\nCSeq: 1 REGISTER\r\nContact: <sip:a@10.0.0.1:5070>\r\n"
            "Content-Length: 0\r\n\r\n")


def test_replace_top_via_remembers_what_a_fresh_parse_gives():
    request = parse_message(REGISTER.format(n=1).encode())
    stamped = request.top_via.with_param("received", "192.0.2.7").with_param("rport", "5071")
    request.replace_top_via(stamped)
    assert request.top_via is stamped
    assert request.headers.values("Via")[1] == "SIP/2.0/TCP proxy"
    clear_parse_caches()
    assert request.top_via == stamped  # parsed again from the text: the same value
    reparsed = parse_message(request.to_bytes())
    assert reparsed.top_via == stamped and reparsed.top_via.rport == 5071


def test_memo_tables_are_bounded_and_forget_the_oldest():
    memo = memo_module.Memo(3)
    for n in range(5):
        memo.put(n, str(n))
    assert list(memo) == [2, 3, 4]


def test_parse_caches_share_values_not_mutable_state():
    first = parse_message(REGISTER.format(n=2).encode())
    second = parse_message(REGISTER.format(n=2).encode())
    assert first.top_via == second.top_via and first.to == second.to
    second.headers.set("To", "<sip:b@example.com>")
    assert str(first.to.uri) == "sip:a@example.com"
    assert str(second.to.uri) == "sip:b@example.com"


def _request(n, method="OPTIONS"):
    return Request(method, "sip:example.com", [
        ("Via", f"SIP/2.0/UDP 10.0.0.{n % 250 + 1}:5060;branch=z9hG4bK{n}x"),
        ("From", f"<sip:a@example.com>;tag={n}"), ("To", "<sip:b@example.com>"),
        ("Call-ID", f"{n}@x"), ("CSeq", f"1 {method}")])


@pytest.mark.parametrize("seed", range(6))
def test_deadline_heap_agrees_with_a_brute_force_minimum(seed):
    rng = random.Random(seed)
    table = TransactionTable(Timers(t1=0.01, t2=0.08, t4=0.1))
    now = 0.0
    clients, servers = [], []
    for step in range(400):
        now += rng.random() * 0.02
        action = rng.random()
        if action < 0.3:
            method = rng.choice(["OPTIONS", "INVITE"])
            clients.append(table.start_client(_request(step, method), now,
                                              reliable=rng.random() < 0.3).transaction)
        elif action < 0.5:
            routed = table.receive(_request(step, rng.choice(["OPTIONS", "INVITE"])), now,
                                   reliable=rng.random() < 0.3)
            servers.append(routed.transaction)
        elif action < 0.65 and clients:
            client = rng.choice(clients)
            status = rng.choice([100, 180, 200, 486])
            table.receive(make_response(client.request, status, to_tag="t"), now,
                          reliable=client.reliable)
        elif action < 0.8 and servers:
            server = rng.choice(servers)
            if not server.terminated and server.state.value in ("Trying", "Proceeding"):
                table.send_response(make_response(server.request, rng.choice([180, 200, 404]),
                                                  to_tag="u"), now)
        elif action < 0.85 and clients:
            table.transport_error(rng.choice(clients), now, "reset")
        else:
            deadline = table.next_deadline()
            if deadline is not None:
                now = max(now, deadline)
                table.on_timer(now)
        live = [t for t in clients + servers if not t.terminated]
        deadlines = [t.next_deadline() for t in live if t.next_deadline() is not None]
        assert table.next_deadline() == min(deadlines, default=None)
        assert len(table) == len(live)
    for _ in range(10_000):  # every timer fires; what is left waits for its TU
        deadline = table.next_deadline()
        if deadline is None:
            break
        table.on_timer(deadline)
    live = [t for t in clients + servers if not t.terminated]
    assert len(table) == len(live)
    assert all(t.next_deadline() is None for t in live)
    assert all(t.state.value in ("Trying", "Proceeding") for t in live)
    assert len(table._heap) <= 1025  # superseded entries are swept


def test_digest_server_forgets_expired_nonce_counts_in_constant_time():
    from testbed.sip import DigestServer, build_authorization

    server = DigestServer("realm", b"secret", nonce_lifetime=10.0)

    def verify(now):
        challenge = server.challenge(now)
        credentials = build_authorization(challenge, username="u", password="p",
                                          method="REGISTER", uri="sip:realm", cnonce="c", nc=1)
        return server.verify(credentials, method="REGISTER", password_lookup={"u": "p"}.get,
                             now=now)

    for second in range(30):
        assert verify(float(second)).ok
    assert len(server._highest_nc) <= 11  # only the nonces of the last 10 s are kept


def test_response_to_a_stamped_request_goes_to_rport():
    from testbed.transport._stack import _stamp_received, _udp_response_destination

    class FlowStub:
        remote = ("192.0.2.9", 40000)

    request = parse_message(REGISTER.format(n=3).encode())
    _stamp_received(request, FlowStub())
    assert request.top_via.received == "192.0.2.9" and request.top_via.rport == 40000
    response = make_response(request, 200, to_tag="x")
    assert _udp_response_destination(response, FlowStub()) == ("192.0.2.9", 40000)
    assert isinstance(Via.parse(request.headers.values("Via")[0]), Via)
    assert isinstance(response, Response)
