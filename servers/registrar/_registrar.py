"""A mock registrar/PBX: digest-authenticated REGISTER, OPTIONS, INVITE, and
requests of its own to registered contacts over the flow they registered on.

Policy is data (:class:`RegistrarConfig`); the location service is pure
(:mod:`._location`); the stack does the transport and transaction work. Anything a
peer sends is answered (400 for malformed input, by the flows) and never stops it.

Authentication is what real PBXs do. REGISTER is challenged with 401 and
WWW-Authenticate: a registrar is a UAS (RFC 3261 §10.3, §22.2). INVITE is challenged
as a proxy challenges it (a PBX answers calls as the proxy in front of its users), with
407 and Proxy-Authenticate (§22.3), and its credentials are read from
Proxy-Authorization; ``invite_challenge: 401`` makes it a UAS challenge instead.

An unknown user is never revealed before credentials arrive: a request without
credentials for our realm is challenged whoever its To or From names (those are the
sender's claim, and answering them would let anyone list the accounts). Only
credentials answering one of our challenges (our realm, a nonce we issued) whose
username is no account get the ``unknown_user`` answer: 401 challenges again, as for a
wrong password (the client cannot tell the two apart); 403 Forbidden says that
authorization will not help (§21.4.4); 404 Not Found says that the user does not exist
here (§21.4.5, and §10.3 step 6 for an address-of-record not of this domain).

Credentials must also have been computed for this request's Request-URI (RFC 7616
§3.4.6), or for this server itself (a URI naming an address it listens on, as SIPp
sends): others get 400 Bad Request. An authenticated user may then register only what
``registrar_policy`` lets them (§10.3 step 4, :mod:`._policy`): by default their own
address-of-record, 403 otherwise. The 200 OK lists every binding of the
address-of-record, so the bindings are capped (``max_contacts``) and the answer must fit
its transport (one UDP datagram, or the message size limit of every flow here): a
REGISTER whose answer would not gets 503 instead, and bindings are stored only once the
200 OK that lists them is sent.
"""

from __future__ import annotations

import functools
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from twisted.python.failure import Failure

from testbed.reactor import IReactor
from testbed.sip import (
    Address,
    Credentials,
    DigestServer,
    RegisterView,
    RemoteProtocolError,
    Request,
    Response,
    SipUri,
    Timers,
    Transport,
    Uri,
    VerifyStatus,
    Via,
    answer_for,
    build_offer,
    message_size_limit,
    new_branch,
    parse_sdp,
    parse_uri,
)
from testbed.transport import (
    Flow,
    ServerContext,
    SipStack,
    Trace,
    TransactionFailed,
)

from ._answer import Answerable, FullAnswer, RegisterAnswer
from ._fast import RegisterFastPath
from ._location import (
    Binding,
    LocationTable,
    RegisterRejected,
    RegisterUpdate,
    aor_of,
    too_many_contacts,
)
from ._policy import REGISTRAR_POLICIES, authorise

ALLOW = "REGISTER, INVITE, ACK, CANCEL, BYE, OPTIONS"

INVITE_CHALLENGES = (407, 401)
"""How an INVITE may be challenged: as a proxy (407, the default) or as a UAS (401)."""

UNKNOWN_USER_ANSWERS = (401, 403, 404)
"""What credentials for an unknown username may get: a new challenge (the default),
403 Forbidden or 404 Not Found."""

RECEIVED_LIMIT = 10_000
"""Requests a :class:`Registrar` remembers in :attr:`~Registrar.received` (the last
ones): every request of a scenario, a bounded record for a registrar left running."""

_CHALLENGE_HEADERS = {  # status -> (challenge header, credentials header), RFC 3261 §22
    401: ("WWW-Authenticate", "Authorization"),
    407: ("Proxy-Authenticate", "Proxy-Authorization"),
}


@dataclass
class RegistrarConfig:
    """What the mock registrar does.

    ``users`` maps usernames to passwords; empty means no authentication. ``invite``
    is the final status INVITEs get (200 answers with SDP; 486, 503, ... reject).
    ``register_status`` forces an answer to every REGISTER (e.g. 503 to test failover).
    ``invite_challenge`` is how an INVITE is challenged: 407 (as a proxy, RFC 3261
    §22.3) or 401 (as a UAS, §22.2); REGISTER is always challenged with 401.
    ``unknown_user`` is the answer to credentials whose username is no account: 401
    (challenge again), 403 or 404 (see the module's documentation).

    Authorisation and limits (Kamailio's equivalents in brackets):
    ``registrar_policy`` says whose address-of-record an authenticated user may bind:
    ``own`` (the default), ``accounts`` or ``any`` (see :mod:`._policy`;
    [``auth_check`` flags]). ``domains``, when given, are the hosts an address-of-record
    may name, with the addresses the registrar listens on (404 otherwise, §10.3 step 5;
    [``uri==myself``]). ``max_contacts`` caps the bindings of one address-of-record
    (503 and ``P-Registrar-Error: Too many registered contacts``; [``max_contacts``,
    whose default 0 means no cap]); ``contact_max_size`` the characters of a Contact URI
    (400; [``contact_max_size``, 512]); ``max_aors`` the addresses-of-record with
    bindings (503; Kamailio has no such cap, only its shared memory). 0 lifts a cap.
    ``retry_after`` > 0 adds ``Retry-After`` to those 503s ([``retry_after``, 0]).
    """

    realm: str = "testbed"
    users: dict[str, str] = field(default_factory=dict)
    algorithms: tuple[str, ...] = ("MD5",)
    nonce_lifetime: float = 300.0
    default_expires: int = 3600
    min_expires: int = 1
    max_expires: int = 86400
    invite: int = 200
    invite_challenge: int = 407
    unknown_user: int = 401
    register_status: int | None = None
    ring: bool = True
    server: str = "sip-transport-testbed-registrar/0.1"
    seed: int = 0
    registrar_policy: str = "own"
    domains: tuple[str, ...] = ()
    max_contacts: int = 20
    contact_max_size: int = 512
    max_aors: int = 100_000
    retry_after: int = 0

    def __post_init__(self) -> None:
        if self.invite_challenge not in INVITE_CHALLENGES:
            raise ValueError(f"invite_challenge must be 407 or 401, not {self.invite_challenge}")
        if self.unknown_user not in UNKNOWN_USER_ANSWERS:
            raise ValueError(f"unknown_user must be 401, 403 or 404, not {self.unknown_user}")
        if self.registrar_policy not in REGISTRAR_POLICIES:
            raise ValueError(f"registrar_policy must be one of {', '.join(REGISTRAR_POLICIES)}, "
                             f"not {self.registrar_policy!r}")
        for name in ("max_contacts", "contact_max_size", "max_aors", "retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


@dataclass
class Received:
    """One request the registrar handled, for reports and assertions."""

    time: float
    method: str
    transport: str
    remote: tuple[str, int]
    status: int
    user: str = ""
    note: str = ""


class Registrar:
    """The mock registrar/PBX, as the transaction user of its own stack.

    :attr:`received` keeps the last ``received_limit`` requests handled (None: all).
    """

    def __init__(self, reactor: IReactor, config: RegistrarConfig | None = None, *,
                 timers: Timers | None = None, trace: Trace | None = None,
                 name: str = "registrar", received_limit: int | None = RECEIVED_LIMIT,
                 fast_path: bool = True) -> None:
        self.reactor = reactor
        self.config = config or RegistrarConfig()
        self.rng = random.Random(self.config.seed)
        self.stack = SipStack(reactor, self, timers=timers, trace=trace, name=name)
        self.trace = self.stack.trace
        self.location = LocationTable(self.config.default_expires, self.config.min_expires,
                                      self.config.max_expires,
                                      max_contacts=self.config.max_contacts,
                                      max_aors=self.config.max_aors,
                                      contact_max_size=self.config.contact_max_size)
        self._local_hosts: set[str] = set()  # hosts listened on: "myself" (§10.3 step 5)
        secret = self.rng.getrandbits(128).to_bytes(16, "big")
        self.digest = DigestServer(self.config.realm, secret, algorithms=self.config.algorithms,
                                   nonce_lifetime=self.config.nonce_lifetime)
        self.received: deque[Received] = deque(maxlen=received_limit)
        self.fast_path: RegisterFastPath | None = None
        """The REGISTER fast path (:mod:`._fast`), on unless ``fast_path=False``."""
        if fast_path:
            self.fast_path = self.stack.fast_path = RegisterFastPath(self)

    # -- listening ----------------------------------------------------------------------

    def listen(self, transport: str, host: str, port: int, *,
               tls_options: IOpenSSLServerConnectionCreator | None = None,
               ws_path: str = "/", ws_behaviour: str = "normal") -> tuple[str, int]:
        """Listen on one transport (``udp`` or ``UDP``...); returns the bound address.

        TLS needs ``tls_options``; WS/WSS listen for WSS when ``tls_options`` is given.
        """
        self._local_hosts.add(host.lower())
        try:
            kind = Transport.parse(transport)
        except ValueError:
            raise ValueError(f"unknown transport {transport.upper()!r}") from None
        if kind is Transport.UDP:
            return self.stack.listen_udp(host, port)
        if kind in (Transport.TCP, Transport.TLS):
            return self.stack.listen_stream(kind, host, port, tls_options)
        return self.stack.listen_ws(host, port, tls_options=tls_options, path=ws_path,
                                    behaviour=ws_behaviour)

    def stop(self) -> defer.Deferred[list[tuple[bool, Any]]]:
        return self.stack.stop()

    # -- requests -----------------------------------------------------------------------

    def request_received(self, context: ServerContext) -> None:
        request = context.request
        handler = {
            "REGISTER": lambda c: self._register(FullAnswer(c)),
            "OPTIONS": self._options,
            "INVITE": self._invite,
            "BYE": self._simple_ok,
            "CANCEL": self._simple_ok,
        }.get(request.method)
        try:
            if handler is None:
                status = 405
                context.respond(405, headers=[("Allow", ALLOW)], to_tag=self._tag())
                note = "method not allowed"
            else:
                status, note = handler(context)
        except RemoteProtocolError as exc:
            status, note = self.protocol_error(context, exc)
        self.record(request.method, context.flow, status, _user_of(request), note)

    def protocol_error(self, context: Answerable, exc: RemoteProtocolError) -> tuple[int, str]:
        """Answer a request whose handling found it malformed (its status hint), log it."""
        context.respond(exc.status_hint, exc.reason, to_tag=self._tag())
        self._log_refusal(context, exc.status_hint, exc.reason)
        return exc.status_hint, exc.reason

    def record(self, method: str, flow: Flow, status: int, user: str, note: str) -> None:
        """Keep what a request got (:attr:`received`)."""
        self.received.append(Received(self.reactor.seconds(), method, flow.transport,
                                      flow.remote, status, user, note))

    def _authenticate(self, context: Answerable,
                      challenge: int) -> tuple[int | None, str, str | None]:
        """RFC 3261 §22: challenge with ``challenge`` until the credentials verify.

        401 is a UAS's challenge (WWW-Authenticate, answered in Authorization, §22.2),
        407 a proxy's (Proxy-Authenticate, answered in Proxy-Authorization, §22.3).
        Returns None, a note and the authenticated username (None without accounts)
        when the request may go on, else the status it was answered with, why, None.
        Credentials computed for another URI than the Request-URI get 400 (RFC 7616
        §3.4.6: "SHOULD return a 400").
        """
        if not self.config.users:
            return None, "", None
        challenge_header, credentials_header = _CHALLENGE_HEADERS[challenge]
        request = context.request
        now = self.reactor.seconds()
        credentials = _credentials_for(self.config.realm,
                                       request.headers.get_all(credentials_header))
        stale = False
        note = f"challenged (no {credentials_header})"
        if credentials is not None:
            verify = functools.partial(self.digest.verify, credentials, now=now,
                                       method=request.method, body=request.body,
                                       password_lookup=self.config.users.get)
            result = verify(request_uri=request.uri)
            if result.status is VerifyStatus.URI_MISMATCH and self._names_me(credentials.uri):
                result = verify()  # SIPp's way: a uri naming this server, not another one
            if result.ok:
                return None, f"authenticated {result.username}", result.username
            if result.status is VerifyStatus.URI_MISMATCH:
                reason = "Bad Request (digest uri is not the Request-URI)"
                context.respond(400, reason, to_tag=self._tag())
                self._log_refusal(context, 400, result.reason)  # RFC 7616 §3.4.6: log it
                return 400, result.reason, None
            unknown = self.config.unknown_user
            if result.status is VerifyStatus.UNKNOWN_USER and unknown != 401:
                context.respond(unknown, to_tag=self._tag())
                return unknown, f"unknown user {result.username!r}", None
            stale = result.status is VerifyStatus.STALE
            note = f"challenged ({result.reason})"
        headers = [(challenge_header, c.to_header())
                   for c in self.digest.challenges(now, stale=stale)]
        context.respond(challenge, headers=headers, to_tag=self._tag())
        return challenge, note, None

    def _register(self, context: FullAnswer) -> tuple[int, str]:
        if self.config.register_status is not None:
            status = self.config.register_status
            context.respond(status, to_tag=self._tag())
            return status, "forced status"
        refused, note, username = self._authenticate(context, 401)  # a UAS (§10.3)
        if refused is not None:
            return refused, note
        request = context.request
        return self.bind(context, username, note, request.to.uri,
                         lambda now, flow: self.location.prepare(request, now, flow=flow,
                                                                 source=flow.remote))

    @property
    def forced_status(self) -> int | None:
        """``register_status``: what every REGISTER gets, if configured."""
        return self.config.register_status

    def register_fields(self, answer: RegisterAnswer, view: RegisterView,
                        aor: str | None = None) -> tuple[int, str]:
        """The fast path's REGISTER (``view``, from :func:`scan_register`) under the
        rules of the full one: authentication, then :meth:`bind`. ``aor`` is its
        address-of-record when the caller knows it already (:func:`aor_of` of its To)."""
        refused, note, username = self._authenticate(answer, 401)  # a UAS (§10.3)
        if refused is not None:
            return refused, note
        contacts = [] if view.contact is None else [view.contact]
        lines = [] if view.contact_text is None else [view.contact_text]
        to_uri = view.to_address.uri
        return self.bind(answer, username, note, to_uri, lambda now, flow: (
            self.location.prepare_fields(aor or aor_of(to_uri), view.call_id, view.cseq, now,
                                         contacts=contacts, star=False, expires=view.expires,
                                         contact_lines=lines, flow=flow,
                                         source=flow.remote)))

    def bind(self, context: RegisterAnswer, username: str | None, note: str, to_uri: Uri,
             prepare: Callable[[float, Flow], RegisterUpdate]) -> tuple[int, str]:
        """RFC 3261 §10.3 steps 4 to 8 for an authenticated REGISTER (the full path and
        the fast path alike): authorise, compute the bindings (``prepare``), send the
        200 OK that lists them if it fits its transport, and store them once it went
        out. Returns the status sent and a note."""
        now = self.reactor.seconds()
        flow = context.flow
        config = self.config
        try:
            authorise(config.registrar_policy, username, to_uri,
                      accounts=config.users, domains=self._domains())
            update = prepare(now, flow)
        except RegisterRejected as rejected:
            return self._refuse_register(context, rejected)
        headers = self.location.contact_headers(update.bindings, now)
        headers.append(("Date", _http_date_of_second(int(now))))
        limit = message_size_limit(flow.transport)
        if not context.send_ok(headers, self._tag(), limit):
            status, _ = self._refuse_register(context, too_many_contacts(
                f"the 200 OK would not fit in {limit} bytes"))
            return status, f"{len(update.bindings)} binding(s) not stored: the 200 OK " \
                           f"exceeds the {flow.transport} limit of {limit} bytes"
        if flow.closed:  # nothing went out: keep the bindings as they were
            return 200, f"{note}; answer not sent (connection closed): nothing stored"
        self.location.commit(update)
        return 200, f"{note}; {len(update.bindings)} binding(s)"

    def _refuse_register(self, context: Answerable,
                         rejected: RegisterRejected) -> tuple[int, str]:
        """Answer a REGISTER the registrar refuses (Retry-After on a 5xx if configured,
        as Kamailio's ``retry_after`` does, RFC 3261 §20.33)."""
        headers = list(rejected.headers)
        if rejected.status >= 500 and self.config.retry_after:
            headers.append(("Retry-After", str(self.config.retry_after)))
        context.respond(rejected.status, rejected.reason, headers=headers, to_tag=self._tag())
        if rejected.status != 423:  # too brief is a negotiation (§10.2.8), not a refusal
            self._log_refusal(context, rejected.status, rejected.reason)
        return rejected.status, rejected.reason

    def _log_refusal(self, context: Answerable, status: int, reason: str) -> None:
        """One rate-limited line for a request refused as malformed or not allowed."""
        self.stack.input_rejected(context.flow,
                                  f"{context.request.method} {status} {reason} (answered)")

    def _names_me(self, digest_uri: str) -> bool:
        """Whether a digest ``uri`` names this registrar itself: a SIP URI without user
        part whose host is one it listens on. SIPp, for one, answers every challenge
        with ``uri="sip:<server address>:<port>"`` whatever the Request-URI; that
        designates no other resource than this server, so it is let through (the check
        refuses credentials computed for another server or another user)."""
        try:
            uri = parse_uri(digest_uri)
        except RemoteProtocolError:
            return False
        return isinstance(uri, SipUri) and uri.user is None \
            and uri.host.lower() in self._local_hosts

    def _domains(self) -> frozenset[str]:
        """The hosts an address-of-record may name: ``domains`` and the addresses
        listened on; empty (any host) when ``domains`` is not configured."""
        if not self.config.domains:
            return frozenset()
        return frozenset(d.lower() for d in self.config.domains) | self._local_hosts

    def _options(self, context: ServerContext) -> tuple[int, str]:
        context.respond(200, to_tag=self._tag(), headers=[
            ("Allow", ALLOW), ("Accept", "application/sdp"), ("Server", self.config.server)])
        return 200, ""

    def _invite(self, context: ServerContext) -> tuple[int, str]:
        refused, auth, _ = self._authenticate(context, self.config.invite_challenge)
        if refused is not None:
            return refused, auth
        prefix = f"{auth}; " if auth else ""
        status = self.config.invite
        tag = self._tag()
        if self.config.ring:
            context.respond(180, to_tag=tag)
        if status >= 300:
            context.respond(status, to_tag=tag)
            return status, f"{prefix}configured rejection"
        try:
            offer = parse_sdp(context.request.body)
        except RemoteProtocolError as exc:
            context.respond(488, to_tag=tag)
            return 488, f"{prefix}{exc.reason}"
        answer = answer_for(offer, address=context.flow.local[0], port=42000,
                            session_id=self.rng.randrange(1, 2**31))
        contact = Address(SipUri(host=context.flow.local[0], port=context.flow.local[1],
                                 params=_transport_param(context.flow)))
        context.respond(200, to_tag=tag, body=answer.to_bytes(), headers=[
            ("Contact", contact), ("Content-Type", "application/sdp")])
        return 200, f"{prefix}answered"

    def _simple_ok(self, context: ServerContext) -> tuple[int, str]:
        context.respond(200, to_tag=self._tag())
        return 200, ""

    def ack_received(self, ack: Request, flow: Flow) -> None:
        self.received.append(Received(self.reactor.seconds(), "ACK", flow.transport,
                                      flow.remote, 0, _user_of(ack)))

    def stray_response(self, response: Response, flow: Flow) -> None:
        pass

    def flow_closed(self, flow: Flow, reason: str) -> None:
        pass

    # -- requests of our own to registered contacts --------------------------------------

    def send_to_contact(self, aor: str, method: str = "OPTIONS",
                        sdp_size: int | None = None,
                        ) -> defer.Deferred[list[Response | TransactionFailed]]:
        """Send ``method`` to every live binding of ``aor`` over its registered flow.

        Deferred of the list of results, one per binding: the final :class:`Response`
        or the :class:`TransactionFailed` that ended it. This is the inbound path
        (RFC 5626 §5.3 flow reuse) that NAT and keep-alive cases test.
        """
        now = self.reactor.seconds()
        bindings = self.location.lookup(aor, now)
        results = [self._send_to_binding(binding, method, sdp_size) for binding in bindings]
        return defer.gatherResults(results) if results else defer.succeed([])

    def _send_to_binding(self, binding: Binding, method: str,
                         sdp_size: int | None) -> defer.Deferred[Response | TransactionFailed]:
        flow = binding.flow
        if not isinstance(flow, Flow) or flow.closed:
            return defer.succeed(TransactionFailed("transport", "registered flow is closed"))
        if flow.transport is Transport.UDP and binding.source is not None:
            flow = self.stack.udp_flow(*binding.source)
        target = binding.contact.sip_uri
        body = b""
        headers: list[tuple[str, object]] = []
        if method == "INVITE":
            body = build_offer(address=flow.local[0], port=43000, session_id=1,
                               size=sdp_size).to_bytes()
            headers = [("Content-Type", "application/sdp"),
                       ("Contact", Address(SipUri(host=flow.local[0], port=flow.local[1],
                                                  params=_transport_param(flow))))]
        via = Via(flow.transport, flow.local[0], flow.local[1],
                  (("branch", new_branch(self.rng)), ("rport", None)))
        request = Request(method, target, [
            ("Via", via), ("Max-Forwards", 70),
            ("From", Address(SipUri(host=self.config.realm), params=(("tag", self._tag()),))),
            ("To", Address(SipUri(host=target.host, user=target.user))),
            ("Call-ID", f"{self._tag()}@registrar"), ("CSeq", f"1 {method}"),
            *headers], body)
        result = self.stack.send_request(request, flow).addErrback(_transaction_failed)
        if method == "INVITE":
            result.addCallback(self._ack_inbound_invite, request, flow)
        return result

    def _ack_inbound_invite(self, response: Response | TransactionFailed, invite: Request,
                            flow: Flow) -> Response | TransactionFailed:
        if isinstance(response, Response) and 200 <= response.status < 300:
            target = response.contacts[0].sip_uri if response.contacts else invite.uri
            via = Via(flow.transport, flow.local[0], flow.local[1],
                      (("branch", new_branch(self.rng)), ("rport", None)))
            ack = Request("ACK", target, [
                ("Via", via), ("Max-Forwards", 70), ("From", invite.headers.get("From")),
                ("To", response.headers.get("To")), ("Call-ID", invite.call_id),
                ("CSeq", f"{invite.cseq.seq} ACK")])
            self.stack.send_stateless(ack, flow)
        return response

    def add_account(self, user: str, password: str) -> None:
        """Serve digest account ``user`` (kept if it exists): turns authentication on."""
        self.config.users.setdefault(user, password)

    def bindings(self, aor: str) -> list[Binding]:
        return self.location.lookup(aor, self.reactor.seconds())

    def _tag(self) -> str:
        return f"{self.rng.getrandbits(48):012x}"


def _transaction_failed(failure: Failure) -> TransactionFailed:
    """A transaction that failed is a result of its own; any other failure stays one."""
    if isinstance(failure.value, TransactionFailed):
        return failure.value
    failure.raiseException()


def _credentials_for(realm: str, values: list[str]) -> Credentials | None:
    """The credentials for ``realm`` among a request's Authorization or
    Proxy-Authorization values, else the first (which then fails on its realm).

    RFC 3261 §20.28: a value applies only to the proxy whose realm it names, so a
    request that passed other proxies may carry several. Malformed credentials raise
    :class:`RemoteProtocolError` (answered 400).
    """
    first: Credentials | None = None
    for value in values:
        credentials = Credentials.parse(value)
        if credentials.realm == realm:
            return credentials
        if first is None:
            first = credentials
    return first


def _user_of(request: Request) -> str:
    try:
        return aor_of(request.to.uri) if request.method == "REGISTER" else str(request.from_.uri)
    except (RemoteProtocolError, RegisterRejected):
        return ""


def _transport_param(flow: Flow) -> tuple[tuple[str, str], ...]:
    """The contact's ``transport=`` parameter for ``flow`` (none for UDP; RFC 7118 §5.2)."""
    param = flow.transport.contact_param
    return () if param is None else (("transport", param),)


@functools.lru_cache(maxsize=4)
def _http_date_of_second(second: int) -> str:
    """The Date header of one second (formatted once per second, not per response)."""
    return formatdate(second, usegmt=True)
