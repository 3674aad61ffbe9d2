"""HTTP Digest authentication for SIP (RFC 3261 §22): the header values and the arithmetic.

RFC 3261 §22 reuses HTTP Digest (RFC 2617); RFC 8760 adds SHA-256 and SHA-512-256 to SIP
by reference to RFC 7616. The three modules are sans-IO:

* this one holds the auth header *values* (what follows ``WWW-Authenticate:``,
  ``Proxy-Authenticate:``, ``Authorization:`` or ``Proxy-Authorization:``) as
  :class:`Challenge` and :class:`Credentials`, each with ``parse()`` and ``to_header()``,
  and the arithmetic: :func:`compute_response`;
* :mod:`._digest_client`: :func:`choose_challenge`, :func:`build_authorization` and
  :class:`DigestClient`, which says whether a 401/407 that answers our credentials means
  "retry with the new nonce" or "wrong password, stop";
* :mod:`._digest_server`: :class:`DigestServer`, with stateless HMAC nonces and a
  :class:`VerifyResult`.

Nothing here reads a clock or draws a random number: ``now`` and ``cnonce`` are arguments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ._errors import LocalProtocolError, RemoteProtocolError
from ._grammar import TOKEN_CHARS, is_token, quote, read_quoted

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
STRENGTH = {"SHA-512-256": 3, "SHA-256": 2, "MD5": 1}
QOPS = ("auth", "auth-int")  # in the client's order of preference

_T = TypeVar("_T")


def base_algorithm(algorithm: str) -> str:
    """``SHA-256-sess`` -> ``SHA-256``."""
    return algorithm[: -len("-sess")] if algorithm.endswith("-sess") else algorithm


def canonical_algorithm(name: str) -> str:
    # Algorithm names compare case-insensitively; unknown names are kept as given.
    return _CANONICAL.get(name.upper(), name)


def _h(algorithm: str, data: bytes) -> str:
    return hashlib.new(_HASHLIB[base_algorithm(algorithm)], data).hexdigest()


def pick_qop(options: tuple[str, ...]) -> str | None:
    """The qop to answer with: "auth" first, as it works whatever the body."""
    return next((qop for qop in QOPS if qop in options), None)


def utf8(text: str) -> bytes:
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
    algorithm = canonical_algorithm(algorithm)
    if algorithm not in ALGORITHMS:
        raise LocalProtocolError(f"Unsupported digest algorithm {algorithm!r}")
    if qop is not None and qop not in QOPS:
        raise LocalProtocolError(f"Unsupported qop {qop!r}")
    if qop is not None and (nc is None or not cnonce):
        raise LocalProtocolError(f"With qop={qop}, nc and cnonce are required")
    # RFC 7616 §3.4.2: A1 = user:realm:pass, or for -sess H(user:realm:pass):nonce:cnonce.
    ha1 = _h(algorithm, utf8(f"{username}:{realm}:{password}"))
    if algorithm.endswith("-sess"):
        if not cnonce:
            raise LocalProtocolError(f"Algorithm {algorithm} needs a cnonce")
        ha1 = _h(algorithm, utf8(f"{ha1}:{nonce}:{cnonce}"))
    # RFC 7616 §3.4.3: A2 = method:uri, or for auth-int method:uri:H(entity-body).
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + _h(algorithm, body)
    ha2 = _h(algorithm, utf8(a2))
    # RFC 7616 §3.4.1 (qop) / RFC 2617 §3.2.2.1 (RFC 2069 compatibility, no qop).
    if qop is None:
        data = f"{nonce}:{ha2}"
    else:
        data = f"{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}"
    return _h(algorithm, utf8(f"{ha1}:{data}"))


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


def _check_extra(extra: tuple[tuple[str, ...], ...], known: frozenset[str]) -> None:
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
        algorithm = canonical_algorithm(self.algorithm)
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
        qop_ok = not self.qop or pick_qop(self.qop) is not None
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
        algorithm = canonical_algorithm(self.algorithm)
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


__all__ = [
    "ALGORITHMS",
    "QOPS",
    "STRENGTH",
    "Challenge",
    "Credentials",
    "base_algorithm",
    "canonical_algorithm",
    "compute_response",
    "pick_qop",
    "utf8",
]
