"""HTTP Digest for SIP, the client side: which challenge to answer, and when to stop.

:func:`choose_challenge` picks among the challenges of one 401/407 (RFC 8760 §2.3-2.4),
:func:`build_authorization` answers one (RFC 2617 §3.2.2, RFC 7616 §3.4), and
:class:`DigestClient` keeps one user's nonce counts and tells "retry" from "wrong
password" (RFC 2617 §3.2.1 and RFC 7616 §3.3, ``stale``). No I/O, no clock, no randomness.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from ._digest import (
    STRENGTH,
    Challenge,
    Credentials,
    base_algorithm,
    compute_response,
    pick_qop,
)
from ._errors import LocalProtocolError


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
    return max(usable, key=lambda c: STRENGTH[base_algorithm(c.algorithm)])


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
    qop = pick_qop(challenge.qop)
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


__all__ = [
    "ChallengeDecision",
    "ChallengeVerdict",
    "DigestClient",
    "build_authorization",
    "choose_challenge",
]
