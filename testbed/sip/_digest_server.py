"""HTTP Digest for SIP, the server side: challenges with stateless nonces, verification.

:class:`DigestServer` issues HMAC-signed nonces (RFC 7616 §3.3), so that any nonce can
be checked without storing it, verifies :class:`Credentials` against a password look-up
(RFC 2617 §3.2.2), refuses replayed nonce counts and, given the Request-URI, a response
computed for another URI (RFC 7616 §3.4.6). ``now`` is an argument: no clock.
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

from ._digest import (
    ALGORITHMS,
    QOPS,
    Challenge,
    Credentials,
    canonical_algorithm,
    compute_response,
    utf8,
)
from ._errors import LocalProtocolError, RemoteProtocolError
from ._uri import Uri, parse_uri, uris_equal


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
    URI_MISMATCH = "uri-mismatch"  # digest uri is not the Request-URI: answer 400


@dataclass(frozen=True)
class VerifyResult:
    """The status of a verification, the claimed username, and a one-line reason.

    Only ``OK`` admits the request. ``STALE`` calls for ``challenge(now, stale=True)``;
    ``URI_MISMATCH`` for 400 Bad Request (RFC 7616 §3.4.6); everything else for a fresh
    challenge. Answer UNKNOWN_USER and BAD_RESPONSE alike on
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
NONCE_COUNTS_LIMIT = 10_000
"""Live nonces whose highest ``nc`` a :class:`DigestServer` remembers (about 200 bytes
each). Past it the oldest is forgotten, and every nonce issued no later than a forgotten
one answers ``stale`` (a fresh challenge, one more round trip) instead of risking a
replay: the bound Kamailio's fixed nonce-count array gives, shaped for us."""


class DigestServer:
    """A UAS/registrar's Digest policy for one realm, with stateless nonces.

    A nonce is ``base64url(time | seq | HMAC-SHA256(secret, realm | time | seq)[:16])``
    (RFC 7616 §3.3 suggests a time stamp and a private key), so any nonce can be checked
    without storing it. The only state is the highest ``nc`` seen per live nonce, for
    replay protection (RFC 2617 §3.2.2, nonce-count), for at most ``nonce_counts``
    nonces (:data:`NONCE_COUNTS_LIMIT`). ``algorithms`` are offered in order of
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
        nonce_counts: int = NONCE_COUNTS_LIMIT,
    ) -> None:
        self.realm = realm
        if not secret:
            raise LocalProtocolError("DigestServer needs a non-empty secret")
        self._secret = bytes(secret)
        self.algorithms = tuple(canonical_algorithm(a) for a in algorithms)
        if not self.algorithms or any(a not in ALGORITHMS for a in self.algorithms):
            raise LocalProtocolError(f"Algorithms must be some of {ALGORITHMS}")
        self.qop = tuple(q.lower() for q in qop)
        if any(q not in QOPS for q in self.qop):
            raise LocalProtocolError(f"Server qop must be some of {QOPS}")
        self.nonce_lifetime = nonce_lifetime
        self._seq = 0
        self._highest_nc: dict[str, tuple[float, int]] = {}  # nonce -> (issued, nc)
        self.nonce_counts = nonce_counts
        self._forgotten_until = float("-inf")  # the latest issue time of a forgotten count

    # -- nonces ---------------------------------------------------------------------

    def _mac(self, payload: bytes) -> bytes:
        message = utf8(self.realm) + b"\0" + payload
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
        issued: float = _NONCE_PAYLOAD.unpack(payload)[0]
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
        request_uri: Uri | None = None,
    ) -> VerifyResult:
        """Check ``credentials`` for a request with this ``method`` (and ``body``).

        ``password_lookup(username)`` returns the password, or None for no such user.
        The digest is computed over ``credentials.uri``; with ``request_uri`` (the
        Request-URI of the request) that ``uri`` must designate the same resource, or
        the result is ``URI_MISMATCH`` before any hash is computed or nonce count spent.
        RFC 7616 §3.4.6 (as RFC 2617 §3.2.2.5): the server must make sure that the
        resource the ``uri`` parameter designates is the one in the Request-Line, and
        SHOULD answer 400 Bad Request when it is not. Same resource, for SIP, is URI equality
        (RFC 3261 §19.1.4, :func:`uris_equal`), not equal text: a client may escape or
        order parameters differently in the header, and the hash covers its text.
        """
        c = credentials

        def result(status: VerifyStatus, reason: str) -> VerifyResult:
            return VerifyResult(status, c.username, reason)

        if c.realm != self.realm:
            return result(
                VerifyStatus.REALM_MISMATCH, f"realm {c.realm!r}, expected {self.realm!r}"
            )
        if request_uri is not None and not _designates(c.uri, request_uri):
            return result(VerifyStatus.URI_MISMATCH,
                          f"digest uri {c.uri[:80]!r} is not the Request-URI")
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
        if not hmac.compare_digest(utf8(expected), utf8(c.response.lower())):
            return result(VerifyStatus.BAD_RESPONSE, "response does not match: wrong password?")
        # Only now, with the digest right, may the answer be stale (RFC 2617 §3.2.1).
        if now - issued > self.nonce_lifetime:
            return result(VerifyStatus.STALE, f"nonce is {now - issued:.0f}s old")
        self._forget_expired(now)
        if c.nc is not None:  # RFC 2617 §3.2.2 (nonce-count): a repeated nc is a replay
            counted = self._highest_nc.get(c.nonce)
            if counted is None and issued <= self._forgotten_until:
                return result(VerifyStatus.STALE, "nonce count no longer remembered")
            highest = counted[1] if counted is not None else 0
            if c.nc <= highest:
                return result(
                    VerifyStatus.NC_REPLAY, f"nc {c.nc:08x} not above {highest:08x} for this nonce"
                )
            self._highest_nc[c.nonce] = (issued, c.nc)
            if len(self._highest_nc) > self.nonce_counts:
                self._forget_oldest()
        return result(VerifyStatus.OK, "authenticated")

    def _forget_oldest(self) -> None:
        """Make room: forget the count verified first; nonces as old answer stale."""
        oldest = next(iter(self._highest_nc))
        issued, _ = self._highest_nc.pop(oldest)
        self._forgotten_until = max(self._forgotten_until, issued)

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


def _designates(digest_uri: str, request_uri: Uri) -> bool:
    """True when the credentials' ``uri`` is the Request-URI (RFC 3261 §19.1.4)."""
    try:
        return uris_equal(parse_uri(digest_uri), request_uri)
    except RemoteProtocolError:  # not even a URI: it designates nothing
        return False


__all__ = ["DigestServer", "VerifyResult", "VerifyStatus"]
