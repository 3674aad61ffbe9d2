"""The registrar's authentication policy, request by request, time from a Clock.

REGISTER is challenged as a UAS (401, RFC 3261 §10.3, §22.2), INVITE as a proxy by
default (407, §22.3); credentials for an unknown username get the configured answer,
and only once they answer one of our challenges.
"""

from __future__ import annotations

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
