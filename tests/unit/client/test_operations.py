"""The sans-IO operation rules: inputs (responses, failures, time as a number) → actions.

Every driver (the user agent, the load engine) runs these machines, so each rule is
tested once, here, the way the transaction tables are: a table of inputs and the
action or verdict each must give.
"""

import pytest

from testbed.client import (
    MAX_AUTH_ROUNDS,
    DriveNow,
    Operation,
    Registration,
    RequestSequence,
    SendRequest,
    Verdict,
    contact_uri,
    should_fail_over,
    targets_in_order,
    udp_size_decision,
)
from testbed.client._operations import MAX_INTERVAL_RETRIES, granted_expires
from testbed.sip import (
    Challenge,
    Credentials,
    DigestClient,
    Request,
    SipUri,
    make_response,
    parse_message,
)

REGISTRAR = SipUri(host="example.com")
CONTACT = SipUri(host="127.0.0.1", port=5070, user="alice")
CHALLENGE = 'Digest realm="example.com", nonce="n1", qop="auth", algorithm=MD5'


def request_for(action: SendRequest, body: bytes = b"") -> Request:
    """The request a driver would build for ``action`` (parsed, as on the wire)."""
    lines = [f"{action.method} sip:example.com SIP/2.0",
             "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport",
             "From: <sip:alice@example.com>;tag=f1", "To: <sip:alice@example.com>",
             "Call-ID: c1", f"CSeq: {action.cseq} {action.method}", "Max-Forwards: 70",
             f"Contact: <{CONTACT}>"]
    lines += [f"{name}: {value}" for name, value in action.headers]
    lines.append(f"Content-Length: {len(body)}")
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    assert isinstance(message, Request)
    return message


def answer(request, status, *headers):
    return make_response(request, status, to_tag="t1", headers=list(headers))


def headers_of(action: SendRequest) -> dict[str, str]:
    return dict(action.headers)


def credentials(action: SendRequest, name="Authorization") -> Credentials:
    return Credentials.parse(headers_of(action)[name])


def cnonces():
    counter = iter(range(1, 1000))
    return lambda: f"cnonce{next(counter)}"


def registration(expires=3600, password="secret", sequence=None, contact=CONTACT):
    digest = DigestClient("alice", password) if password is not None else None
    return Registration(sequence or RequestSequence("c1"), expires=expires, contact=contact,
                        digest=digest, cnonce=cnonces())


# -- register ----------------------------------------------------------------------------


def test_register_without_challenge_grants_and_schedules_the_refresh():
    op = registration()
    first = op.start(now=10.0)
    assert first == SendRequest("REGISTER", 1, (("Expires", "3600"),))
    request = request_for(first)
    verdict = op.response_received(
        request, answer(request, 200, ("Contact", f"<{CONTACT}>;expires=1800")), now=10.5)
    assert verdict == Verdict(True, status=200, reason="OK", response=verdict.response,
                              expires=1800, refresh_at=10.5 + 900)


def test_challenge_is_answered_once_then_the_registration_succeeds():
    op = registration()
    request = request_for(op.start(0))
    second = op.response_received(request, answer(request, 401, ("WWW-Authenticate",
                                                                 CHALLENGE)), 0.1)
    assert isinstance(second, SendRequest) and second.cseq == 2
    creds = credentials(second)
    assert (creds.username, creds.realm, creds.nonce, creds.nc, creds.uri) == \
        ("alice", "example.com", "n1", 1, "sip:example.com")
    request = request_for(second)
    assert op.response_received(request, answer(request, 200), 0.2).ok


@pytest.mark.parametrize("status, header, answer_header", [
    (401, "WWW-Authenticate", "Authorization"),
    (407, "Proxy-Authenticate", "Proxy-Authorization"),
])
def test_the_answer_header_follows_the_challenge(status, header, answer_header):
    op = Operation("INVITE", RequestSequence("c2"), digest=DigestClient("alice", "s"),
                   cnonce=cnonces())
    request = request_for(op.start(0))
    action = op.response_received(request, answer(request, status, (header, CHALLENGE)), 0)
    assert isinstance(action, SendRequest) and answer_header in headers_of(action)


@pytest.mark.parametrize("password, second_status, detail", [
    (None, None, "no password configured"),
    ("wrong", 401, "wrong username or password"),
])
def test_refused_credentials_end_in_an_auth_verdict(password, second_status, detail):
    op = registration(password=password)
    request = request_for(op.start(0))
    action = op.response_received(request, answer(request, 401, ("WWW-Authenticate",
                                                                 CHALLENGE)), 0)
    if second_status is not None:
        assert isinstance(action, SendRequest)
        request = request_for(action)
        action = op.response_received(
            request, answer(request, second_status, ("WWW-Authenticate", CHALLENGE)), 0)
    assert isinstance(action, Verdict)
    assert (action.ok, action.error, action.status) == (False, "auth", 401)
    assert detail in action.detail


def test_too_many_authentication_rounds():
    op = registration()
    action = op.start(0)
    for round_ in range(MAX_AUTH_ROUNDS + 1):
        request = request_for(action)
        realm = f'Digest realm="realm{round_}", nonce="n{round_}", qop="auth"'
        action = op.response_received(request, answer(request, 401,
                                                      ("WWW-Authenticate", realm)), 0)
    assert isinstance(action, Verdict) and action.error == "auth"
    assert "too many authentication rounds" in action.detail


def test_423_is_retried_with_min_expires():
    op = registration(expires=60)
    request = request_for(op.start(0))
    action = op.response_received(request, answer(request, 423, ("Min-Expires", "600")), 0)
    assert action == SendRequest("REGISTER", 2, (("Expires", "600"),))


def test_423_after_digest_carries_fresh_credentials():
    """RFC 7616 §3.4: the retry must not replay the nonce count (nor the cnonce)."""
    op = registration(expires=60)
    request = request_for(op.start(0))
    action = op.response_received(request, answer(request, 401, ("WWW-Authenticate",
                                                                 CHALLENGE)), 0)
    first = credentials(action)
    request = request_for(action)
    action = op.response_received(request, answer(request, 423, ("Min-Expires", "600")), 0)
    assert isinstance(action, SendRequest) and headers_of(action)["Expires"] == "600"
    retry = credentials(action)
    assert retry.nonce == first.nonce and retry.nc == first.nc + 1
    assert retry.cnonce != first.cnonce
    # and a new challenge to the retried request is answered, not taken as a rejection
    request = request_for(action)
    again = op.response_received(request, answer(request, 401, ("WWW-Authenticate",
                                                                CHALLENGE)), 0)
    assert isinstance(again, SendRequest)


@pytest.mark.parametrize("min_expires", ["60", "30", "soon", None])
def test_a_423_that_cannot_be_satisfied_is_the_verdict(min_expires):
    op = registration(expires=60)
    request = request_for(op.start(0))
    headers = [("Min-Expires", min_expires)] if min_expires else []
    verdict = op.response_received(request, answer(request, 423, *headers), 0)
    assert isinstance(verdict, Verdict) and (verdict.error, verdict.status) == ("rejected", 423)


def test_423_retries_are_bounded():
    op = registration(expires=60)
    action = op.start(0)
    for step in range(MAX_INTERVAL_RETRIES + 1):
        request = request_for(action)
        action = op.response_received(
            request, answer(request, 423, ("Min-Expires", str(100 * (step + 1)))), 0)
    assert isinstance(action, Verdict) and action.status == 423


def test_unregister_has_no_refresh():
    op = registration(expires=0)
    first = op.start(0)
    assert headers_of(first)["Expires"] == "0"
    request = request_for(first)
    verdict = op.response_received(request, answer(request, 200), 5)
    assert verdict.ok and verdict.refresh_at is None


def test_the_sequence_continues_across_registrations():
    sequence = RequestSequence("c1")
    assert registration(sequence=sequence).start(0).cseq == 1
    assert registration(sequence=sequence).start(0).cseq == 2
    assert sequence.call_id == "c1" and sequence.cseq == 2


@pytest.mark.parametrize("contact_header, expires_header, contact, granted", [
    (f"<{CONTACT}>;expires=120", "300", CONTACT, 120),
    ("<sip:other@127.0.0.9>;expires=120", "300", CONTACT, 300),
    (None, None, CONTACT, 3600),
    (f"<{CONTACT}>;expires=120", "300", None, 300),  # no contact given: the header's
])
def test_granted_expires(contact_header, expires_header, contact, granted):
    request = request_for(SendRequest("REGISTER", 1))
    headers = [(n, v) for n, v in (("Contact", contact_header), ("Expires", expires_header))
               if v is not None]
    assert granted_expires(answer(request, 200, *headers), contact, 3600) == granted


# -- any request -------------------------------------------------------------------------


@pytest.mark.parametrize("status, ok, error", [
    (200, True, None), (202, True, None), (486, False, "rejected"), (503, False, "rejected")])
def test_final_responses(status, ok, error):
    op = Operation("OPTIONS", RequestSequence("o1"))
    request = request_for(op.start(0))
    verdict = op.response_received(request, answer(request, status), 0)
    assert (verdict.ok, verdict.error, verdict.status) == (ok, error, status)
    assert verdict.fail_over is (status == 503)


@pytest.mark.parametrize("kind, error", [
    ("timeout", "timeout"), ("refused", "refused"), ("unreachable", "unreachable"),
    ("transport", "transport"), ("something-else", "transport")])
def test_transport_failures(kind, error):
    verdict = Operation("OPTIONS", RequestSequence("o1")).transport_failed(kind, "why", 3.0)
    assert (verdict.ok, verdict.error, verdict.detail, verdict.fail_over) == \
        (False, error, "why", True)


# -- failover, targets, contacts, sizes --------------------------------------------------


@pytest.mark.parametrize("error, status, fail_over", [
    ("timeout", None, True), ("refused", None, True), ("unreachable", None, True),
    ("tls", None, True), ("websocket", None, True), ("transport", None, True),
    ("rejected", 503, True), ("rejected", 500, False), ("rejected", 404, False),
    ("auth", 401, False), ("dns", None, False), (None, 200, False)])
def test_should_fail_over(error, status, fail_over):
    assert should_fail_over(error, status) is fail_over  # RFC 3263 §4.3


@pytest.mark.parametrize("targets, first, ordered", [
    (["a", "b", "c"], None, ["a", "b", "c"]),
    (["a", "b", "c"], "b", ["b", "a", "c"]),
    (["a", "b"], "z", ["z", "a", "b"]),  # the live flow's target, not among the located
])
def test_targets_in_order(targets, first, ordered):
    assert targets_in_order(targets, first) == ordered


@pytest.mark.parametrize("transport, local, secure, text", [
    ("UDP", ("127.0.0.1", 5070), False, "sip:alice@127.0.0.1:5070"),
    ("TCP", ("127.0.0.1", 5070), False, "sip:alice@127.0.0.1:5070;transport=tcp"),
    ("TLS", ("127.0.0.1", 5071), True, "sips:alice@127.0.0.1:5071;transport=tls"),
    ("WSS", ("127.0.0.1", 4443), False, "sip:alice@127.0.0.1:4443;transport=ws"),
    ("UDP", ("::1", 5070), False, "sip:alice@[::1]:5070"),
])
def test_contact_uri(transport, local, secure, text):
    assert str(contact_uri(transport, local, "alice", secure=secure)) == text


@pytest.mark.parametrize("size, mtu, policy, switch, limit, why", [
    (1300, None, "switch-to-tcp", False, 1300, ""),
    (1301, None, "switch-to-tcp", True, 1300, "switching to TCP (RFC 3261 §18.1.1)"),
    (1301, None, "send", False, 1300, "sent over UDP anyway"),
    (1300, 1500, "switch-to-tcp", False, 1300, ""),
    (1301, 1400, "switch-to-tcp", True, 1200, "within 200 bytes of the path MTU 1400"),
])
def test_udp_size_decision(size, mtu, policy, switch, limit, why):
    decision = udp_size_decision("INVITE", size, path_mtu=mtu, policy=policy)
    assert (decision.switch, decision.limit) == (switch, limit)
    assert why in decision.why and (decision.why == "") == (why == "")


def test_challenge_text_used_here_is_valid():
    assert Challenge.parse(CHALLENGE).qop == ("auth",)


# -- DriveNow: the same loop on callbacks (the load engine's fast path) -------------------


class _Clock:
    def seconds(self) -> float:
        return 0.0


class _Wire:
    """A ``send`` for DriveNow that keeps each action and the request it made."""

    def __init__(self) -> None:
        self.actions: list[SendRequest] = []
        self.requests: list[Request] = []

    def __call__(self, action: SendRequest, run: DriveNow) -> Request:
        self.actions.append(action)
        self.requests.append(request_for(action))
        return self.requests[-1]


def _drive_now(operation: Operation):
    wire, verdicts, crashes = _Wire(), [], []
    run = DriveNow(operation, wire, _Clock(), verdicts.append, crashes.append)
    run.start()
    return run, wire, verdicts, crashes


def test_drive_now_answers_a_challenge_then_gives_the_verdict():
    registration = Registration(RequestSequence("c1"), expires=60, contact=None,
                                digest=DigestClient("alice", "secret"), cnonce=lambda: "c")
    run, wire, verdicts, crashes = _drive_now(registration)
    run.answered(answer(wire.requests[0], 401, ("WWW-Authenticate", CHALLENGE)))
    assert len(wire.actions) == 2 and "Authorization" in headers_of(wire.actions[1])
    run.answered(answer(wire.requests[1], 200, ("Expires", "60")))
    assert [(v.ok, v.status, v.expires) for v in verdicts] == [(True, 200, 60)]
    assert not crashes


def test_drive_now_turns_a_transport_failure_into_a_verdict():
    from testbed.transport import TransactionFailed

    run, _, verdicts, _ = _drive_now(Registration(RequestSequence("c1"), expires=60,
                                                  contact=None))
    run.failed(TransactionFailed("timeout", "Timer F expired", "F"))
    assert [(v.ok, v.error) for v in verdicts] == [(False, "timeout")]


def test_drive_now_reports_a_broken_rule_as_a_crash_not_a_verdict():
    class Broken(Operation):
        def final(self, request, response, now):
            raise RuntimeError("bug")

    run, wire, verdicts, crashes = _drive_now(Broken("OPTIONS", RequestSequence("c1")))
    run.answered(answer(wire.requests[0], 200))
    assert not verdicts and len(crashes) == 1
    assert "bug" in crashes[0].getErrorMessage()
