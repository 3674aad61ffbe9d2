"""Digest authentication (RFC 2617, RFC 7616, RFC 8760): vectors, parsing, client, server."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testbed.sip import (
    ALGORITHMS,
    Challenge,
    ChallengeVerdict,
    Credentials,
    DigestClient,
    DigestServer,
    LocalProtocolError,
    RemoteProtocolError,
    VerifyStatus,
    build_authorization,
    choose_challenge,
    compute_response,
)

# ---------------------------------------------------------------------------------------
# Published vectors
# ---------------------------------------------------------------------------------------

RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC2617_AUTHORIZATION = (
    'Digest username="Mufasa", realm="testrealm@host.com", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, '
    'nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
    'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)


def rfc7616_challenge(algorithm: str) -> str:
    # RFC 7616 §3.9.1, with its blank after the comma in the qop list.
    return (
        'Digest realm="http-auth@example.org", qop="auth, auth-int", '
        f'algorithm={algorithm}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )


RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"

VECTORS = [
    pytest.param(
        RFC2617_CHALLENGE,
        "Circle Of Life",
        "0a4f113b",
        "6629fae49393a05397450978507c4ef1",
        id="rfc2617-3.5",
    ),
    pytest.param(
        rfc7616_challenge("MD5"),
        "Circle of Life",
        RFC7616_CNONCE,
        "8ca523f5e9506fed4657c9700eebdbec",
        id="rfc7616-3.9.1-md5",
    ),
    pytest.param(
        rfc7616_challenge("SHA-256"),
        "Circle of Life",
        RFC7616_CNONCE,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        id="rfc7616-3.9.1-sha256",
    ),
]


@pytest.mark.parametrize(("header", "password", "cnonce", "expected"), VECTORS)
def test_published_vectors(header: str, password: str, cnonce: str, expected: str) -> None:
    challenge = Challenge.parse(header)
    credentials = build_authorization(
        challenge,
        username="Mufasa",
        password=password,
        method="GET",
        uri="/dir/index.html",
        cnonce=cnonce,
    )
    assert credentials.response == expected
    assert credentials.qop == "auth"
    assert credentials.nc == 1
    assert credentials.opaque == challenge.opaque
    assert "nc=00000001" in credentials.to_header()


def test_rfc2617_authorization_example_parses_to_what_we_build() -> None:
    built = build_authorization(
        Challenge.parse(RFC2617_CHALLENGE),
        username="Mufasa",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce="0a4f113b",
    )
    assert Credentials.parse(RFC2617_AUTHORIZATION) == built


def test_sha512_256_is_fips_sha512_256_not_truncated_sha512() -> None:
    # FIPS 180-4 example: SHA-512/256("abc").
    fips_abc = "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
    assert hashlib.new("sha512_256", b"abc").hexdigest() == fips_abc

    def h(text: str) -> str:
        return hashlib.new("sha512_256", text.encode()).hexdigest()

    ha1, ha2 = h("u:r:p"), h("REGISTER:sip:r")
    expected = h(f"{ha1}:n:0000000a:c:auth:{ha2}")
    got = compute_response(
        algorithm="SHA-512-256",
        username="u",
        realm="r",
        password="p",
        nonce="n",
        method="REGISTER",
        uri="sip:r",
        qop="auth",
        nc=10,
        cnonce="c",
    )
    assert got == expected


def md5(text: str | bytes) -> str:
    return hashlib.md5(text if isinstance(text, bytes) else text.encode()).hexdigest()


# Reference formulas written out by hand for the variants without a published vector.
HA1 = md5("u:r:p")
HA2 = md5("INVITE:sip:b@r")
FORMULAS = [
    # RFC 2069 / RFC 2617 §3.2.2.1 without qop: KD(H(A1), nonce:H(A2)).
    pytest.param("MD5", None, md5(f"{HA1}:n:{HA2}"), id="legacy-no-qop"),
    # RFC 2617 §3.2.2.3: auth-int puts H(entity-body) into A2.
    pytest.param(
        "MD5",
        "auth-int",
        md5(f"{HA1}:n:00000001:c:auth-int:{md5('INVITE:sip:b@r:' + md5(b'v=0'))}"),
        id="auth-int",
    ),
    # RFC 2617 §3.2.2.2: MD5-sess A1 = H(user:realm:pass):nonce:cnonce.
    pytest.param(
        "MD5-sess", "auth", md5(f"{md5(f'{HA1}:n:c')}:n:00000001:c:auth:{HA2}"), id="sess"
    ),
]


@pytest.mark.parametrize(("algorithm", "qop", "expected"), FORMULAS)
def test_response_formulas(algorithm: str, qop: str | None, expected: str) -> None:
    got = compute_response(
        algorithm=algorithm,
        username="u",
        realm="r",
        password="p",
        nonce="n",
        method="INVITE",
        uri="sip:b@r",
        qop=qop,
        nc=1 if qop else None,
        cnonce="c" if qop else None,
        body=b"v=0",
    )
    assert got == expected


def test_legacy_challenge_gets_legacy_credentials() -> None:
    credentials = build_authorization(
        Challenge(realm="r", nonce="n"),
        username="u",
        password="p",
        method="INVITE",
        uri="sip:b@r",
        cnonce="c",
    )
    assert (credentials.qop, credentials.nc, credentials.cnonce) == (None, None, None)
    assert credentials.response == md5(f"{HA1}:n:{HA2}")
    assert "qop" not in credentials.to_header() and "nc=" not in credentials.to_header()


# ---------------------------------------------------------------------------------------
# Parsing and serialising
# ---------------------------------------------------------------------------------------

PARSE_CHALLENGE = [
    pytest.param(
        RFC2617_CHALLENGE,
        {"realm": "testrealm@host.com", "qop": ("auth", "auth-int"), "algorithm": "MD5"},
        id="rfc2617",
    ),
    pytest.param(
        'dIgEsT REALM="r", Nonce="n", ALGORITHM=sha-256, Stale=true',
        {"realm": "r", "nonce": "n", "algorithm": "SHA-256", "stale": True},
        id="case-insensitive",
    ),
    pytest.param(
        'Digest realm="r", nonce="n", algorithm="SHA-512-256-SESS", stale="TRUE"',
        {"algorithm": "SHA-512-256-sess", "stale": True},
        id="quoted-tokens",
    ),
    pytest.param(
        'Digest realm="a \\"quoted\\", with, commas \\\\ here", nonce="n"',
        {"realm": 'a "quoted", with, commas \\ here'},
        id="escapes-and-commas",
    ),
    pytest.param(
        'Digest  realm = "r" ,, nonce=n==,\r\n\t stale=false ,',
        {"realm": "r", "nonce": "n==", "stale": False},
        id="blanks-folding-empty-elements-unquoted-base64",
    ),
    pytest.param(
        'Digest realm="r", nonce="n", stale=maybe, qop=auth',
        {"stale": False, "qop": ("auth",)},
        id="stale-not-true-is-false",
    ),
    pytest.param(
        'Digest realm="r", nonce="n", charset=UTF-8, userhash=true, X-Vendor="a b"',
        {"extra": (("charset", "UTF-8"), ("userhash", "true"), ("x-vendor", "a b"))},
        id="unknown-params-kept",
    ),
    pytest.param(
        'Digest realm="r", nonce="n", domain="sip:a sip:b", algorithm=AKAv1-MD5',
        {"domain": "sip:a sip:b", "algorithm": "AKAv1-MD5"},
        id="domain-and-unknown-algorithm",
    ),
]


@pytest.mark.parametrize(("header", "fields"), PARSE_CHALLENGE)
def test_challenge_parse(header: str, fields: dict[str, object]) -> None:
    challenge = Challenge.parse(header)
    for name, value in fields.items():
        assert getattr(challenge, name) == value, name


ROUND_TRIPS = [
    Challenge(realm="r", nonce="n"),
    Challenge(
        realm='with "quotes", commas and \\ backslash',
        nonce="abc/+==",
        algorithm="SHA-256-sess",
        qop=("auth", "auth-int"),
        opaque="o",
        stale=True,
        domain="sip:example.com",
        extra=(("charset", "UTF-8"), ("x-empty", ""), ("x-odd", 'a"b, c')),
    ),
    Challenge(realm="", nonce="ümlaut", algorithm="unknown-alg"),
    Credentials(username="u", realm="r", nonce="n", uri="sip:r", response="00"),
    Credentials(
        username='Jäsøn "J" Doe',
        realm="r, s",
        nonce="n",
        uri="sip:bob@example.com;transport=tcp",
        response="ab" * 32,
        algorithm="SHA-512-256",
        cnonce="c\\n",
        nc=0xFFFFFFFF,
        qop="auth-int",
        opaque="",
        extra=(("userhash", "false"),),
    ),
    Credentials(
        username="u", realm="r", nonce="n", uri="/", response="0", algorithm="MD5-sess", cnonce="c"
    ),
]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=lambda v: type(v).__name__)
def test_round_trip(value: Challenge | Credentials) -> None:
    assert type(value).parse(str(value)) == value
    assert type(value).parse(value.to_header()) == value


@pytest.mark.parametrize(
    "header",
    [
        RFC2617_CHALLENGE,
        'Digest realm="a \\"b\\", c", nonce="n", qop="auth"',
        rfc7616_challenge("SHA-256"),
    ],
)
def test_challenge_truncated_or_with_trailing_data(header: str) -> None:
    # Every prefix either parses or raises RemoteProtocolError, never anything else.
    for end in range(len(header) + 1):
        try:
            Challenge.parse(header[:end])
        except RemoteProtocolError:
            pass
    whole = Challenge.parse(header)
    assert Challenge.parse(header + " ,  ") == whole
    assert Challenge.parse("  " + header + "\r\n") == whole


MALFORMED = [
    ("", "Empty"),
    ("   ", "Empty"),
    ("Digest", "lacks 'realm'"),
    ('Digest realm="r', "Unterminated quoted-string in 'realm'"),
    ('Digest realm="r\\', "Unterminated quoted-string in 'realm'"),
    ("Digest realm", "'realm' has no '='"),
    ('Digest realm "r"', "'realm' has no '='"),
    ("Digest realm=", "'realm' has an empty value"),
    ('Digest realm=, nonce="n"', "'realm' has an empty value"),
    ('Digest ="r"', "Expected an auth-param name"),
    ('Digest realm="r" nonce="n"', "Expected ',' after auth-param 'realm'"),
    ('Digest realm=ab"c", nonce="n"', "Stray '\"'"),
    ('Digest realm="r", REALM="s", nonce="n"', "Duplicate auth-param 'realm'"),
    ('Basic realm="r"', "Unsupported auth scheme 'Basic'"),
    ('"Digest" realm="r"', "Expected an auth scheme"),
    ('Digest,realm="r", nonce="n"', "Unexpected ','"),
    ('Digest realm="r"', "lacks 'nonce'"),
    ('Digest realm="r", nonce=""', "empty nonce"),
    ('Digest realm="a\r\nb", nonce="n"', "CR or LF"),
    ('Digest realm="r", nonce="n", algorithm="MD 5"', "not a token"),
]


@pytest.mark.parametrize(("header", "reason"), MALFORMED)
def test_challenge_malformed(header: str, reason: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        Challenge.parse(header)
    assert reason in info.value.reason
    assert info.value.status_hint == 400


CREDENTIALS_MALFORMED = [
    ('Digest realm="r", nonce="n", uri="/", response="x"', "lack 'username'"),
    ('Digest username="u", realm="r", nonce="n", response="x"', "lack 'uri'"),
    (RFC2617_AUTHORIZATION.replace("nc=00000001", "nc=1"), "not 8 lower-case hex"),
    (RFC2617_AUTHORIZATION.replace("nc=00000001", "nc=0000000A"), "not 8 lower-case hex"),
    (RFC2617_AUTHORIZATION.replace("nc=00000001", "nc=00000000"), "out of range"),
    (RFC2617_AUTHORIZATION.replace('cnonce="0a4f113b", ', ""), "nc and cnonce are required"),
    (RFC2617_AUTHORIZATION.replace("nc=00000001, ", ""), "nc and cnonce are required"),
    (RFC2617_AUTHORIZATION + ', uri="/again"', "Duplicate auth-param 'uri'"),
]


@pytest.mark.parametrize(("header", "reason"), CREDENTIALS_MALFORMED)
def test_credentials_malformed(header: str, reason: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        Credentials.parse(header)
    assert reason in info.value.reason


@given(st.text())
def test_garbage_raises_only_remote_protocol_error(text: str) -> None:
    for parse in (Challenge.parse, Credentials.parse):
        try:
            parse(text)
        except RemoteProtocolError:
            pass


@given(st.text(alphabet='Digest realm=nonce,uri"\\ \t'))
def test_near_miss_garbage_raises_only_remote_protocol_error(text: str) -> None:
    for parse in (Challenge.parse, Credentials.parse):
        try:
            parse(text)
        except RemoteProtocolError:
            pass


@pytest.mark.parametrize(
    "build",
    [
        lambda: Challenge(realm="a\nb", nonce="n"),
        lambda: Challenge(realm="r", nonce="n", extra=(("realm", "again"),)),
        lambda: Challenge(realm="r", nonce="n", extra=(("Bad Name", "x"),)),
        lambda: Credentials(username="u", realm="r", nonce="n", uri="/", response="x", qop="auth"),
        lambda: Credentials(username="u", realm="r", nonce="n", uri="/", response="x", nc=0),
    ],
)
def test_invalid_construction_is_a_local_error(build) -> None:
    with pytest.raises(LocalProtocolError):
        build()


# ---------------------------------------------------------------------------------------
# Client: choosing and answering
# ---------------------------------------------------------------------------------------


def offer(*algorithms: str, qop: tuple[str, ...] = ("auth",)) -> list[Challenge]:
    return [
        Challenge(realm="r", nonce=f"n{i}", algorithm=a, qop=qop) for i, a in enumerate(algorithms)
    ]


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (offer("MD5", "SHA-256", "SHA-512-256"), "SHA-512-256"),
        (offer("SHA-512-256", "SHA-256", "MD5"), "SHA-512-256"),
        (offer("MD5", "SHA-256"), "SHA-256"),
        (offer("MD5-sess", "MD5"), "MD5-sess"),  # equal strength: the server's order
        (offer("MD5", "MD5-sess"), "MD5"),
        (offer("AKAv1-MD5", "MD5"), "MD5"),  # unknown algorithm skipped
        (offer("SHA-256", qop=("auth-conf",)) + offer("MD5"), "MD5"),  # unusable qop skipped
        (offer("AKAv1-MD5"), None),
        ([], None),
    ],
)
def test_choose_challenge(offered: list[Challenge], chosen: str | None) -> None:
    got = choose_challenge(offered)
    assert (got.algorithm if got else None) == chosen


@pytest.mark.parametrize(
    ("qop", "answered"),
    [(("auth", "auth-int"), "auth"), (("auth-int",), "auth-int"), ((), None)],
)
def test_qop_choice(qop: tuple[str, ...], answered: str | None) -> None:
    credentials = build_authorization(
        Challenge(realm="r", nonce="n", qop=qop),
        username="u",
        password="p",
        method="MESSAGE",
        uri="sip:r",
        cnonce="c",
        body=b"hi",
    )
    assert credentials.qop == answered


def test_build_authorization_refuses_unsupported_challenge() -> None:
    with pytest.raises(LocalProtocolError):
        build_authorization(
            Challenge(realm="r", nonce="n", algorithm="AKAv1-MD5"),
            username="u",
            password="p",
            method="REGISTER",
            uri="sip:r",
            cnonce="c",
        )


def test_client_counts_nonce_uses_and_restarts_on_new_nonce() -> None:
    client = DigestClient("u", "p")
    first = Challenge(realm="r", nonce="n1", qop=("auth",))
    ncs = [client.authorize(first, method="REGISTER", uri="sip:r", cnonce="c").nc for _ in range(3)]
    assert ncs == [1, 2, 3]
    second = Challenge(realm="r", nonce="n2", qop=("auth",))
    assert client.authorize(second, method="REGISTER", uri="sip:r", cnonce="c").nc == 1


def challenge_401(nonce: str, *, stale: bool = False) -> list[Challenge]:
    return [Challenge(realm="r", nonce=nonce, qop=("auth",), stale=stale)]


# Each row: the 401s one request draws, in turn, and the verdict on each.
R, REJ, STALE_LOOP = (
    ChallengeVerdict.RETRY,
    ChallengeVerdict.CREDENTIALS_REJECTED,
    ChallengeVerdict.TOO_MANY_STALE,
)
CLIENT_SEQUENCES = [
    pytest.param([("n1", False), ("n1", False)], [R, REJ], id="same-nonce-wrong-password"),
    pytest.param([("n1", False), ("n2", False)], [R, REJ], id="new-nonce-no-stale-wrong-password"),
    pytest.param([("n1", False), ("n2", True)], [R, R], id="stale-retries"),
    pytest.param(
        [("n1", False), ("n2", True), ("n2", False)], [R, R, REJ], id="stale-then-rejected"
    ),
    pytest.param(
        [("n1", False), ("n2", True), ("n3", True), ("n4", True)],
        [R, R, R, STALE_LOOP],
        id="endless-stale-stops",
    ),
]


@pytest.mark.parametrize(("responses", "verdicts"), CLIENT_SEQUENCES)
def test_client_loop_guard(
    responses: list[tuple[str, bool]], verdicts: list[ChallengeVerdict]
) -> None:
    client = DigestClient("u", "p", max_stale_retries=2)
    client.start_request()
    got = []
    for nonce, stale in responses:
        decision = client.on_challenge(challenge_401(nonce, stale=stale))
        got.append(decision.verdict)
        if decision.retry:
            client.authorize(decision.challenge, method="REGISTER", uri="sip:r", cnonce="c")
    assert got == verdicts


def test_client_new_request_may_answer_again() -> None:
    client = DigestClient("u", "p")
    client.start_request()
    assert client.on_challenge(challenge_401("n1")).retry
    client.start_request()  # e.g. a registration refresh: a plain 401 is answered once more
    assert client.on_challenge(challenge_401("n2")).retry


def test_client_without_usable_challenge() -> None:
    decision = DigestClient("u", "p").on_challenge(offer("AKAv1-MD5"))
    assert decision.verdict is ChallengeVerdict.NO_USABLE_CHALLENGE
    assert "AKAv1-MD5" in decision.reason and decision.challenge is None


# ---------------------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------------------

USERS = {"alice": "secret", "bob": "hunter2"}
LIFETIME = 60.0


def make_server(**kwargs) -> DigestServer:
    kwargs.setdefault("nonce_lifetime", LIFETIME)
    return DigestServer("example.com", b"server-secret", **kwargs)


def answer(challenge: Challenge, *, user="alice", password="secret", nc=1, **kwargs) -> Credentials:
    kwargs.setdefault("method", "REGISTER")
    kwargs.setdefault("uri", "sip:example.com")
    return build_authorization(
        challenge, username=user, password=password, cnonce="cn", nc=nc, **kwargs
    )


def verify(server: DigestServer, credentials: Credentials, now: float, **kwargs):
    kwargs.setdefault("method", "REGISTER")
    return server.verify(credentials, password_lookup=USERS.get, now=now, **kwargs)


def forge_timestamp(nonce: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4)))
    raw[0] ^= 0x01  # shift the issue time; the HMAC no longer matches
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


SERVER_CASES = [
    pytest.param(lambda ch: answer(ch), 10.0, VerifyStatus.OK, id="ok"),
    pytest.param(
        lambda ch: answer(ch, password="guess"),
        10.0,
        VerifyStatus.BAD_RESPONSE,
        id="wrong-password",
    ),
    pytest.param(
        lambda ch: answer(ch, user="mallory"), 10.0, VerifyStatus.UNKNOWN_USER, id="unknown-user"
    ),
    pytest.param(lambda ch: answer(ch), 10.0 + LIFETIME + 1, VerifyStatus.STALE, id="stale"),
    pytest.param(
        lambda ch: answer(ch), 10.0 + LIFETIME, VerifyStatus.OK, id="at-lifetime-still-ok"
    ),
    pytest.param(
        lambda ch: answer(ch, password="guess"),
        10.0 + LIFETIME + 1,
        VerifyStatus.BAD_RESPONSE,
        id="old-nonce-wrong-password-is-not-stale",
    ),
    pytest.param(
        lambda ch: answer(
            Challenge(realm=ch.realm, nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop=ch.qop)
        ),
        10.0,
        VerifyStatus.BAD_NONCE,
        id="foreign-nonce",
    ),
    pytest.param(
        lambda ch: answer(Challenge(realm=ch.realm, nonce=forge_timestamp(ch.nonce), qop=ch.qop)),
        10.0,
        VerifyStatus.BAD_NONCE,
        id="forged-timestamp",
    ),
    pytest.param(
        lambda ch: answer(Challenge(realm=ch.realm, nonce="nönce", qop=ch.qop)),
        10.0,
        VerifyStatus.BAD_NONCE,
        id="non-ascii-nonce",
    ),
    pytest.param(
        lambda ch: answer(
            DigestServer("example.com", b"other-secret").challenge(0.0), password="secret"
        ),
        10.0,
        VerifyStatus.BAD_NONCE,
        id="other-servers-nonce",
    ),
    pytest.param(
        lambda ch: answer(Challenge(realm="elsewhere", nonce=ch.nonce, qop=ch.qop)),
        10.0,
        VerifyStatus.REALM_MISMATCH,
        id="realm-mismatch",
    ),
    pytest.param(
        lambda ch: answer(
            Challenge(realm=ch.realm, nonce=ch.nonce, algorithm="SHA-256", qop=ch.qop)
        ),
        10.0,
        VerifyStatus.UNSUPPORTED,
        id="algorithm-not-offered",
    ),
    pytest.param(
        lambda ch: answer(Challenge(realm=ch.realm, nonce=ch.nonce)),
        10.0,
        VerifyStatus.UNSUPPORTED,
        id="qop-downgrade",
    ),
    pytest.param(
        lambda ch: answer(ch, method="INVITE"), 10.0, VerifyStatus.BAD_RESPONSE, id="other-method"
    ),
]


@pytest.mark.parametrize(("make_credentials", "now", "status"), SERVER_CASES)
def test_server_verify(make_credentials, now: float, status: VerifyStatus) -> None:
    server = make_server()
    challenge = server.challenge(10.0)
    # Over the wire and back, as a real request would carry it.
    credentials = Credentials.parse(make_credentials(challenge).to_header())
    result = verify(server, credentials, now)
    assert result.status is status, result.reason
    assert result.ok is (status is VerifyStatus.OK)
    assert result.username == credentials.username


def test_server_nc_replay() -> None:
    server = make_server()
    challenge = server.challenge(0.0)
    statuses = [verify(server, answer(challenge, nc=nc), 1.0).status for nc in (1, 2, 2, 1, 5)]
    assert statuses == [
        VerifyStatus.OK,
        VerifyStatus.OK,
        VerifyStatus.NC_REPLAY,
        VerifyStatus.NC_REPLAY,
        VerifyStatus.OK,
    ]


def test_server_remembers_a_bounded_number_of_nonce_counts() -> None:
    """Past ``nonce_counts`` the oldest count is forgotten; its nonce then answers stale
    (a fresh challenge), never OK: forgetting must not reopen a replay."""
    server = make_server(nonce_counts=100)
    challenges = [server.challenge(float(n) / 1000) for n in range(1000)]
    assert all(verify(server, answer(ch), 2.0).ok for ch in challenges)
    assert len(server._highest_nc) == 100
    replayed = [verify(server, answer(ch), 2.0).status for ch in challenges]
    assert replayed[:900] == [VerifyStatus.STALE] * 900  # forgotten: challenged again
    assert replayed[900:] == [VerifyStatus.NC_REPLAY] * 100  # remembered: a replay
    assert verify(server, answer(server.challenge(3.0)), 3.0).ok  # new nonces work


def test_server_nonces_are_distinct_at_the_same_time() -> None:
    server = make_server()
    first, second = server.challenge(5.0), server.challenge(5.0)
    assert first.nonce != second.nonce
    # So two clients answering with nc=1 at once are not replays of each other.
    assert verify(server, answer(first), 6.0).ok
    assert verify(server, answer(second, user="bob", password="hunter2"), 6.0).ok


def test_server_stale_challenge_header() -> None:
    header = make_server().challenge(0.0, stale=True).to_header()
    assert "stale=TRUE" in header and Challenge.parse(header).stale


def test_server_auth_int_covers_the_body() -> None:
    server = make_server(qop=("auth-int",))
    challenge = server.challenge(0.0)
    credentials = answer(challenge, method="MESSAGE", body=b"hello")
    assert credentials.qop == "auth-int"
    assert verify(server, credentials, 1.0, method="MESSAGE", body=b"hello").ok
    tampered = verify(
        server,
        answer(challenge, nc=2, method="MESSAGE", body=b"hello"),
        1.0,
        method="MESSAGE",
        body=b"HELLO",
    )
    assert tampered.status is VerifyStatus.BAD_RESPONSE


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("qop", [("auth",), ("auth-int",), ()], ids=["auth", "auth-int", "none"])
def test_every_algorithm_and_qop_end_to_end(algorithm: str, qop: tuple[str, ...]) -> None:
    server = make_server(algorithms=(algorithm,), qop=qop)
    challenge = Challenge.parse(server.challenge(0.0).to_header())
    credentials = Credentials.parse(answer(challenge, method="INVITE", body=b"v=0").to_header())
    result = verify(server, credentials, 1.0, method="INVITE", body=b"v=0")
    assert result.ok, result.reason


@pytest.mark.parametrize(
    "kwargs",
    [{"algorithms": ()}, {"algorithms": ("AKAv1-MD5",)}, {"qop": ("auth-conf",)}],
)
def test_server_refuses_bad_configuration(kwargs) -> None:
    with pytest.raises(LocalProtocolError):
        make_server(**kwargs)


def test_server_refuses_empty_secret() -> None:
    with pytest.raises(LocalProtocolError):
        DigestServer("example.com", b"")


# ---------------------------------------------------------------------------------------
# Client and server together
# ---------------------------------------------------------------------------------------


def test_sha256_registration_with_stale_refresh_end_to_end() -> None:
    """REGISTER, 401 (SHA-256 and MD5 offered), retry, 200; a refresh after the nonce
    lifetime reuses the cached nonce, gets 401 stale=true, retries without a prompt, 200."""
    server = make_server(algorithms=("SHA-256", "MD5"))
    client = DigestClient("alice", "secret")
    headers = [c.to_header() for c in server.challenges(0.0)]  # one header per challenge

    client.start_request()
    decision = client.on_challenge(Challenge.parse(h) for h in headers)
    assert decision.retry and decision.challenge.algorithm == "SHA-256"
    cached = decision.challenge
    sent = client.authorize(cached, method="REGISTER", uri="sip:example.com", cnonce="a1")
    assert verify(server, Credentials.parse(sent.to_header()), 1.0).ok

    # Refresh at t=100: credentials for the cached nonce, nc=2, are right but stale.
    client.start_request()
    sent = client.authorize(cached, method="REGISTER", uri="sip:example.com", cnonce="a2")
    assert sent.nc == 2
    result = verify(server, sent, 100.0)
    assert result.status is VerifyStatus.STALE
    stale = server.challenges(100.0, stale=True)
    decision = client.on_challenge(Challenge.parse(c.to_header()) for c in stale)
    assert decision.retry, decision.reason
    sent = client.authorize(
        decision.challenge, method="REGISTER", uri="sip:example.com", cnonce="a3"
    )
    assert sent.nc == 1
    assert verify(server, sent, 101.0).ok


def test_wrong_password_end_to_end_gives_up_after_one_try() -> None:
    server = make_server()
    client = DigestClient("alice", "wrong")
    client.start_request()
    decision = client.on_challenge([server.challenge(0.0)])
    assert decision.retry
    sent = client.authorize(
        decision.challenge, method="REGISTER", uri="sip:example.com", cnonce="x"
    )
    assert verify(server, sent, 1.0).status is VerifyStatus.BAD_RESPONSE
    decision = client.on_challenge([server.challenge(1.0)])  # a plain 401, not stale
    assert decision.verdict is ChallengeVerdict.CREDENTIALS_REJECTED
