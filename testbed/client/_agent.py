"""The SIP endpoint under test: registers, pings, calls, answers, keeps flows alive.

:class:`UserAgent` is the transaction user of one :class:`SipStack`. Each operation
returns an :class:`Outcome` (never raises for a network failure): it walks the ordered
targets the locator gives, drives the sans-IO rules of :mod:`._operations` (digest,
423, failover, RFC 3261 §18.1.1) on each, and records every exchange. Inbound requests
are answered by an :class:`InboundAnswerer` and recorded in :attr:`UserAgent.inbound`,
which is how NAT and keep-alive cases are seen.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall
from twisted.python.failure import Failure

from testbed.dns import Target
from testbed.reactor import IReactor
from testbed.sip import (
    Address,
    DigestClient,
    RemoteProtocolError,
    Request,
    Response,
    SipUri,
    Transport,
    Via,
    build_offer,
    fmt_hostport,
    make_cancel,
    new_branch,
    parse_sdp,
)
from testbed.transport import (
    ClientTlsCreator,
    ConnectFailed,
    Flow,
    KeyLog,
    ServerContext,
    SipStack,
    TlsHandshakeRecord,
    Trace,
    TransactionFailed,
    client_tls_options,
)

from ._config import ClientConfig
from ._drive import drive
from ._inbound import ALLOW, InboundAnswerer, InboundRequest, inbound_record
from ._journey import Journey, RegistrationState, Sent
from ._locate import Located, Locator, StaticLocator
from ._operations import (
    Note,
    Operation,
    Registration,
    RequestSequence,
    SendRequest,
    Verdict,
    contact_address,
    should_fail_over,
    targets_in_order,
    udp_size_decision,
)
from ._outcome import CallDetails, Dialog, Exchange, Outcome

RequestBuilder = Callable[[SendRequest, Flow], Request]
ResponseWatcher = Callable[[Request, Flow], Callable[[Response], None]]


class UserAgent:
    """A SIP user agent driven by its :class:`ClientConfig`."""

    def __init__(self, reactor: IReactor, config: ClientConfig, *, trace: Trace | None = None,
                 locator: Locator | StaticLocator | None = None,
                 name: str = "client") -> None:
        self.reactor = reactor
        self.config = config
        self.rng = random.Random(config.seed)
        self.stack = SipStack(reactor, self, timers=config.timers, trace=trace, name=name,
                              connect_timeout=config.connect_timeout)
        self.trace = self.stack.trace
        self.locator: Locator | StaticLocator = locator or Locator(config, reactor)
        self.digest = DigestClient(config.auth_username, config.password or "")
        self.registration = RegistrationState(RequestSequence(self._token(16) + "@testbed"))
        self.answerer = InboundAnswerer(user=config.aor.user, secure=config.registrar.secure,
                                        answer_status=config.answer_status, rng=self.rng,
                                        tag=lambda: self._token(10))
        self.flow: Flow | None = None
        self.inbound: list[InboundRequest] = []
        self.outcomes: list[Outcome] = []
        self.pongs = 0
        self._waiters: list[tuple[str | None, defer.Deferred[Outcome]]] = []
        self._keepalive: IDelayedCall | None = None
        self.stack.on_pong.append(self._pong)
        self._tls: ClientTlsCreator | None = None

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Bind the UDP socket (always: inbound UDP and the §18.1.1 switch need one)."""
        self.stack.listen_udp(self.config.local_host, 0)

    def stop(self) -> defer.Deferred[list[tuple[bool, Any]]]:
        """Cancel the refresh and keep-alives, close every socket and connection."""
        self._cancel_refresh()
        if self._keepalive is not None and self._keepalive.active():
            self._keepalive.cancel()
        self._keepalive = None
        self.locator.close()
        return self.stack.stop()

    # -- operations ---------------------------------------------------------------------

    def register(self, expires: int | None = None) -> defer.Deferred[Outcome]:
        """REGISTER (with digest, 423 handling and failover); Deferred[Outcome]."""
        return defer.ensureDeferred(self._register(expires))

    def unregister(self) -> defer.Deferred[Outcome]:
        """REGISTER with Expires: 0 for our contact (RFC 3261 §10.2.2)."""
        return defer.ensureDeferred(self._register(0))

    def options(self, uri: SipUri | None = None, *,
                size: int | None = None) -> defer.Deferred[Outcome]:
        """OPTIONS to ``uri`` (default: the registrar); Deferred[Outcome].

        ``size``: pad the request to about that many bytes with an SDP body (RFC 3261
        §11.1 lets OPTIONS carry one), to see whether large requests get through.
        """
        return defer.ensureDeferred(self._options(uri, size))

    def call(self, uri: SipUri, sdp_size: int | None = None) -> defer.Deferred[Outcome]:
        """INVITE ``uri`` with an SDP offer of ``sdp_size`` bytes; ACK a 2xx.

        Deferred[Outcome] whose ``call.dialog`` is the :class:`Dialog` on success.
        """
        return defer.ensureDeferred(self._call(uri, sdp_size))

    def hangup(self, dialog: Dialog) -> defer.Deferred[Outcome]:
        """BYE within ``dialog``; Deferred[Outcome]."""
        return defer.ensureDeferred(self._bye(dialog))

    def next_outcome(self, operation: str | None = None) -> defer.Deferred[Outcome]:
        """A Deferred of the next finished operation (e.g. the next automatic refresh)."""
        waiter: defer.Deferred[Outcome] = defer.Deferred()
        self._waiters.append((operation, waiter))
        return waiter

    @property
    def last_tls_handshake(self) -> TlsHandshakeRecord | None:
        """What the most recent TLS handshake (TLS or WSS) saw: certificate, failure."""
        return self._tls.last_record if self._tls is not None else None

    @property
    def keepalives_running(self) -> bool:
        """Whether keep-alives are being sent on the registration flow."""
        return self._keepalive is not None

    def start_keepalives(self, interval: float | None = None) -> None:
        """Send a keep-alive on the registration flow every ``interval`` seconds."""
        interval = interval or self.config.keepalive_interval
        if not interval:
            raise ValueError("no keep-alive interval configured")

        def tick() -> None:
            flow = self.registration.flow
            if flow is not None and not flow.closed:
                flow.send_keepalive()
            self._keepalive = self.reactor.callLater(interval, tick)

        self._keepalive = self.reactor.callLater(interval, tick)

    # -- register -----------------------------------------------------------------------

    async def _register(self, expires: int | None) -> Outcome:
        expires = self.config.expires if expires is None else expires
        operation = "unregister" if expires == 0 else "register"
        journey = Journey(self.reactor.seconds())
        journey.located = await self.locator.locate()
        if not journey.located.targets:
            return self._finish(self._unresolved(operation, journey), journey)
        outcome: Outcome | None = None
        for target in self._targets(journey.located):
            outcome = await self._register_at(target, operation, expires, journey)
            if outcome.ok or not should_fail_over(outcome.error, outcome.status):
                break
        assert outcome is not None
        return self._finish(outcome, journey)

    async def _register_at(self, target: Target, operation: str, expires: int,
                           journey: Journey) -> Outcome:
        flow = await self._flow(target, journey, "REGISTER")
        if isinstance(flow, Exchange):
            return self._failure(operation, flow, journey)
        contact = contact_address(flow.transport, flow.local, self.config.aor.user,
                                  secure=self.config.registrar.secure)

        def build(action: SendRequest, flow: Flow) -> Request:
            return self._request("REGISTER", self._registrar_uri(), flow, action,
                                 to=Address(self.config.aor),
                                 call_id=self.registration.call_id,
                                 headers=[("Contact", contact)])

        registration = Registration(
            self.registration.sequence, expires=expires, contact=contact.sip_uri,
            refresh_ratio=self.config.refresh_ratio, digest=self._digest(),
            cnonce=lambda: self._token(12))
        verdict, sent = await self._perform(registration, flow, journey, build)
        if not verdict.ok:
            return self._unsuccessful(operation, verdict, journey)
        return self._registered(operation, verdict, sent.flow, contact, journey)

    def _registered(self, operation: str, verdict: Verdict, flow: Flow, contact: Address,
                    journey: Journey) -> Outcome:
        reg = self.registration
        where = f"{fmt_hostport(flow.remote)}/{flow.transport}"
        outcome = Outcome(operation, True, "", status=verdict.status, reason=verdict.reason,
                          transport=flow.transport, remote=flow.remote, expires=verdict.expires)
        if operation == "register":
            reg.flow, reg.contact, reg.expires = flow, contact, verdict.expires
            reg.registered_at = self.reactor.seconds()
            self.flow = flow
            self._schedule_refresh(verdict.refresh_at)
            outcome.summary = (f"REGISTERED {self.config.aor} via {where}: {verdict.status} "
                               f"{verdict.reason}, expires {verdict.expires} s")
        else:
            self._cancel_refresh()
            reg.flow = reg.expires = reg.registered_at = None
            outcome.summary = (f"UNREGISTERED {self.config.aor} via {where}: "
                               f"{verdict.status} {verdict.reason}")
        return outcome

    def _schedule_refresh(self, at: float | None) -> None:
        self._cancel_refresh()
        if at is not None:
            delay = max(0.0, at - self.reactor.seconds())
            self.registration.refresh = self.reactor.callLater(delay, self._refresh)

    def _refresh(self) -> None:
        self.registration.refresh = None
        self.register()

    def _cancel_refresh(self) -> None:
        pending = self.registration.refresh
        if pending is not None and pending.active():
            pending.cancel()
        self.registration.refresh = None

    # -- options, call, bye -------------------------------------------------------------

    async def _options(self, uri: SipUri | None, size: int | None) -> Outcome:
        journey = Journey(self.reactor.seconds())
        journey.located = await self.locator.locate()
        target_uri = uri or self._registrar_uri()
        outcome: Outcome | None = None
        for target in self._targets(journey.located):
            flow = await self._flow(target, journey, "OPTIONS")
            if isinstance(flow, Exchange):
                outcome = self._failure("options", flow, journey)
            else:
                outcome = await self._options_at(flow, target_uri, journey, size)
            if outcome.ok or not should_fail_over(outcome.error, outcome.status):
                break
        if outcome is None:
            outcome = self._unresolved("options", journey)
        return self._finish(outcome, journey)

    async def _options_at(self, flow: Flow, uri: SipUri, journey: Journey,
                          size: int | None) -> Outcome:
        sequence = RequestSequence(self._token(16))
        session_id = self.rng.randrange(1, 2**31)

        def build(action: SendRequest, flow: Flow) -> Request:
            request = self._request("OPTIONS", uri, flow, action, to=Address(uri),
                                    call_id=sequence.call_id,
                                    headers=[("Accept", "application/sdp")])
            if size is None:
                return request
            headers = len(request.to_bytes()) + len("Content-Type: application/sdp\r\n")
            body = build_offer(address=flow.local[0], port=40000, session_id=session_id,
                               size=max(size - headers - 4, 200)).to_bytes()
            return self._request("OPTIONS", uri, flow, action, to=Address(uri),
                                 call_id=sequence.call_id, body=body, headers=[
                                     ("Accept", "application/sdp"),
                                     ("Content-Type", "application/sdp")])

        operation = Operation("OPTIONS", sequence, digest=self._digest(),
                              cnonce=lambda: self._token(12))
        verdict, sent = await self._perform(operation, flow, journey, build)
        if not verdict.ok:
            return self._unsuccessful("options", verdict, journey, label="OPTIONS")
        return Outcome("options", True, f"OPTIONS answered: {verdict.status} {verdict.reason} "
                       f"from {journey.exchanges[-1].where}", status=verdict.status,
                       reason=verdict.reason, transport=sent.flow.transport,
                       remote=sent.flow.remote)

    async def _call(self, uri: SipUri, sdp_size: int | None) -> Outcome:
        journey = Journey(self.reactor.seconds())
        flow = self.flow
        if flow is None or flow.closed:
            journey.located = await self.locator.locate()
            flow = None
            for target in self._targets(journey.located):
                opened = await self._flow(target, journey, "INVITE")
                if isinstance(opened, Flow):
                    flow = opened
                    break
            if flow is None:
                if journey.exchanges:
                    return self._finish(self._failure("call", journey.exchanges[-1], journey),
                                        journey)
                return self._finish(self._unresolved("call", journey), journey)
        sequence = RequestSequence(self._token(16) + "@testbed")
        local = Address(self.config.aor, params=(("tag", self._token(10)),))
        session_id = self.rng.randrange(1, 2**31)

        def build(action: SendRequest, flow: Flow) -> Request:
            offer = build_offer(address=flow.local[0], port=40000, session_id=session_id,
                                size=sdp_size)
            contact = contact_address(flow.transport, flow.local, self.config.aor.user,
                                      secure=self.config.registrar.secure)
            return self._request("INVITE", uri, flow, action, to=Address(uri),
                                 call_id=sequence.call_id, from_=local,
                                 body=offer.to_bytes(), headers=[
                                     ("Contact", contact),
                                     ("Content-Type", "application/sdp"), ("Allow", ALLOW)])

        invite = Operation("INVITE", sequence, digest=self._digest(),
                           cnonce=lambda: self._token(12))
        verdict, sent = await self._perform(invite, flow, journey, build, watch=self._reack_for)
        assert sent.request is not None
        details = CallDetails(len(sent.request.to_bytes()), sent.flow.transport)
        if not verdict.ok:
            outcome = self._unsuccessful("call", verdict, journey)
            outcome.call = details
            return self._finish(outcome, journey)
        assert verdict.response is not None
        dialog = details.dialog = self._dialog_from(sent.request, verdict.response, sent.flow)
        self.stack.send_stateless(self._ack(dialog, sent.request), sent.flow)
        try:
            answer = parse_sdp(verdict.response.body)
            codecs = ", ".join(c.encoding for m in answer.media for c in m.codecs())
        except RemoteProtocolError as exc:
            codecs = f"unreadable SDP answer: {exc.reason}"
        return self._finish(Outcome(
            "call", True, f"CALL ESTABLISHED with {uri} via {journey.exchanges[-1].where}: "
            f"{verdict.status} {verdict.reason} (INVITE {details.invite_size} bytes; "
            f"codecs {codecs})", status=verdict.status, reason=verdict.reason,
            transport=sent.flow.transport, remote=sent.flow.remote, call=details), journey)

    async def _bye(self, dialog: Dialog) -> Outcome:
        journey = Journey(self.reactor.seconds())
        sequence = RequestSequence(dialog.call_id, dialog.cseq)

        def build(action: SendRequest, flow: Flow) -> Request:
            return self._request("BYE", dialog.remote_target, flow, action, to=dialog.remote,
                                 call_id=dialog.call_id, from_=dialog.local,
                                 headers=[("Route", r) for r in dialog.route_set])

        bye = Operation("BYE", sequence, digest=self._digest(), cnonce=lambda: self._token(12))
        verdict, _ = await self._perform(bye, dialog.flow, journey, build)
        dialog.cseq = sequence.cseq
        if not verdict.ok:
            return self._finish(self._unsuccessful("bye", verdict, journey, label="CALL BYE"),
                                journey)
        return self._finish(Outcome(
            "bye", True, f"CALL ENDED: {verdict.status} {verdict.reason} from "
            f"{journey.exchanges[-1].where}", status=verdict.status, reason=verdict.reason,
            transport=dialog.flow.transport, remote=dialog.flow.remote), journey)

    def _dialog_from(self, invite: Request, response: Response, flow: Flow) -> Dialog:
        contacts = response.contacts
        remote_target = contacts[0].sip_uri if contacts else invite.uri
        assert isinstance(remote_target, SipUri)
        route_set = list(reversed(response.headers.values("Record-Route")))
        return Dialog(invite.call_id, invite.from_, response.to, remote_target, route_set,
                      invite.cseq.seq, flow)

    def _ack(self, dialog: Dialog, invite: Request) -> Request:
        """The ACK for a 2xx: a new transaction-less request (RFC 3261 §13.2.2.4)."""
        ack = SendRequest("ACK", invite.cseq.seq)
        return self._request("ACK", dialog.remote_target, dialog.flow, ack, to=dialog.remote,
                             call_id=dialog.call_id, from_=dialog.local,
                             headers=[("Route", r) for r in dialog.route_set])

    def _reack_for(self, invite: Request, flow: Flow) -> Callable[[Response], None]:
        """Re-ACK retransmitted 2xx responses (RFC 6026 Accepted state delivers them)."""
        seen: list[int] = []

        def on_response(response: Response) -> None:
            if 200 <= response.status < 300:
                seen.append(response.status)
                if len(seen) > 1:
                    dialog = self._dialog_from(invite, response, flow)
                    self.stack.send_stateless(self._ack(dialog, invite), flow)

        return on_response

    # -- inbound requests (TransactionUser) ---------------------------------------------

    def request_received(self, context: ServerContext) -> None:
        answered = self.answerer.answer(context)
        self.inbound.append(inbound_record(self.reactor.seconds(), context.request,
                                           context.flow, answered))

    def ack_received(self, ack: Request, flow: Flow) -> None:
        self.inbound.append(inbound_record(self.reactor.seconds(), ack, flow, 0))

    def stray_response(self, response: Response, flow: Flow) -> None:
        pass  # recorded in the trace by the flow

    def flow_closed(self, flow: Flow, reason: str) -> None:
        if self.flow is flow:
            self.flow = None

    def _pong(self, flow: Flow) -> None:
        self.pongs += 1

    # -- building blocks ----------------------------------------------------------------

    def _targets(self, located: Located) -> list[Target]:
        """Targets in order; a live registration flow goes first (connection reuse)."""
        flow = self.registration.flow
        if flow is None or flow.closed:
            return list(located.targets)
        host, port = flow.remote
        current = Target(flow.transport, host, port, host, "the registered flow")
        return targets_in_order(located.targets, current)

    async def _flow(self, target: Target, journey: Journey, method: str) -> Flow | Exchange:
        """An open flow to ``target``, or the failed :class:`Exchange` that says why."""
        address = target.address or target.host
        secure = target.transport in ("TLS", "WSS")
        try:
            flow: Flow = await self.stack.connect(
                target.transport, address, target.port,
                tls_creator=self._tls_creator() if secure else None,
                ws_path=self.config.ws_path, server_name=self.config.tls_server_name)
        except ConnectFailed as failure:
            now = self.reactor.seconds()
            exchange = Exchange(method, target.transport, (address, target.port), now,
                                ended=now, error=failure.kind, detail=failure.reason,
                                transmissions=0, tls_failure=failure.tls_failure)
            journey.exchanges.append(exchange)
            return exchange
        if secure and self.config.insecure:
            self._note_insecure(flow, journey)
        return flow

    def _note_insecure(self, flow: Flow, journey: Journey) -> None:
        """Insecure trust accepted this flow's certificate: say what would have failed."""
        record = self._tls.record_for(flow.connection) if self._tls is not None else None
        problem = record.would_have_failed if record is not None else None
        if problem is None:
            return
        text = (f"{fmt_hostport(flow.remote)}/{flow.transport}: certificate accepted only "
                f"because trust is insecure; with verification: {problem}")
        if all(note.text != text for note in journey.notes):
            journey.notes.append(Note("insecure-trust", text))

    async def _perform(self, operation: Operation, flow: Flow, journey: Journey,
                       build: RequestBuilder,
                       watch: ResponseWatcher | None = None) -> tuple[Verdict, Sent]:
        """Drive ``operation`` on ``flow``: every request built for the flow it goes on
        (RFC 3261 §18.1.1 may move it to TCP), every exchange recorded."""
        sent = Sent(flow)

        async def send(action: SendRequest) -> tuple[Request, Response]:
            sent.flow, request = await self._flow_for_size(
                sent.flow, lambda flow: build(action, flow), journey)
            sent.request = request
            on_response = watch(request, sent.flow) if watch is not None else None
            response = await self._exchange(request, sent.flow, journey, on_response)
            return request, response

        try:
            return await drive(operation, send, self.reactor), sent
        finally:
            journey.notes.extend(operation.notes)

    async def _flow_for_size(self, flow: Flow, build: Callable[[Flow], Request],
                             journey: Journey) -> tuple[Flow, Request]:
        """The flow and request to send: RFC 3261 §18.1.1 on the request's real
        serialised size over UDP, by the configured policy; the trace and the journey's
        notes say what was decided."""
        request = build(flow)
        if flow.transport != "UDP":
            return flow, request
        size = len(request.to_bytes())
        decision = udp_size_decision(request.method, size, path_mtu=self.config.path_mtu,
                                     policy=self.config.udp_large_message)
        if not decision.why:
            return flow, request
        self.trace.record("note", "UDP", remote=flow.remote, summary=decision.why)
        if not decision.switch:
            journey.notes.append(Note("large-udp-request", decision.why))
            return flow, request
        journey.notes.append(Note("udp-to-tcp-switch", decision.why))
        target = Target(Transport.TCP, flow.remote[0], flow.remote[1], flow.remote[0],
                        "RFC 3261 §18.1.1 switch to TCP")
        switched = await self._flow(target, journey, request.method)
        if isinstance(switched, Flow):
            return switched, build(switched)
        why = (f"TCP to {switched.where} failed ({switched.detail}): sending the "
               f"{size}-byte {request.method} over UDP (RFC 3261 §18.1.1)")
        self.trace.record("note", "UDP", remote=flow.remote, summary=why)
        journey.notes.append(Note("large-udp-request", why))
        return flow, request

    def _tls_creator(self) -> ClientTlsCreator:
        if self._tls is None:
            keylog = KeyLog(self.config.keylog) if self.config.keylog else None
            self._tls = client_tls_options(self.config.tls_server_name, self.config.trust(),
                                           keylog=keylog)
        return self._tls

    def _digest(self) -> DigestClient | None:
        """The credentials to answer challenges with; None when no password is set."""
        return self.digest if self.config.password is not None else None

    def _registrar_uri(self) -> SipUri:
        return self.config.registrar.replace(user=None, password=None, headers=())

    def _request(self, method: str, uri: SipUri, flow: Flow, action: SendRequest, *,
                 to: Address, call_id: str, headers: list[tuple[str, object]],
                 from_: Address | None = None, body: bytes = b"") -> Request:
        via = Via(flow.transport, flow.local[0], flow.local[1],
                  (("branch", new_branch(self.rng)), ("rport", None)))
        sender = from_ or Address(self.config.aor, params=(("tag", self._token(10)),))
        fields: list[tuple[str, object]] = [
            ("Via", via), ("Max-Forwards", 70), ("From", sender), ("To", to),
            ("Call-ID", call_id), ("CSeq", f"{action.cseq} {method}"),
            ("User-Agent", self.config.user_agent), *headers, *action.headers]
        return Request(method, uri, fields, body)

    async def _exchange(self, request: Request, flow: Flow, journey: Journey,
                        on_response: Callable[[Response], None] | None = None) -> Response:
        """Send ``request`` as a client transaction and record it as an :class:`Exchange`;
        :class:`TransactionFailed` (recorded too) when no final response came."""
        branch = request.top_via.branch or ""
        exchange = Exchange(request.method, flow.transport, flow.remote, self.reactor.seconds(),
                            branch=branch, transmissions=0, size=len(request.to_bytes()))
        journey.exchanges.append(exchange)

        def transmitted(retransmission: bool) -> None:
            exchange.transmissions += 1

        pending = self.stack.send_request(request, flow, on_response, on_transmit=transmitted)
        if request.method == "INVITE":
            pending = self._bounded_by_timer_c(pending, request, flow)
        try:
            response: Response = await pending
        except TransactionFailed as failure:
            exchange.ended = self.reactor.seconds()
            exchange.error = (failure.kind if failure.kind in ("timeout", "refused", "unreachable")
                              else "transport")
            exchange.detail = failure.reason
            exchange.timer = failure.timer
            raise
        exchange.ended = self.reactor.seconds()
        exchange.status, exchange.reason = response.status, response.reason
        if response.status == 503:
            exchange.retry_after = _retry_after(response)
        return response

    def _bounded_by_timer_c(self, pending: defer.Deferred[Response], invite: Request,
                            flow: Flow) -> defer.Deferred[Response]:
        """An INVITE that has no final response within Timer C fails as a timeout, and
        is CANCELled (RFC 3261 §9.1, §16.6 point 11): a lost final response after 100
        Trying would otherwise keep the call waiting forever."""
        limit = self.config.timers.timer_c

        def expired(failure: Failure) -> Failure:
            if not failure.check(defer.TimeoutError):
                return failure
            self.stack.send_request(make_cancel(invite), flow).addErrback(lambda _: None)
            return Failure(TransactionFailed(
                "timeout", f"no final response to INVITE within {limit:g} s (Timer C, "
                           "RFC 3261 §16.6; CANCEL sent)", timer="C"))

        return pending.addTimeout(limit, self.reactor).addErrback(expired)

    # -- outcomes -----------------------------------------------------------------------

    def _unresolved(self, operation: str, journey: Journey) -> Outcome:
        return Outcome(operation, False, f"{operation} failed: {journey.located.error}",
                       error="dns")

    def _unsuccessful(self, operation: str, verdict: Verdict, journey: Journey,
                      label: str | None = None) -> Outcome:
        """The outcome of an operation that ended without success on its last exchange."""
        exchange = journey.exchanges[-1]
        if verdict.response is None:
            return self._failure(operation, exchange, journey)
        summary = (f"{label or operation} failed: {verdict.status} {verdict.reason} "
                   f"from {exchange.where}")
        if verdict.error == "auth":
            exchange.error, exchange.detail = "auth", verdict.detail
            summary = f"{summary}: {verdict.detail}"
        return Outcome(operation, False, summary, status=verdict.status, reason=verdict.reason,
                       error=verdict.error, transport=exchange.transport,
                       remote=exchange.remote)

    def _failure(self, operation: str, exchange: Exchange, journey: Journey) -> Outcome:
        """The outcome of an exchange that got no response (connect or transaction)."""
        summary = f"{operation} failed: {exchange.describe_failure(self.config.timers)}"
        return Outcome(operation, False, summary, status=exchange.status, reason=exchange.reason,
                       error=exchange.error or "error", transport=exchange.transport,
                       remote=exchange.remote, tls_failure=exchange.tls_failure)

    def _finish(self, outcome: Outcome, journey: Journey) -> Outcome:
        """Complete ``outcome`` with its journey, keep it, and wake who waits for it."""
        outcome.exchanges = journey.exchanges
        outcome.resolution = journey.located.trace
        outcome.queries = journey.located.queries
        outcome.notes = journey.notes
        outcome.started = journey.started
        outcome.ended = self.reactor.seconds()
        self.outcomes.append(outcome)
        waiting, self._waiters = self._waiters, []
        for operation, waiter in waiting:
            if operation in (None, outcome.operation):
                waiter.callback(outcome)
            else:
                self._waiters.append((operation, waiter))
        return outcome

    def _token(self, length: int) -> str:
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(self.rng.choice(alphabet) for _ in range(length))


def _retry_after(response: Response) -> int | None:
    """The seconds of a Retry-After header (RFC 3261 §20.33), if it has any."""
    value = response.headers.get("Retry-After") or ""
    digits = value.strip().split(";")[0].split("(")[0].strip()
    return int(digits) if digits.isdigit() else None


__all__ = ["RegistrationState", "UserAgent"]
