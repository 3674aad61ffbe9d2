"""HTTP Digest authentication for SIP, client and server side, sans-IO.

RFC 3261 §22 reuses HTTP Digest (RFC 2617); RFC 8760 adds SHA-256 and SHA-512-256 to SIP
by reference to RFC 7616. This module holds:

* the auth header *values* (what follows ``WWW-Authenticate:``, ``Proxy-Authenticate:``,
  ``Authorization:`` or ``Proxy-Authorization:``) as :class:`Challenge` and
  :class:`Credentials`, each with ``parse()`` and ``to_header()``;
* the arithmetic: :func:`compute_response`;
* the client: :func:`choose_challenge`, :func:`build_authorization` and
  :class:`DigestClient`, which says whether a 401/407 that answers our credentials means
  "retry with the new nonce" or "wrong password, stop";
* the server: :class:`DigestServer`, with stateless HMAC nonces and a :class:`VerifyResult`.

Nothing here reads a clock or draws a random number: ``now`` and ``cnonce`` are arguments.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from ._errors import LocalProtocolError, RemoteProtocolError
from ._grammar import TOKEN_CHARS, is_token, quote, read_quoted

__all__ = [
    "ALGORITHMS",
    "Challenge",
    "ChallengeDecision",
    "ChallengeVerdict",
    "Credentials",
    "DigestClient",
    "DigestServer",
    "VerifyResult",
    "VerifyStatus",
    "build_authorization",
    "choose_challenge",
    "compute_response",
]

# ---------------------------------------------------------------------------------------
# Algorithms
# ---------------------------------------------------------------------------------------

# The IANA registry names (RFC 7616 §6.1), which RFC 8760 brings to SIP, as spelled there.
ALGORITHMS: tuple[str, ...] = (
    "MD5",
    "MD5-sess",
    "SHA-256",
    "SHA-256-sess",
    "SHA-512-256",
    "SHA-512-256-sess",
)
_CANONICAL = {name.upper(): name for name in ALGORITHMS}
# hashlib names. SHA-512-256 is SHA-512/256 of FIPS 180-4 (own initial values), not a
# truncated SHA-512.
_HASHLIB = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}
# Client policy: the strongest algorithm offered wins (see choose_challenge).
_STRENGTH = {"SHA-512-256": 3, "SHA-256": 2, "MD5": 1}
_QOPS = ("auth", "auth-int")  # in the client's order of preference

_T = TypeVar("_T")


def _base(algorithm: str) -> str:
    """``SHA-256-sess`` -> ``SHA-256``."""
    return algorithm[: -len("-sess")] if algorithm.endswith("-sess") else algorithm


def _canonical_algorithm(name: str) -> str:
    # Algorithm names compare case-insensitively; unknown names are kept as given.
    return _CANONICAL.get(name.upper(), name)


def _h(algorithm: str, data: bytes) -> str:
    return hashlib.new(_HASHLIB[_base(algorithm)], data).hexdigest()


def _utf8(text: str) -> bytes:
    # SIP is UTF-8 throughout (RFC 3261 §7.3.1); RFC 7616 §4 (charset=UTF-8) agrees. The
    # message parser decodes with surrogateescape, so invalid bytes hash as they were sent
    # instead of raising.
    return text.encode("utf-8", "surrogateescape")


def compute_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: int | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` value (lower-case hex) for these inputs.

    ``qop=None`` is the RFC 2069 legacy form ``KD(H(A1), nonce ":" H(A2))``; ``"auth"``
    and ``"auth-int"`` add ``nc`` and ``cnonce`` (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1).
    ``body`` only counts for ``auth-int``. Raises :class:`LocalProtocolError` on an
    unsupported algorithm or qop, or missing ``nc``/``cnonce``.
    """
    algorithm = _canonical_algorithm(algorithm)
    if algorithm not in ALGORITHMS:
        raise LocalProtocolError(f"Unsupported digest algorithm {algorithm!r}")
    if qop is not None and qop not in _QOPS:
        raise LocalProtocolError(f"Unsupported qop {qop!r}")
    if qop is not None and (nc is None or not cnonce):
        raise LocalProtocolError(f"With qop={qop}, nc and cnonce are required")
    # RFC 7616 §3.4.2: A1 = user:realm:pass, or for -sess H(user:realm:pass):nonce:cnonce.
    ha1 = _h(algorithm, _utf8(f"{username}:{realm}:{password}"))
    if algorithm.endswith("-sess"):
        if not cnonce:
            raise LocalProtocolError(f"Algorithm {algorithm} needs a cnonce")
        ha1 = _h(algorithm, _utf8(f"{ha1}:{nonce}:{cnonce}"))
    # RFC 7616 §3.4.3: A2 = method:uri, or for auth-int method:uri:H(entity-body).
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + _h(algorithm, body)
    ha2 = _h(algorithm, _utf8(a2))
    # RFC 7616 §3.4.1 (qop) / RFC 2617 §3.2.2.1 (RFC 2069 compatibility, no qop).
    if qop is None:
        data = f"{nonce}:{ha2}"
    else:
        data = f"{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}"
    return _h(algorithm, _utf8(f"{ha1}:{data}"))


# ---------------------------------------------------------------------------------------
# Header values: one tolerant parser, one serialiser
# ---------------------------------------------------------------------------------------

# Lexical pieces (token, quoted-string) come from the one SIP grammar module. Our blanks
# also take CR and LF, so a folded value that reaches us unfolded-by-nobody still parses.
_WS = " \t\r\n"


def _param(name: str, value: str) -> str:
    return f"{name}={value if is_token(value) else quote(value)}"


def _parse_auth_value(value: str) -> tuple[str, dict[str, str]]:
    """Split ``Scheme name=value, name="quoted, value"`` into (scheme, params).

    Tolerant where peers differ (whitespace and line folding around ``=`` and ``,``, empty
    list elements, either quoting for any param, unquoted values beyond the token
    alphabet such as base64 nonces); strict where the meaning would be a guess. Param
    names are lower-cased. Each failure raises RemoteProtocolError naming what is wrong.
    """
    n = len(value)
    i = 0

    def skip(chars: str) -> None:
        nonlocal i
        while i < n and value[i] in chars:
            i += 1

    def token() -> str:
        nonlocal i
        start = i
        while i < n and value[i] in TOKEN_CHARS:
            i += 1
        return value[start:i]

    skip(_WS)
    if i == n:
        raise RemoteProtocolError("Empty authentication header value")
    scheme = token()
    if not scheme:
        raise RemoteProtocolError(f"Expected an auth scheme, found {value[i]!r}")
    if i < n and value[i] not in _WS:
        raise RemoteProtocolError(f"Unexpected {value[i]!r} after auth scheme {scheme[:40]!r}")

    params: dict[str, str] = {}
    while True:
        skip(_WS + ",")  # RFC 7230 §7: empty list elements are tolerated
        if i == n:
            break
        name = token()
        if not name:
            raise RemoteProtocolError(f"Expected an auth-param name, found {value[i]!r}")
        skip(_WS)
        if i == n or value[i] != "=":
            raise RemoteProtocolError(f"Auth-param {name[:40]!r} has no '='")
        i += 1
        skip(_WS)
        if i < n and value[i] == '"':
            try:
                param_value, i = read_quoted(value, i)
            except RemoteProtocolError:
                raise RemoteProtocolError(f"Unterminated quoted-string in {name[:40]!r}") from None
        else:
            start = i
            while i < n and value[i] not in _WS + ',"':
                i += 1
            param_value = value[start:i]
            if i < n and value[i] == '"':
                raise RemoteProtocolError(f"Stray '\"' in the value of {name[:40]!r}")
            if not param_value:
                raise RemoteProtocolError(f"Auth-param {name[:40]!r} has an empty value")
        key = name.lower()
        if key in params:
            # RFC 7235 §2.1: each parameter name MUST only occur once per challenge.
            raise RemoteProtocolError(f"Duplicate auth-param {key[:40]!r}")
        params[key] = param_value
        skip(_WS)
        if i < n and value[i] != ",":
            raise RemoteProtocolError(
                f"Expected ',' after auth-param {name[:40]!r}, found {value[i]!r}"
            )
    if scheme.lower() != "digest":
        raise RemoteProtocolError(f"Unsupported auth scheme {scheme[:40]!r} (only Digest)")
    return scheme, params


def _check_text(field: str, text: str | None) -> None:
    # A CR or LF would end the header line when serialised: refuse it at construction.
    if text is not None and ("\r" in text or "\n" in text):
        raise LocalProtocolError(f"Field {field!r} contains CR or LF")


def _check_extra(extra: tuple[tuple[str, str], ...], known: frozenset[str]) -> None:
    names = set()
    for name, value in extra:
        if not is_token(name) or name != name.lower():
            raise LocalProtocolError(f"Extra auth-param {name[:40]!r} is not a lower-case token")
        if name in known or name in names:
            raise LocalProtocolError(f"Extra auth-param {name[:40]!r} duplicates another param")
        names.add(name)
        _check_text(name, value)


def _from_remote(build: Callable[[], _T]) -> _T:
    # Validation lives in __post_init__ and raises LocalProtocolError; a value that came
    # off the wire is the peer's fault.
    try:
        return build()
    except LocalProtocolError as exc:
        raise RemoteProtocolError(exc.reason) from None


# ---------------------------------------------------------------------------------------
# Challenge (WWW-Authenticate / Proxy-Authenticate)
# ---------------------------------------------------------------------------------------

_CHALLENGE_PARAMS = frozenset({"realm", "nonce", "algorithm", "qop", "opaque", "stale", "domain"})


@dataclass(frozen=True)
class Challenge:
    """A Digest challenge: the value of ``WWW-Authenticate`` or ``Proxy-Authenticate``.

    ``qop`` holds the offered qop-options, lower-cased (empty: RFC 2069 legacy server).
    ``algorithm`` is canonicalised (``sha-256`` -> ``SHA-256``); an unknown one is kept,
    see :attr:`supported`. ``extra`` keeps unknown params as (lower-case name, value).
    """

    realm: str
    nonce: str
    algorithm: str = "MD5"  # RFC 2617 §3.2.1: absent means MD5
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None
    extra: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.nonce:
            raise LocalProtocolError("Challenge has an empty nonce")
        for field in ("realm", "nonce", "opaque", "domain"):
            _check_text(field, getattr(self, field))
        algorithm = _canonical_algorithm(self.algorithm)
        if not is_token(algorithm):
            raise LocalProtocolError(f"Algorithm {algorithm!r} is not a token")
        qop = tuple(option.lower() for option in self.qop)
        for option in qop:
            if not is_token(option):
                raise LocalProtocolError(f"Qop option {option!r} is not a token")
        extra = tuple(tuple(pair) for pair in self.extra)
        _check_extra(extra, _CHALLENGE_PARAMS)
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "qop", qop)
        object.__setattr__(self, "extra", extra)

    @classmethod
    def parse(cls, value: str) -> Challenge:
        """Parse a header value; raise :class:`RemoteProtocolError` if it is malformed."""
        _, params = _parse_auth_value(value)
        for required in ("realm", "nonce"):
            if required not in params:
                raise RemoteProtocolError(f"Digest challenge lacks {required!r}")
        qop = params.get("qop")
        return _from_remote(
            lambda: cls(
                realm=params["realm"],
                nonce=params["nonce"],
                algorithm=params.get("algorithm", "MD5"),
                # RFC 2617 §3.2.1: qop-options is a quoted, comma-separated list.
                qop=tuple(o.strip() for o in qop.split(",") if o.strip()) if qop else (),
                opaque=params.get("opaque"),
                # RFC 2617 §3.2.1: anything but "true" (any case) is false.
                stale=params.get("stale", "").lower() == "true",
                domain=params.get("domain"),
                extra=tuple((k, v) for k, v in params.items() if k not in _CHALLENGE_PARAMS),
            )
        )

    @property
    def supported(self) -> bool:
        """True if :func:`build_authorization` can answer this challenge."""
        # No qop at all is the RFC 2069 legacy form, which we answer.
        qop_ok = not self.qop or _pick_qop(self.qop) is not None
        return self.algorithm in ALGORITHMS and qop_ok

    def to_header(self) -> str:
        """The header value, e.g. ``Digest realm="x", nonce="y", algorithm=MD5``."""
        parts = [f"realm={quote(self.realm)}"]
        if self.domain is not None:
            parts.append(f"domain={quote(self.domain)}")
        parts.append(f"nonce={quote(self.nonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        if self.stale:
            parts.append("stale=TRUE")
        parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f"qop={quote(','.join(self.qop))}")
        parts.extend(_param(name, value) for name, value in self.extra)
        return "Digest " + ", ".join(parts)

    __str__ = to_header


# ---------------------------------------------------------------------------------------
# Credentials (Authorization / Proxy-Authorization)
# ---------------------------------------------------------------------------------------

_CREDENTIAL_PARAMS = frozenset(
    {"username", "realm", "nonce", "uri", "response", "algorithm", "cnonce", "nc", "qop", "opaque"}
)


@dataclass(frozen=True)
class Credentials:
    """Digest credentials: the value of ``Authorization`` or ``Proxy-Authorization``.

    ``nc`` is the nonce count as a number (sent as 8 hex digits). ``qop`` given means
    ``cnonce`` and ``nc`` are too (RFC 2617 §3.2.2). ``cnonce`` without ``qop`` appears
    only with a ``-sess`` algorithm answering a legacy challenge.
    """

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    cnonce: str | None = None
    nc: int | None = None
    qop: str | None = None
    opaque: str | None = None
    extra: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for field in ("username", "realm", "nonce", "uri", "response", "cnonce", "opaque"):
            _check_text(field, getattr(self, field))
        algorithm = _canonical_algorithm(self.algorithm)
        if not is_token(algorithm):
            raise LocalProtocolError(f"Algorithm {algorithm!r} is not a token")
        qop = self.qop.lower() if self.qop is not None else None
        if qop is not None and not is_token(qop):
            raise LocalProtocolError(f"Message qop {qop!r} is not a token")
        if self.nc is not None and not 0 < self.nc <= 0xFFFFFFFF:
            raise LocalProtocolError(f"Nonce count {self.nc} is out of range 1..0xffffffff")
        if qop is not None and (self.nc is None or not self.cnonce):
            # RFC 2617 §3.2.2: with qop, cnonce and nc MUST be present.
            raise LocalProtocolError(f"With qop={qop}, nc and cnonce are required")
        extra = tuple(tuple(pair) for pair in self.extra)
        _check_extra(extra, _CREDENTIAL_PARAMS)
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "qop", qop)
        object.__setattr__(self, "extra", extra)

    @classmethod
    def parse(cls, value: str) -> Credentials:
        """Parse a header value; raise :class:`RemoteProtocolError` if it is malformed."""
        _, params = _parse_auth_value(value)
        for required in ("username", "realm", "nonce", "uri", "response"):
            if required not in params:
                raise RemoteProtocolError(f"Digest credentials lack {required!r}")
        nc_text = params.get("nc")
        nc = None
        if nc_text is not None:
            # RFC 3261 §25.1: nc-value = 8LHEX. The digest hashes the text as sent, so an
            # nc we would re-serialise differently cannot be verified: refuse it here.
            if len(nc_text) != 8 or any(c not in "0123456789abcdef" for c in nc_text):
                shown = nc_text[:40]
                raise RemoteProtocolError(f"Nonce count {shown!r} is not 8 lower-case hex digits")
            nc = int(nc_text, 16)
        return _from_remote(
            lambda: cls(
                username=params["username"],
                realm=params["realm"],
                nonce=params["nonce"],
                uri=params["uri"],
                response=params["response"],
                algorithm=params.get("algorithm", "MD5"),
                cnonce=params.get("cnonce"),
                nc=nc,
                qop=params.get("qop"),
                opaque=params.get("opaque"),
                extra=tuple((k, v) for k, v in params.items() if k not in _CREDENTIAL_PARAMS),
            )
        )

    def to_header(self) -> str:
        """The header value, e.g. ``Digest username="bob", realm="x", ...``."""
        parts = [
            f"username={quote(self.username)}",
            f"realm={quote(self.realm)}",
            f"nonce={quote(self.nonce)}",
            f"uri={quote(self.uri)}",
            f"response={quote(self.response)}",
            f"algorithm={self.algorithm}",
        ]
        if self.cnonce is not None:
            parts.append(f"cnonce={quote(self.cnonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        # RFC 3261 §25.1: message-qop and nonce-count are unquoted tokens.
        if self.qop is not None:
            parts.append(f"qop={self.qop}")
        if self.nc is not None:
            parts.append(f"nc={self.nc:08x}")
        parts.extend(_param(name, value) for name, value in self.extra)
        return "Digest " + ", ".join(parts)

    __str__ = to_header


# ---------------------------------------------------------------------------------------
# Client side
# ---------------------------------------------------------------------------------------


def _pick_qop(options: tuple[str, ...]) -> str | None:
    """The qop to answer with: "auth" first, as it works whatever the body."""
    return next((qop for qop in _QOPS if qop in options), None)


def choose_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """The challenge to answer among those of one 401/407, or None if none is usable.

    Strongest algorithm first: SHA-512-256 > SHA-256 > MD5; among equals, the server's
    order (the first listed wins). RFC 8760 §2.3-2.4 has the UAS list its challenges most
    preferred first and the UAC take the topmost it supports "unless a local policy
    dictates otherwise": with a well-behaved server both rules pick the same; with one
    that lists MD5 first, ours still picks the stronger. Challenges with an unknown
    algorithm or only unknown qop options are skipped.
    """
    usable = [c for c in challenges if c.supported]
    if not usable:
        return None
    # max() returns the first of equal keys, so the server's order breaks ties.
    return max(usable, key=lambda c: _STRENGTH[_base(c.algorithm)])


def build_authorization(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str,
    nc: int = 1,
    body: bytes = b"",
) -> Credentials:
    """Answer ``challenge`` for a request ``method uri`` (with ``body`` for auth-int).

    Pure: the caller supplies ``cnonce`` (RFC 7616 §3.4: an opaque, unpredictable string)
    and ``nc`` (how many requests this nonce has signed, 1 first). Uses qop=auth when
    offered, else auth-int, else the RFC 2069 form. Raises :class:`LocalProtocolError`
    if the challenge is not :attr:`~Challenge.supported` (check with
    :func:`choose_challenge` first).
    """
    if not challenge.supported:
        raise LocalProtocolError(
            f"Cannot answer challenge: algorithm {challenge.algorithm!r}, "
            f"qop {','.join(challenge.qop) or '(none)'}"
        )
    qop = _pick_qop(challenge.qop)
    # With qop, cnonce and nc go with it (RFC 2617 §3.2.2). Without qop RFC 2617 forbids
    # cnonce, yet -sess needs it in A1 (§3.2.2.2); we send it, as curl and pjsip do.
    sends_cnonce = qop is not None or challenge.algorithm.endswith("-sess")
    response = compute_response(
        algorithm=challenge.algorithm,
        username=username,
        realm=challenge.realm,
        password=password,
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        qop=qop,
        nc=nc if qop is not None else None,
        cnonce=cnonce if sends_cnonce else None,
        body=body,
    )
    return Credentials(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=challenge.algorithm,
        cnonce=cnonce if sends_cnonce else None,
        nc=nc if qop is not None else None,
        qop=qop,
        opaque=challenge.opaque,  # RFC 2617 §3.2.2: returned unchanged
    )


class ChallengeVerdict(enum.Enum):
    """What a client should do with a 401/407."""

    RETRY = "retry"  # answer ChallengeDecision.challenge and resend
    CREDENTIALS_REJECTED = "credentials-rejected"  # wrong username or password: stop
    NO_USABLE_CHALLENGE = "no-usable-challenge"  # no algorithm/qop we support: stop
    TOO_MANY_STALE = "too-many-stale"  # stale=true again and again: stop


@dataclass(frozen=True)
class ChallengeDecision:
    """The verdict on one 401/407, the challenge to answer if any, and why."""

    verdict: ChallengeVerdict
    challenge: Challenge | None
    reason: str

    @property
    def retry(self) -> bool:
        """True if the request should be resent with credentials for :attr:`challenge`."""
        return self.verdict is ChallengeVerdict.RETRY


class DigestClient:
    """One user's Digest state in a UA: nonce counts, and what was already answered.

    No I/O, no clock, no randomness. For each new request call :meth:`start_request`;
    for each 401/407 it draws call :meth:`on_challenge` with the response's challenges
    and, if the decision says retry, :meth:`authorize` to build the credentials.

    Loop guard (RFC 2617 §3.2.1 and RFC 7616 §3.3, "stale"): within one request, a second
    challenge for a realm already answered means the credentials were rejected, unless it
    carries ``stale=true`` (the nonce expired, the password was right): then retry
    without asking the user, at most ``max_stale_retries`` times in a row.
    A challenge met after credentials *reused* from an earlier request is answered once.
    """

    def __init__(self, username: str, password: str, *, max_stale_retries: int = 2) -> None:
        self.username = username
        self.password = password
        self.max_stale_retries = max_stale_retries
        # realm -> (nonce, last nc used). One live nonce per realm: a new nonce replaces it.
        self._nonce_counts: dict[str, tuple[str, int]] = {}
        # Per request: realm -> nonce answered, and stale re-challenges seen per realm.
        self._answered: dict[str, str] = {}
        self._stale: dict[str, int] = {}

    def start_request(self) -> None:
        """Forget what this request answered; call before each new (not resent) request."""
        self._answered.clear()
        self._stale.clear()

    def on_challenge(self, challenges: Iterable[Challenge]) -> ChallengeDecision:
        """Decide what to do with the challenges of one 401/407 response."""
        challenges = list(challenges)
        chosen = choose_challenge(challenges)
        if chosen is None:
            offered = ", ".join(f"{c.algorithm}/{','.join(c.qop) or '-'}" for c in challenges)
            return ChallengeDecision(
                ChallengeVerdict.NO_USABLE_CHALLENGE,
                None,
                f"no supported Digest challenge (offered: {offered or 'none'})",
            )
        realm = chosen.realm
        previous = self._answered.get(realm)
        if previous is None:
            reason = f"challenged for realm {realm!r}"
        elif not chosen.stale:
            nonce = "the same nonce" if chosen.nonce == previous else "a new nonce"
            return ChallengeDecision(
                ChallengeVerdict.CREDENTIALS_REJECTED,
                chosen,
                f"realm {realm!r} re-challenged with {nonce} and no stale=true: "
                "wrong username or password",
            )
        else:
            self._stale[realm] = self._stale.get(realm, 0) + 1
            if self._stale[realm] > self.max_stale_retries:
                return ChallengeDecision(
                    ChallengeVerdict.TOO_MANY_STALE,
                    chosen,
                    f"realm {realm!r} answered stale=true {self._stale[realm]} times in a row",
                )
            reason = f"nonce for realm {realm!r} was stale"
        self._answered[realm] = chosen.nonce
        return ChallengeDecision(ChallengeVerdict.RETRY, chosen, reason)

    def authorize(
        self, challenge: Challenge, *, method: str, uri: str, cnonce: str, body: bytes = b""
    ) -> Credentials:
        """Credentials for ``challenge``, counting its nonce up (RFC 7616 §3.4: nc)."""
        nonce, used = self._nonce_counts.get(challenge.realm, (challenge.nonce, 0))
        nc = used + 1 if nonce == challenge.nonce else 1
        self._nonce_counts[challenge.realm] = (challenge.nonce, nc)
        return build_authorization(
            challenge,
            username=self.username,
            password=self.password,
            method=method,
            uri=uri,
            cnonce=cnonce,
            nc=nc,
            body=body,
        )


# ---------------------------------------------------------------------------------------
# Server side
# ---------------------------------------------------------------------------------------


class VerifyStatus(enum.Enum):
    """The outcome of :meth:`DigestServer.verify`."""

    OK = "ok"
    STALE = "stale"  # right password, nonce too old: re-challenge with stale=true
    BAD_NONCE = "bad-nonce"  # not a nonce of ours (forged, other secret, garbled)
    BAD_RESPONSE = "bad-response"  # wrong password (or method/uri/body differ)
    UNKNOWN_USER = "unknown-user"
    REALM_MISMATCH = "realm-mismatch"
    NC_REPLAY = "nc-replay"  # nc not above the highest seen for this nonce
    UNSUPPORTED = "unsupported"  # algorithm or qop we did not offer


@dataclass(frozen=True)
class VerifyResult:
    """The status of a verification, the claimed username, and a one-line reason.

    Only ``OK`` admits the request. ``STALE`` calls for ``challenge(now, stale=True)``;
    everything else for a fresh challenge. Answer UNKNOWN_USER and BAD_RESPONSE alike on
    the wire: telling them apart is for the log, not for the peer.
    """

    status: VerifyStatus
    username: str
    reason: str

    @property
    def ok(self) -> bool:
        """True if the credentials are valid and fresh."""
        return self.status is VerifyStatus.OK


_NONCE_PAYLOAD = struct.Struct(">dQ")  # issue time, sequence number
_NONCE_MAC_SIZE = 16


class DigestServer:
    """A UAS/registrar's Digest policy for one realm, with stateless nonces.

    A nonce is ``base64url(time | seq | HMAC-SHA256(secret, realm | time | seq)[:16])``
    (RFC 7616 §3.3 suggests a time stamp and a private key), so any nonce can be checked
    without storing it. The only state is the highest ``nc`` seen per live nonce, for
    replay protection (RFC 2617 §3.2.2, nonce-count). ``algorithms`` are offered in order of
    preference; ``qop=()`` makes RFC 2069-style challenges (no replay protection).
    """

    def __init__(
        self,
        realm: str,
        secret: bytes,
        *,
        algorithms: Iterable[str] = ("MD5",),
        qop: Iterable[str] = ("auth",),
        nonce_lifetime: float = 300.0,
    ) -> None:
        self.realm = realm
        if not secret:
            raise LocalProtocolError("DigestServer needs a non-empty secret")
        self._secret = bytes(secret)
        self.algorithms = tuple(_canonical_algorithm(a) for a in algorithms)
        if not self.algorithms or any(a not in ALGORITHMS for a in self.algorithms):
            raise LocalProtocolError(f"Algorithms must be some of {ALGORITHMS}")
        self.qop = tuple(q.lower() for q in qop)
        if any(q not in _QOPS for q in self.qop):
            raise LocalProtocolError(f"Server qop must be some of {_QOPS}")
        self.nonce_lifetime = nonce_lifetime
        self._seq = 0
        self._highest_nc: dict[str, tuple[float, int]] = {}  # nonce -> (issued, nc)

    # -- nonces ---------------------------------------------------------------------

    def _mac(self, payload: bytes) -> bytes:
        message = _utf8(self.realm) + b"\0" + payload
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_NONCE_MAC_SIZE]

    def _make_nonce(self, now: float) -> str:
        self._seq += 1  # two challenges at the same `now` still get distinct nonces
        payload = _NONCE_PAYLOAD.pack(now, self._seq)
        raw = payload + self._mac(payload)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def _nonce_time(self, nonce: str) -> float | None:
        """The issue time of one of our nonces, or None if it is not ours."""
        try:
            raw = base64.b64decode(nonce + "=" * (-len(nonce) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):  # ValueError: non-ASCII text
            return None
        if len(raw) != _NONCE_PAYLOAD.size + _NONCE_MAC_SIZE:
            return None
        payload, mac = raw[: _NONCE_PAYLOAD.size], raw[_NONCE_PAYLOAD.size :]
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        issued, _ = _NONCE_PAYLOAD.unpack(payload)
        return issued

    # -- challenges -----------------------------------------------------------------

    def challenges(self, now: float, *, stale: bool = False) -> tuple[Challenge, ...]:
        """One challenge per algorithm, most preferred first, sharing one fresh nonce.

        RFC 8760 (UAS behaviour): each in its own WWW-Authenticate/Proxy-Authenticate
        header field, in this order.
        """
        nonce = self._make_nonce(now)
        return tuple(
            Challenge(realm=self.realm, nonce=nonce, algorithm=a, qop=self.qop, stale=stale)
            for a in self.algorithms
        )

    def challenge(self, now: float, *, stale: bool = False) -> Challenge:
        """A challenge with a fresh nonce in the most preferred algorithm."""
        nonce = self._make_nonce(now)
        return Challenge(
            realm=self.realm, nonce=nonce, algorithm=self.algorithms[0], qop=self.qop, stale=stale
        )

    # -- verification ---------------------------------------------------------------

    def verify(
        self,
        credentials: Credentials,
        *,
        method: str,
        password_lookup: Callable[[str], str | None],
        now: float,
        body: bytes = b"",
    ) -> VerifyResult:
        """Check ``credentials`` for a request with this ``method`` (and ``body``).

        ``password_lookup(username)`` returns the password, or None for no such user.
        The digest is computed over ``credentials.uri``; checking that it names the
        Request-URI (RFC 2617 §3.2.2.5) is left to the caller.
        """
        c = credentials

        def result(status: VerifyStatus, reason: str) -> VerifyResult:
            return VerifyResult(status, c.username, reason)

        if c.realm != self.realm:
            return result(
                VerifyStatus.REALM_MISMATCH, f"realm {c.realm!r}, expected {self.realm!r}"
            )
        if c.algorithm not in self.algorithms:
            return result(VerifyStatus.UNSUPPORTED, f"algorithm {c.algorithm!r} not offered")
        if c.qop not in (self.qop or (None,)):  # no qop is only fine if none was offered
            return result(VerifyStatus.UNSUPPORTED, f"qop {c.qop or '(none)'!r} not offered")
        issued = self._nonce_time(c.nonce)
        if issued is None:
            return result(VerifyStatus.BAD_NONCE, "nonce was not issued by this server")
        password = password_lookup(c.username)
        if password is None:
            return result(VerifyStatus.UNKNOWN_USER, f"no user {c.username!r}")
        if c.algorithm.endswith("-sess") and not c.cnonce:
            return result(VerifyStatus.BAD_RESPONSE, f"{c.algorithm} without cnonce")
        expected = compute_response(
            algorithm=c.algorithm,
            username=c.username,
            realm=self.realm,
            password=password,
            nonce=c.nonce,
            method=method,
            uri=c.uri,
            qop=c.qop,
            nc=c.nc,
            cnonce=c.cnonce,
            body=body,
        )
        if not hmac.compare_digest(_utf8(expected), _utf8(c.response.lower())):
            return result(VerifyStatus.BAD_RESPONSE, "response does not match: wrong password?")
        # Only now, with the digest right, may the answer be stale (RFC 2617 §3.2.1).
        if now - issued > self.nonce_lifetime:
            return result(VerifyStatus.STALE, f"nonce is {now - issued:.0f}s old")
        self._forget_expired(now)
        if c.nc is not None:  # RFC 2617 §3.2.2 (nonce-count): a repeated nc is a replay
            _, highest = self._highest_nc.get(c.nonce, (issued, 0))
            if c.nc <= highest:
                return result(
                    VerifyStatus.NC_REPLAY, f"nc {c.nc:08x} not above {highest:08x} for this nonce"
                )
            self._highest_nc[c.nonce] = (issued, c.nc)
        return result(VerifyStatus.OK, "authenticated")

    def _forget_expired(self, now: float) -> None:
        # An expired nonce answers STALE before the nc check, so its count can go.
        # Counts are kept in the order nonces were first verified, which is (nearly)
        # the order they were issued: drop from the oldest while they are expired, so
        # each verification costs O(1) however many users are registered. One kept a
        # little longer than needed is harmless: it still answers STALE first.
        expired = []
        for nonce, (issued, _) in self._highest_nc.items():
            if now - issued <= self.nonce_lifetime:
                break
            expired.append(nonce)
        for nonce in expired:
            del self._highest_nc[nonce]
