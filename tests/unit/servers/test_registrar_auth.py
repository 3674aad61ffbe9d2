"""The registrar's authentication policy, request by request, time from a Clock.

REGISTER is challenged as a UAS (401, RFC 3261 §10.3, §22.2), INVITE as a proxy by
default (407, §22.3); credentials for an unknown username get the configured answer,
and only once they answer one of our challenges.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest
from twisted.internet.task import Clock

from servers.registrar import INVITE_CHALLENGES, UNKNOWN_USER_ANSWERS, Registrar, RegistrarConfig
from testbed.sip import Challenge, Request, Transport, build_authorization, build_offer

REALM = "pbx.example.com"
USERS = {"alice": "secret"}
CHALLENGE_HEADER = {401: "WWW-Authenticate", 407: "Proxy-Authenticate"}
CREDENTIALS_HEADER = {401: "Authorization", 407: "Proxy-Authorization"}


@dataclass
class RecordingFlow:
    """What the registrar reads of a flow: where a request came from."""

    transport: Transport = Transport.UDP
    local: tuple[str, int] = ("127.0.0.1", 5060)
    remote: tuple[str, int] = ("127.0.0.2", 5070)
    closed: bool = False


@dataclass
class RecordingContext:
    """A server transaction that records the answers instead of sending them."""

    request: Request
    flow: RecordingFlow = field(default_factory=RecordingFlow)
    answers: list[tuple[int, list[tuple[str, object]]]] = field(default_factory=list)

    def respond(self, status: int, reason: str | None = None, *, to_tag: str | None = None,
                headers=(), body: bytes = b"") -> None:
        self.answers.append((status, list(headers)))

    def send(self, response) -> None:
        self.answers.append((response.status, [(n, v) for n, v in response.headers
                                               if n in ("Contact", "Date")]))

    @property
    def final(self) -> tuple[int, list[tuple[str, object]]]:
        return [a for a in self.answers if a[0] >= 200][-1]


def request(method: str, *, user: str = "alice", credentials: tuple[str, str] | None = None,
            cseq: int = 1) -> Request:
    aor = f"sip:{user}@{REALM}"
    headers: list[tuple[str, object]] = [
        ("Via", "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK" + f"{method}{cseq}"),
        ("From", f"<{aor}>;tag=1"),
        ("To", f"<{aor}>" if method == "REGISTER" else f"<sip:bob@{REALM}>"),
        ("Call-ID", f"{method}@test"), ("CSeq", f"{cseq} {method}")]
    body = b""
    if method == "REGISTER":
        headers.append(("Contact", "<sip:alice@127.0.0.2:5070>"))
    else:
        body = build_offer(address="127.0.0.2", port=4000, session_id=1).to_bytes()
        headers.append(("Content-Type", "application/sdp"))
    if credentials is not None:
        headers.append(credentials)
    uri = f"sip:{REALM}" if method == "REGISTER" else f"sip:bob@{REALM}"
    return Request(method, uri, headers, body)


def registrar(**config: object) -> Registrar:
    config.setdefault("users", dict(USERS))
    config.setdefault("realm", REALM)
    return Registrar(Clock(), RegistrarConfig(**config))


def handle(server: Registrar, message: Request) -> RecordingContext:
    context = RecordingContext(message)
    server.request_received(context)  # type: ignore[arg-type]  # a recording fake
    return context


def answer(challenged: RecordingContext, method: str, *, user: str = "alice",
           password: str = "secret", header: str | None = None) -> tuple[str, str]:
    """Credentials answering the challenge ``challenged`` got (in the header that
    status asks for unless ``header`` is given)."""
    status, headers = challenged.final
    (value,) = [v for name, v in headers if name == CHALLENGE_HEADER[status]]
    challenge = Challenge.parse(str(value))
    message = challenged.request
    credentials = build_authorization(challenge, username=user, password=password,
                                      method=method, uri=str(message.uri), cnonce="c0ffee",
                                      body=message.body)
    return (header or CREDENTIALS_HEADER[status], credentials.to_header())


# -- which challenge, read from which header ----------------------------------------------


@pytest.mark.parametrize(("method", "config", "challenge"), [
    ("REGISTER", {}, 401),                           # a registrar is a UAS (§10.3, §22.2)
    ("REGISTER", {"invite_challenge": 401}, 401),
    ("INVITE", {}, 407),                             # as a proxy (§22.3): the default
    ("INVITE", {"invite_challenge": 401}, 401),      # as a UAS, when configured
])
def test_challenge_status_and_headers(method, config, challenge):
    server = registrar(**config)

    challenged = handle(server, request(method))
    status, headers = challenged.final
    assert status == challenge
    assert [name for name, _ in headers] == [CHALLENGE_HEADER[challenge]]

    admitted = handle(server, request(method, credentials=answer(challenged, method), cseq=2))
    assert admitted.final[0] == 200
    assert [(r.method, r.status) for r in server.received] == [(method, challenge),
                                                               (method, 200)]
    assert server.received[-1].note.startswith("authenticated alice")


@pytest.mark.parametrize(("method", "challenge", "wrong_header"), [
    ("INVITE", 407, "Authorization"),           # a proxy reads Proxy-Authorization only
    ("INVITE", 401, "Proxy-Authorization"),     # a UAS reads Authorization only
    ("REGISTER", 401, "Proxy-Authorization"),
])
def test_credentials_in_the_other_header_are_not_read(method, challenge, wrong_header):
    server = registrar(invite_challenge=challenge)
    challenged = handle(server, request(method))
    credentials = answer(challenged, method, header=wrong_header)

    again = handle(server, request(method, credentials=credentials, cseq=2))

    assert again.final[0] == challenge
    assert server.received[-1].note == f"challenged (no {CREDENTIALS_HEADER[challenge]})"


def test_the_credentials_for_our_realm_are_picked_among_several():
    # RFC 3261 §20.28: each Proxy-Authorization value is for the proxy of its realm.
    server = registrar()
    challenged = handle(server, request("INVITE"))
    ours = answer(challenged, "INVITE")
    theirs = ("Proxy-Authorization", ours[1].replace(f'realm="{REALM}"', 'realm="upstream"'))
    assert theirs != ours

    admitted = handle(server, request("INVITE", credentials=theirs, cseq=2))
    assert admitted.final[0] == 407  # only another proxy's credentials: challenged again
    message = request("INVITE", credentials=theirs, cseq=3)
    message.headers.add(*ours)
    assert handle(server, message).final[0] == 200


def test_a_stale_nonce_is_rechallenged_with_stale_true_in_the_same_header():
    server = registrar(nonce_lifetime=30.0)
    challenged = handle(server, request("INVITE"))
    credentials = answer(challenged, "INVITE")
    server.reactor.advance(31)  # type: ignore[attr-defined]  # the Clock of registrar()
    stale = handle(server, request("INVITE", credentials=credentials, cseq=2))
    status, headers = stale.final
    assert status == 407
    (value,) = [v for name, v in headers if name == "Proxy-Authenticate"]
    assert Challenge.parse(str(value)).stale


# -- unknown users ------------------------------------------------------------------------


@pytest.mark.parametrize("unknown_user", UNKNOWN_USER_ANSWERS)
@pytest.mark.parametrize(("method", "challenge"), [("REGISTER", 401), ("INVITE", 407),
                                                   ("INVITE", 401)])
def test_unknown_user_is_challenged_first_then_gets_the_configured_answer(
        unknown_user, method, challenge):
    server = registrar(unknown_user=unknown_user, invite_challenge=challenge
                       if method == "INVITE" else 407)

    # Without credentials nothing tells who exists: mallory is challenged like alice.
    first = handle(server, request(method, user="mallory"))
    assert first.final[0] == challenge

    credentials = answer(first, method, user="mallory", password="guess")
    second = handle(server, request(method, user="mallory", credentials=credentials, cseq=2))

    status, headers = second.final
    if unknown_user == 401:  # challenged again, as for a wrong password
        assert status == challenge
        assert [name for name, _ in headers] == [CHALLENGE_HEADER[challenge]]
        assert server.received[-1].note == "challenged (no user 'mallory')"
    else:
        assert status == unknown_user and headers == []
        assert server.received[-1].note == "unknown user 'mallory'"
    assert server.bindings(f"sip:mallory@{REALM}") == []


@pytest.mark.parametrize("unknown_user", [403, 404])
def test_a_known_user_with_a_wrong_password_is_still_challenged(unknown_user):
    # The configured answer is for unknown usernames only: a wrong password is 401 again.
    server = registrar(unknown_user=unknown_user)
    first = handle(server, request("REGISTER"))
    credentials = answer(first, "REGISTER", password="wrong")
    second = handle(server, request("REGISTER", credentials=credentials, cseq=2))
    assert second.final[0] == 401


@pytest.mark.parametrize("unknown_user", [403, 404])
def test_credentials_not_answering_our_challenge_are_challenged(unknown_user):
    # A username guessed with a nonce we never issued learns nothing: challenged.
    server = registrar(unknown_user=unknown_user)
    forged = Challenge(realm=REALM, nonce="bm90LW91cnM", algorithm="MD5", qop=("auth",))
    message = request("REGISTER", user="mallory")
    credentials = build_authorization(forged, username="mallory", password="x",
                                      method="REGISTER", uri=str(message.uri), cnonce="c")
    message.headers.add("Authorization", credentials.to_header())
    assert handle(server, message).final[0] == 401


def test_without_users_nothing_is_challenged():
    server = registrar(users={})
    assert handle(server, request("INVITE")).final[0] == 200
    assert handle(server, request("REGISTER")).final[0] == 200


@pytest.mark.parametrize(("field_name", "value", "allowed"), [
    ("invite_challenge", 403, INVITE_CHALLENGES),
    ("unknown_user", 407, UNKNOWN_USER_ANSWERS),
    ("unknown_user", 200, UNKNOWN_USER_ANSWERS),
])
def test_config_refuses_other_statuses(field_name, value, allowed):
    assert value not in allowed
    with pytest.raises(ValueError, match=f"{field_name} must be .* not {value}"):
        RegistrarConfig(**{field_name: value})


def test_defaults_are_proxy_challenge_and_a_new_challenge_for_unknown_users():
    config = RegistrarConfig()
    assert (config.invite_challenge, config.unknown_user) == (407, 401)


# -- authorisation (RFC 3261 §10.3 step 4) and the digest uri (RFC 7616 §3.4.6) ----------

ACCOUNTS = {"alice": "secret", "bob": "hunter2"}


def register_request(to_user: str, *, contacts: tuple[str, ...] = ("<sip:dev@192.0.2.1>",),
                     star: bool = False, cseq: int = 1, credentials=None,
                     host: str = REALM, uri: str = f"sip:{REALM}") -> Request:
    headers: list[tuple[str, object]] = [
        ("Via", f"SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKreg{to_user}{cseq}"),
        ("From", f"<sip:{to_user}@{host}>;tag=1"), ("To", f"<sip:{to_user}@{host}>"),
        ("Call-ID", f"reg-{to_user}@test"), ("CSeq", f"{cseq} REGISTER")]
    if star:
        headers += [("Contact", "*"), ("Expires", "0")]
    else:
        headers += [("Contact", contact) for contact in contacts]
    if credentials is not None:
        headers.append(credentials)
    return Request("REGISTER", uri, headers)


def register_as(server: Registrar, user: str, to_user: str, *,
                flow: RecordingFlow | None = None, digest_uri: str | None = None,
                cseq: int = 1, **fields) -> RecordingContext:
    """REGISTER ``to_user``'s address-of-record with ``user``'s credentials (CSeq
    ``cseq`` challenged, ``cseq + 1`` admitted)."""
    challenged = handle(server, register_request(to_user, cseq=cseq, **fields))
    assert challenged.final[0] == 401
    (value,) = [v for name, v in challenged.final[1] if name == "WWW-Authenticate"]
    message = register_request(to_user, cseq=cseq + 1, **fields)
    credentials = build_authorization(
        Challenge.parse(str(value)), username=user, password=ACCOUNTS[user],
        method="REGISTER", uri=digest_uri or str(message.uri), cnonce="c0ffee")
    message.headers.add("Authorization", credentials.to_header())
    context = RecordingContext(message, flow or RecordingFlow())
    server.request_received(context)  # type: ignore[arg-type]  # a recording fake
    return context


@pytest.mark.parametrize(("policy", "to_user", "status"), [
    ("own", "alice", 200),
    ("own", "bob", 403),        # another account's address-of-record
    ("own", "carol", 403),      # no account's: never created
    ("accounts", "bob", 200),   # third-party registration (§10.2) among accounts
    ("accounts", "carol", 404),
    ("any", "bob", 200),        # the misconfiguration, on purpose
    ("any", "carol", 200),
])
def test_who_may_register_what(policy, to_user, status):
    server = registrar(users=dict(ACCOUNTS), registrar_policy=policy)
    final = register_as(server, "alice", to_user).final
    assert final[0] == status
    stored = server.bindings(f"sip:{to_user}@{REALM}")
    assert len(stored) == (1 if status == 200 else 0)


def test_alice_cannot_remove_bobs_bindings_with_a_wildcard():
    server = registrar(users=dict(ACCOUNTS))
    assert register_as(server, "bob", "bob").final[0] == 200
    assert register_as(server, "alice", "bob", star=True, cseq=3).final[0] == 403
    assert len(server.bindings(f"sip:bob@{REALM}")) == 1
    assert register_as(server, "bob", "bob", star=True, cseq=5).final[0] == 200  # bob may
    assert server.bindings(f"sip:bob@{REALM}") == []


def test_an_open_registrar_authorises_every_address_of_record():
    server = registrar(users={})
    assert handle(server, register_request("carol")).final[0] == 200


@pytest.mark.parametrize(("host", "status"), [(REALM, 200), ("PBX.example.com", 200),
                                              ("elsewhere.example.com", 404)])
def test_domains_is_rfc3261_step_5(host, status):
    server = registrar(users=dict(ACCOUNTS), domains=(REALM,))
    assert register_as(server, "alice", "alice", host=host).final[0] == status


@pytest.mark.parametrize(("digest_uri", "status"), [
    (f"sip:{REALM}", 200), (f"sip:{REALM.upper()}", 200),  # the same URI (§19.1.4)
    ("sip:elsewhere.example.com", 400), (f"sip:bob@{REALM}", 400),
])
def test_credentials_for_another_uri_are_400(digest_uri, status):
    server = registrar(users=dict(ACCOUNTS))
    context = register_as(server, "alice", "alice", digest_uri=digest_uri)
    assert context.final[0] == status
    assert len(server.bindings(f"sip:alice@{REALM}")) == (status == 200)
    if status == 400:
        assert server.received[-1].note.startswith("digest uri")


# -- contacts per address-of-record, and answers that fit their transport -------------------


def test_too_many_contacts_is_503_with_kamailios_header_and_retry_after():
    server = registrar(users=dict(ACCOUNTS), max_contacts=2, retry_after=30)
    devices = tuple(f"<sip:dev{i}@192.0.2.1>" for i in range(3))
    status, headers = register_as(server, "alice", "alice", contacts=devices).final
    assert status == 503
    assert ("P-Registrar-Error", "Too many registered contacts") in headers
    assert ("Retry-After", "30") in headers
    assert server.bindings(f"sip:alice@{REALM}") == []
    assert register_as(server, "alice", "alice", contacts=devices[:2]).final[0] == 200


def answer_size(transport: Transport, contact_length: int) -> tuple[int, int]:
    """(status, bytes of the 200 OK or 0) for one contact URI of ``contact_length``."""
    server = registrar(users={}, contact_max_size=0)
    uri = "sip:" + "a" * (contact_length - len("sip:@192.0.2.1")) + "@192.0.2.1"
    context = RecordingContext(register_request("alice", contacts=(f"<{uri}>",)),
                               RecordingFlow(transport))
    sent: list[bytes] = []
    context.send = lambda response: (sent.append(bytes(response)),  # type: ignore[method-assign]
                                     context.answers.append((response.status, [])))
    server.request_received(context)  # type: ignore[arg-type]  # a recording fake
    stored = len(server.bindings(f"sip:alice@{REALM}"))
    assert stored == (1 if sent else 0)
    return context.final[0], len(sent[0]) if sent else 0


def test_the_answer_must_fit_one_datagram_over_udp_and_the_message_limit_over_tcp():
    _, baseline = answer_size(Transport.TCP, 1000)
    length = 1000 + (65520 - baseline)  # a 200 OK of 65,520 bytes: > 65,507, <= 65,535
    assert answer_size(Transport.TCP, length) == (200, 65520)
    assert answer_size(Transport.UDP, length) == (503, 0)  # not one datagram: refused
    assert answer_size(Transport.UDP, length - 13) == (200, 65507)
    assert answer_size(Transport.TCP, length + 16)[0] == 503  # over our own limit


def test_bindings_are_not_stored_behind_an_answer_that_was_not_sent():
    server = registrar(users=dict(ACCOUNTS))
    context = register_as(server, "alice", "alice", flow=RecordingFlow(closed=True))
    assert context.final[0] == 200  # built and handed over, but the flow was closed
    assert server.bindings(f"sip:alice@{REALM}") == []
    assert "nothing stored" in server.received[-1].note


@pytest.mark.parametrize(("field_name", "value"), [
    ("registrar_policy", "everyone"), ("max_contacts", -1), ("max_aors", -1),
    ("contact_max_size", -1), ("retry_after", -1)])
def test_config_refuses_bad_limits_and_policies(field_name, value):
    with pytest.raises(ValueError, match=field_name):
        RegistrarConfig(**{field_name: value})


def test_default_limits():
    config = RegistrarConfig()
    assert (config.registrar_policy, config.max_contacts, config.contact_max_size,
            config.max_aors, config.retry_after, config.domains) == ("own", 20, 512,
                                                                     100_000, 0, ())


@pytest.mark.parametrize(("config", "to_user", "status", "lines"), [
    ({}, "bob", 403, 1),                   # refused: one line
    ({"min_expires": 7200}, "alice", 423, 0),  # a negotiation (§10.2.8): none
    ({}, "alice", 200, 0),
])
def test_refusals_are_logged_in_one_line_and_negotiations_not(caplog, config, to_user,
                                                              status, lines):
    caplog.set_level(logging.WARNING, logger="testbed.rejected")
    server = registrar(users=dict(ACCOUNTS), **config)
    assert register_as(server, "alice", to_user).final[0] == status
    logged = [r.getMessage() for r in caplog.records if r.name == "testbed.rejected"]
    assert len(logged) == lines
    assert all(f"REGISTER {status} " in line for line in logged)
