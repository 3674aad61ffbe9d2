"""The rules of the client's operations, sans-IO: one place for every driver.

The user agent (one phone) and the load engine (thousands) send the same requests by
the same rules; both drive the machines here, which take responses, transport
failures and the time (a number) and give back the next request to send or a verdict:

    operation = Registration(sequence, digest=digest, cnonce=new_cnonce, expires=3600,
                             contact=contact)
    action = operation.start(now)
    while isinstance(action, SendRequest):
        request = build(action)                       # the driver's Via, From, To, ...
        response = await send(request)               # or: operation.transport_failed(...)
        action = operation.response_received(request, response, now)
    verdict = action                                  # a Verdict

What lives here: answering digest challenges (RFC 3261 §22.2, RFC 7616), the 423
Interval Too Brief retry (RFC 3261 §10.2.8), the registration's Call-ID and CSeq
(RFC 3261 §10.2), the granted expiry and refresh time (§10.2.4), the failover rule
(RFC 3263 §4.3), the order of targets, the Contact of a flow, and the RFC 3261
§18.1.1 size rule for requests over UDP. No sockets, no reactor, no clock reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from testbed.sip import (
    Address,
    Challenge,
    ChallengeVerdict,
    DigestClient,
    RemoteProtocolError,
    Request,
    Response,
    SipUri,
    Transport,
)

MAX_AUTH_ROUNDS = 4
"""Digest rounds per request before giving up (a wrong password stops after one)."""

MAX_INTERVAL_RETRIES = 2
"""423 Interval Too Brief retries per REGISTER (each must raise the expiry)."""

FAILOVER_ERRORS = frozenset(("timeout", "refused", "unreachable", "tls", "websocket",
                             "transport"))
"""Failures after which the next target is tried (RFC 3263 §4.3)."""

UNKNOWN_MTU_LIMIT = 1300
"""RFC 3261 §18.1.1: the size over which a request goes over TCP when the MTU is unknown."""

MTU_MARGIN = 200
"""RFC 3261 §18.1.1: a request within 200 bytes of the path MTU goes over TCP."""


# -- actions and verdicts -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendRequest:
    """Action: send the operation's request (again) with this CSeq and these headers.

    ``headers`` are the operation's own (``Expires``, ``Authorization``, ...); the
    driver adds the rest (Via, From, To, Call-ID, Contact, body) for its flow.
    """

    method: str
    cseq: int
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    """How an operation ended.

    ``error`` is one of :data:`testbed.client.ERROR_KINDS` (None on success); ``detail``
    says why in words (the digest decision, the transport failure); ``response`` is the
    final response when there was one. A successful registration also carries the
    ``expires`` granted and the time ``refresh_at`` to register again.
    """

    ok: bool
    error: str | None = None
    status: int | None = None
    reason: str = ""
    detail: str = ""
    response: Response | None = None
    expires: int | None = None
    refresh_at: float | None = None

    @property
    def fail_over(self) -> bool:
        """Whether the next target should be tried (RFC 3263 §4.3)."""
        return should_fail_over(self.error, self.status)


Action = SendRequest | Verdict


@dataclass(frozen=True, slots=True)
class Note:
    """Something notable on an operation's way, that no exchange shows by itself: an
    event ``id`` (``stale-nonce``, ``udp-to-tcp-switch``, ...) and a sentence."""

    id: str
    text: str


@dataclass
class RequestSequence:
    """A Call-ID and its CSeq counter: one per registration (RFC 3261 §10.2: every
    REGISTER of a UA to a registrar reuses the Call-ID with CSeq one higher), one per
    call (§12.2.1.1)."""

    call_id: str
    cseq: int = 0

    def next_cseq(self) -> int:
        self.cseq += 1
        return self.cseq


# -- operations ---------------------------------------------------------------------------


class Operation:
    """One request carried to its final response: challenges answered, then a verdict.

    ``digest`` holds the user's credentials (None: no password configured, so a
    challenge ends the operation); ``cnonce`` draws a fresh client nonce. A 2xx is a
    success; any other final response is ``rejected`` unless a subclass knows better.
    """

    def __init__(self, method: str, sequence: RequestSequence, *,
                 digest: DigestClient | None = None, cnonce: Callable[[], str] = lambda: "",
                 max_auth_rounds: int = MAX_AUTH_ROUNDS) -> None:
        self.method = method
        self.sequence = sequence
        self.digest = digest
        self.cnonce = cnonce
        self.max_auth_rounds = max_auth_rounds
        self.auth_rounds = 0
        self.started: float | None = None
        self._challenge: tuple[str, Challenge] | None = None  # (answer header, challenge)
        self._authorization: tuple[str, str] | None = None
        self.notes: list[Note] = []

    def start(self, now: float) -> SendRequest:
        """The first request (a new one: digest counts start over)."""
        self.started = now
        if self.digest is not None:
            self.digest.start_request()
        return self._send()

    def response_received(self, request: Request, response: Response,
                          now: float) -> Action:
        """The final response to ``request`` (the request as it was sent)."""
        if response.status in (401, 407):
            return self._challenged(request, response)
        return self.final(request, response, now)

    def transport_failed(self, kind: str, reason: str, now: float) -> Verdict:
        """The transaction ended without a response: ``kind`` is timeout, refused,
        unreachable, tls, websocket or transport."""
        return Verdict(False, kind if kind in FAILOVER_ERRORS else "transport", detail=reason)

    def final(self, request: Request, response: Response, now: float) -> Action:
        """A final response other than a challenge (subclasses add their rules)."""
        ok = 200 <= response.status < 300
        return Verdict(ok, None if ok else "rejected", response.status, response.reason,
                       response=response)

    # -- digest (RFC 3261 §22.2, RFC 7616) -----------------------------------------------

    def _challenged(self, request: Request, response: Response) -> Action:
        def refuse(why: str) -> Verdict:
            return Verdict(False, "auth", response.status, response.reason, detail=why,
                           response=response)

        if self.digest is None:
            return refuse("no password configured")
        if self.auth_rounds >= self.max_auth_rounds:
            return refuse(f"too many authentication rounds ({self.auth_rounds})")
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        answer = "Authorization" if response.status == 401 else "Proxy-Authorization"
        challenges = []
        for value in response.headers.get_all(header):
            try:
                challenges.append(Challenge.parse(value))
            except RemoteProtocolError:
                continue  # a challenge we cannot read is one we cannot answer
        decision = self.digest.on_challenge(challenges)
        if decision.verdict is not ChallengeVerdict.RETRY or decision.challenge is None:
            return refuse(decision.reason)
        self.auth_rounds += 1
        if decision.challenge.stale:  # RFC 7616 §3.3: the password was right, the nonce old
            self.notes.append(Note("stale-nonce", f"{response.status} with stale=true: "
                                   f"{decision.reason}; answered with the new nonce"))
        self._challenge = (answer, decision.challenge)
        self._authorization = self._authorize(request)
        return self._send()

    def _authorize(self, request: Request) -> tuple[str, str] | None:
        """Credentials for the last challenge: a fresh cnonce and the next nonce count
        (RFC 7616 §3.4: a request never repeats an nc, or the server sees a replay)."""
        if self._challenge is None or self.digest is None:
            return None
        answer, challenge = self._challenge
        credentials = self.digest.authorize(challenge, method=request.method,
                                            uri=str(request.uri), cnonce=self.cnonce(),
                                            body=request.body)
        return (answer, credentials.to_header())

    def _send(self, *headers: tuple[str, str]) -> SendRequest:
        extra = headers + ((self._authorization,) if self._authorization else ())
        return SendRequest(self.method, self.sequence.next_cseq(), extra)


class Registration(Operation):
    """REGISTER one contact for ``expires`` seconds (0: remove it), RFC 3261 §10.2.

    A 423 Interval Too Brief is retried with the registrar's Min-Expires (§10.2.8),
    carrying fresh credentials when the registrar had challenged. The verdict of a 2xx
    gives the expiry granted (§10.2.4: to ``contact`` when it is given, else the
    Expires header's) and when to refresh it.
    """

    def __init__(self, sequence: RequestSequence, *, expires: int, contact: SipUri | None,
                 refresh_ratio: float = 0.5, digest: DigestClient | None = None,
                 cnonce: Callable[[], str] = lambda: "",
                 max_auth_rounds: int = MAX_AUTH_ROUNDS) -> None:
        super().__init__("REGISTER", sequence, digest=digest, cnonce=cnonce,
                         max_auth_rounds=max_auth_rounds)
        self.expires = expires
        self.contact = contact
        self.refresh_ratio = refresh_ratio
        self.interval_retries = 0

    def _send(self, *headers: tuple[str, str]) -> SendRequest:
        return super()._send(("Expires", str(self.expires)), *headers)

    def final(self, request: Request, response: Response, now: float) -> Action:
        if response.status == 423 and self.interval_retries < MAX_INTERVAL_RETRIES:
            minimum = response.headers.get("Min-Expires")
            if minimum and minimum.isdigit() and int(minimum) > self.expires:
                self.interval_retries += 1
                self.expires = int(minimum)  # RFC 3261 §10.2.8
                if self.digest is not None:
                    self.digest.start_request()  # a new request: a challenge is answered anew
                self._authorization = self._authorize(request)
                return self._send()
        verdict = super().final(request, response, now)
        if not isinstance(verdict, Verdict) or not verdict.ok or self.expires == 0:
            return verdict
        granted = granted_expires(response, self.contact, self.expires)
        refresh_at = now + max(0.001, granted * self.refresh_ratio) if granted else None
        return Verdict(True, status=verdict.status, reason=verdict.reason, response=response,
                       expires=granted, refresh_at=refresh_at)


def granted_expires(response: Response, contact: SipUri | None, requested: int) -> int:
    """The expiry the registrar granted ``contact`` (RFC 3261 §10.2.4): its Contact's
    ``expires`` parameter, else the Expires header, else what was asked for."""
    if contact is not None:
        for candidate in response.contacts:
            value = candidate.param("expires")
            if candidate.uri == contact and value is not None and value.isdigit():
                return int(value)
    header = response.expires
    return header if header is not None else requested


# -- targets and failover (RFC 3263 §4.3) -------------------------------------------------


def should_fail_over(error: str | None, status: int | None) -> bool:
    """RFC 3263 §4.3: try the next target after a transport failure, a timeout or a 503."""
    return error in FAILOVER_ERRORS or status == 503


T = TypeVar("T")


def targets_in_order(targets: Sequence[T], first: T | None) -> list[T]:
    """``targets`` with ``first`` (the live flow's target, or the last good one) moved
    to the front: a working connection is reused before anything new is tried."""
    ordered = list(targets)
    if first is None:
        return ordered
    return [first] + [target for target in ordered if target != first]


# -- what a request carries ---------------------------------------------------------------


def contact_uri(transport: str, local: tuple[str, int], user: str | None, *,
                secure: bool = False) -> SipUri:
    """The Contact URI of a flow: its local address, and ``transport=`` for a stream
    (RFC 3261 §19.1.4; ``ws`` for WS and WSS, RFC 7118 §5.2). ``sips:`` when the
    registrar's URI is (RFC 3261 §8.1.1.8)."""
    param = Transport(transport).contact_param
    return SipUri(host=local[0], port=local[1], user=user,
                  params=(("transport", param),) if param else (),
                  scheme="sips" if secure else "sip")


def contact_address(transport: str, local: tuple[str, int], user: str | None, *,
                    secure: bool = False) -> Address:
    """:func:`contact_uri` as a Contact header value."""
    return Address(contact_uri(transport, local, user, secure=secure))


@dataclass(frozen=True, slots=True)
class SizeDecision:
    """What RFC 3261 §18.1.1 says of a request over UDP: ``switch`` to TCP or not,
    the ``limit`` it was held to, and ``why`` in one line (empty when it fits)."""

    switch: bool
    limit: int
    why: str = ""


def udp_size_decision(method: str, size: int, *, path_mtu: int | None,
                      policy: str) -> SizeDecision:
    """RFC 3261 §18.1.1: a request within 200 bytes of the path MTU, or over 1300 bytes
    when the MTU is unknown, goes over TCP. ``policy`` is ``switch-to-tcp`` (obey) or
    ``send`` (send it over UDP anyway, as many phones do, and say so)."""
    limit = path_mtu - MTU_MARGIN if path_mtu else UNKNOWN_MTU_LIMIT
    if size <= limit:
        return SizeDecision(False, limit)
    why = (f"{method} of {size} bytes is over {limit} bytes "
           + (f"(within {MTU_MARGIN} bytes of the path MTU {path_mtu})" if path_mtu else
              f"({UNKNOWN_MTU_LIMIT}: the path MTU is unknown)"))
    if policy != "switch-to-tcp":
        return SizeDecision(False, limit, f"{why}: sent over UDP anyway (udp_large_message: "
                                          "send; RFC 3261 §18.1.1 asks for TCP)")
    return SizeDecision(True, limit, f"{why}: switching to TCP (RFC 3261 §18.1.1)")


__all__ = [
    "FAILOVER_ERRORS", "MAX_AUTH_ROUNDS", "MAX_INTERVAL_RETRIES", "Action", "Note", "Operation",
    "Registration", "RequestSequence", "SendRequest", "SizeDecision", "Verdict",
    "contact_address", "contact_uri", "granted_expires", "should_fail_over",
    "targets_in_order", "udp_size_decision",
]
