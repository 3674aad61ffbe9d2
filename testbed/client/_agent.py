"""The SIP endpoint under test: registers, pings, calls, answers, keeps flows alive.

:class:`UserAgent` is the transaction user of one :class:`SipStack`. Each operation
returns an :class:`Outcome` (never raises for a network failure): it walks the ordered
targets the locator gives (RFC 3263 §4.3 failover on timeout, refused connection,
failed TLS/WebSocket set-up or 503), answers digest challenges, and records every
exchange. Inbound requests (OPTIONS, INVITE, BYE) from the registrar are answered and
recorded in :attr:`UserAgent.inbound`, which is how NAT and keep-alive cases are seen.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet import defer

from testbed.sip import (
    Address,
    Challenge,
    ChallengeVerdict,
    DigestClient,
    RemoteProtocolError,
    Request,
    Response,
    SipUri,
    Via,
    answer_for,
    build_offer,
    new_branch,
    parse_sdp,
)
from testbed.transport import (
    ConnectFailed,
    Flow,
    ServerContext,
    SipStack,
    Trace,
    TransactionFailed,
)

from ._config import ClientConfig
from ._locate import Located, Locator, Target
from ._outcome import CallDetails, Exchange, Outcome

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY"
MAX_AUTH_ROUNDS = 4


@dataclass
class Dialog:
    """An established call (RFC 3261 §12): what a BYE needs."""

    call_id: str
    local: Address
    remote: Address
    remote_target: SipUri
    route_set: list[str]
    cseq: int
    flow: Flow


@dataclass
class InboundRequest:
    """A request the client received (from the registrar, through NAT, ...)."""

    time: float
    method: str
    transport: str
    remote: tuple[str, int]
    answered: int
    call_id: str


@dataclass
class _Registration:
    call_id: str
    cseq: int = 0
    expires: int | None = None
    flow: Flow | None = None
    contact: Address | None = None
    refresh: object = None
    registered_at: float | None = None


class UserAgent:
    """A SIP user agent driven by its :class:`ClientConfig`."""

    def __init__(self, reactor: object, config: ClientConfig, *, trace: Trace | None = None,
                 locator: Locator | None = None, name: str = "client") -> None:
        self.reactor = reactor
        self.config = config
        self.rng = random.Random(config.seed)
        self.stack = SipStack(reactor, self, timers=config.timers, trace=trace, name=name,
                              connect_timeout=config.connect_timeout)
        self.trace = self.stack.trace
        self.locator = locator or Locator(config, reactor, self.trace)
        self.digest = DigestClient(config.auth_username, config.password or "")
        self.registration = _Registration(call_id=self._token(16) + "@testbed")
        self.flow: Flow | None = None
        self.inbound: list[InboundRequest] = []
        self.outcomes: list[Outcome] = []
        self.pongs = 0
        self._waiters: list[tuple[str | None, defer.Deferred]] = []
        self._keepalive = None
        self.stack.on_pong.append(self._pong)
        self._tls_creators: dict = {}

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Bind the UDP socket (always: inbound UDP and the §18.1.1 switch need one)."""
        self.stack.listen_udp(self.config.local_host, 0)

    def stop(self) -> defer.Deferred:
        self._cancel_refresh()
        if self._keepalive is not None and self._keepalive.active():
            self._keepalive.cancel()
        self._keepalive = None
        self.locator.close()
        return self.stack.stop()

    # -- operations ---------------------------------------------------------------------

    def register(self, expires: int | None = None) -> defer.Deferred:
        """REGISTER (with digest, 423 handling and failover); Deferred[Outcome]."""
        return defer.ensureDeferred(self._register(expires))

    def unregister(self) -> defer.Deferred:
        """REGISTER with Expires: 0 for our contact (RFC 3261 §10.2.2)."""
        return defer.ensureDeferred(self._register(0))

    def options(self, uri: SipUri | None = None) -> defer.Deferred:
        """OPTIONS to ``uri`` (default: the registrar); Deferred[Outcome]."""
        return defer.ensureDeferred(self._options(uri))

    def call(self, uri: SipUri, sdp_size: int | None = None) -> defer.Deferred:
        """INVITE ``uri`` with an SDP offer of ``sdp_size`` bytes; ACK a 2xx.

        Deferred[Outcome] whose ``call.dialog`` is the :class:`Dialog` on success.
        """
        return defer.ensureDeferred(self._call(uri, sdp_size))

    def hangup(self, dialog: Dialog) -> defer.Deferred:
        """BYE within ``dialog``; Deferred[Outcome]."""
        return defer.ensureDeferred(self._bye(dialog))

    def next_outcome(self, operation: str | None = None) -> defer.Deferred:
        """A Deferred of the next finished operation (e.g. the next automatic refresh)."""
        waiter: defer.Deferred = defer.Deferred()
        self._waiters.append((operation, waiter))
        return waiter

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
        started = self.reactor.seconds()
        exchanges: list[Exchange] = []
        located = await self._locate()
        if not located.targets:
            return self._finish(Outcome(operation, False, f"{operation} failed: {located.error}",
                                        error="dns", resolution=located.trace, started=started,
                                        ended=self.reactor.seconds()))
        last: Outcome | None = None
        for target in self._targets_for(operation, located):
            outcome = await self._register_at(target, expires, exchanges, located)
            outcome.started = started
            last = outcome
            if outcome.ok or not _should_fail_over(outcome):
                break
        assert last is not None
        return self._finish(last)

    async def _register_at(self, target: Target, expires: int, exchanges: list[Exchange],
                           located: Located) -> Outcome:
        operation = "unregister" if expires == 0 else "register"
        flow_or_failure = await self._flow(target, exchanges, "REGISTER")
        if not isinstance(flow_or_failure, Flow):
            return self._failure(operation, flow_or_failure, exchanges, located)
        flow = flow_or_failure
        reg = self.registration
        self.digest.start_request()
        auth: tuple[str, str] | None = None
        for _ in range(MAX_AUTH_ROUNDS + 2):
            reg.cseq += 1
            contact = self._contact(flow)
            headers: list[tuple[str, object]] = [("Contact", contact), ("Expires", expires)]
            if auth:
                headers.append(auth)
            request = self._request("REGISTER", self._registrar_uri(), flow,
                                    to=Address(self.config.aor), call_id=reg.call_id,
                                    cseq=reg.cseq, headers=headers)
            response, exchange = await self._exchange(request, flow, exchanges)
            if response is None:
                return self._failure(operation, exchange, exchanges, located)
            if response.status in (401, 407):
                auth_or_outcome = self._answer_challenge(operation, request, response,
                                                         exchanges, located)
                if isinstance(auth_or_outcome, Outcome):
                    return auth_or_outcome
                auth = auth_or_outcome
                continue
            if response.status == 423:
                minimum = response.headers.get("Min-Expires")
                if minimum and minimum.isdigit() and int(minimum) > expires:
                    expires = int(minimum)  # RFC 3261 §10.2.8: retry with Min-Expires
                    continue
            return self._registered(operation, response, flow, contact, expires, exchanges,
                                    located)
        return self._failure(operation, exchanges[-1], exchanges, located,
                             summary=f"{operation} failed: too many authentication rounds")

    def _registered(self, operation: str, response: Response, flow: Flow, contact: Address,
                    requested: int, exchanges: list[Exchange], located: Located) -> Outcome:
        reg = self.registration
        ok = 200 <= response.status < 300
        granted = _granted_expires(response, contact, requested) if ok else None
        outcome = Outcome(
            operation, ok, "", status=response.status, reason=response.reason,
            error=None if ok else "rejected", transport=flow.transport, remote=flow.remote,
            exchanges=exchanges, resolution=located.trace, expires=granted,
            ended=self.reactor.seconds())
        where = f"{_fmt(flow.remote)}/{flow.transport}"
        if ok and operation == "register":
            reg.flow, reg.contact, reg.expires = flow, contact, granted
            reg.registered_at = self.reactor.seconds()
            self.flow = flow
            self._schedule_refresh(granted)
            outcome.summary = (f"REGISTERED {self.config.aor} via {where}: {response.status} "
                               f"{response.reason}, expires {granted} s")
        elif ok:
            self._cancel_refresh()
            reg.flow = reg.expires = reg.registered_at = None
            outcome.summary = (f"UNREGISTERED {self.config.aor} via {where}: "
                               f"{response.status} {response.reason}")
        else:
            outcome.summary = (f"{operation} failed: {response.status} {response.reason} "
                               f"from {where}")
        return outcome

    def _schedule_refresh(self, expires: int | None) -> None:
        self._cancel_refresh()
        if expires:
            delay = max(0.001, expires * self.config.refresh_ratio)
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

    async def _options(self, uri: SipUri | None) -> Outcome:
        started = self.reactor.seconds()
        exchanges: list[Exchange] = []
        located = await self._locate()
        last: Outcome | None = None
        for target in self._targets_for("options", located):
            flow = await self._flow(target, exchanges, "OPTIONS")
            if not isinstance(flow, Flow):
                last = self._failure("options", flow, exchanges, located)
                if _should_fail_over(last):
                    continue
                break
            request = self._request("OPTIONS", uri or self._registrar_uri(), flow,
                                    to=Address(uri or self._registrar_uri()),
                                    call_id=self._token(16), cseq=1,
                                    headers=[("Accept", "application/sdp")])
            response, exchange = await self._exchange(request, flow, exchanges)
            if response is None:
                last = self._failure("options", exchange, exchanges, located)
                if _should_fail_over(last):
                    continue
                break
            ok = response.status < 300
            last = Outcome("options", ok, f"OPTIONS {'answered' if ok else 'failed'}: "
                           f"{response.status} {response.reason} from {exchange.where}",
                           status=response.status, reason=response.reason,
                           error=None if ok else "rejected", transport=flow.transport,
                           remote=flow.remote, exchanges=exchanges, resolution=located.trace)
            break
        if last is None:
            last = Outcome("options", False, f"options failed: {located.error}", error="dns",
                           resolution=located.trace)
        last.started = started
        return self._finish(last)

    async def _call(self, uri: SipUri, sdp_size: int | None) -> Outcome:
        started = self.reactor.seconds()
        exchanges: list[Exchange] = []
        flow = self.flow
        located = Located([], [], "")
        if flow is None or flow.closed:
            located = await self._locate()
            for target in self._targets_for("call", located):
                flow_or_failure = await self._flow(target, exchanges, "INVITE")
                if isinstance(flow_or_failure, Flow):
                    flow = flow_or_failure
                    break
            else:
                if exchanges:
                    return self._finish(self._failure("call", exchanges[-1], exchanges, located))
                return self._finish(Outcome("call", False, f"call failed: {located.error}",
                                            error="dns", resolution=located.trace))
        assert flow is not None
        call_id = self._token(16) + "@testbed"
        local = Address(self.config.aor, params=(("tag", self._token(10)),))
        self.digest.start_request()
        auth: tuple[str, str] | None = None
        cseq = 0
        for _ in range(MAX_AUTH_ROUNDS + 1):
            cseq += 1
            session_id = self.rng.randrange(1, 2**31)

            def invite(flow: Flow, cseq: int = cseq, auth: tuple | None = auth,
                       session_id: int = session_id) -> Request:
                offer = build_offer(address=flow.local[0], port=40000,
                                    session_id=session_id, size=sdp_size)
                headers: list[tuple[str, object]] = [("Contact", self._contact(flow)),
                                                     ("Content-Type", "application/sdp"),
                                                     ("Allow", ALLOW)]
                if auth:
                    headers.append(auth)
                return self._request("INVITE", uri, flow, to=Address(uri), call_id=call_id,
                                     cseq=cseq, headers=headers, from_=local,
                                     body=offer.to_bytes())

            flow, request = await self._flow_for_size(flow, invite, exchanges)
            response, exchange = await self._exchange(request, flow, exchanges,
                                                      on_response=self._reack_for(request, flow))
            details = CallDetails(len(request.to_bytes()), flow.transport)
            if response is None:
                failure = self._failure("call", exchange, exchanges, located)
                failure.call = details
                return self._finish(failure)
            if response.status in (401, 407):
                auth_or_outcome = self._answer_challenge("call", request, response, exchanges,
                                                         located)
                if isinstance(auth_or_outcome, Outcome):
                    return self._finish(auth_or_outcome)
                auth = auth_or_outcome
                continue
            where = exchange.where
            if response.status >= 300:
                return self._finish(Outcome(
                    "call", False, f"call failed: {response.status} {response.reason} from {where}",
                    status=response.status, reason=response.reason, error="rejected",
                    transport=flow.transport, remote=flow.remote, exchanges=exchanges,
                    started=started, ended=self.reactor.seconds(), call=details))
            dialog = details.dialog = self._dialog_from(request, response, flow)
            self.stack.send_stateless(self._ack(dialog, request), flow)
            codecs = ""
            try:
                answer = parse_sdp(response.body)
                codecs = ", ".join(c.encoding for m in answer.media for c in m.codecs())
            except RemoteProtocolError as exc:
                codecs = f"unreadable SDP answer: {exc.reason}"
            return self._finish(Outcome(
                "call", True, f"CALL ESTABLISHED with {uri} via {where}: {response.status} "
                f"{response.reason} (INVITE {len(request.to_bytes())} bytes; codecs {codecs})",
                status=response.status, reason=response.reason, transport=flow.transport,
                remote=flow.remote, exchanges=exchanges, started=started,
                ended=self.reactor.seconds(), call=details))
        return self._finish(self._failure("call", exchanges[-1], exchanges, located,
                                          summary="call failed: too many authentication rounds"))

    async def _bye(self, dialog: Dialog) -> Outcome:
        exchanges: list[Exchange] = []
        dialog.cseq += 1
        request = self._request("BYE", dialog.remote_target, dialog.flow, to=dialog.remote,
                                call_id=dialog.call_id, cseq=dialog.cseq, from_=dialog.local,
                                headers=[("Route", r) for r in dialog.route_set])
        response, exchange = await self._exchange(request, dialog.flow, exchanges)
        if response is None:
            return self._finish(self._failure("bye", exchange, exchanges, Located([], [], "")))
        ok = response.status < 300
        return self._finish(Outcome(
            "bye", ok, f"CALL {'ENDED' if ok else 'BYE failed'}: {response.status} "
            f"{response.reason} from {exchange.where}", status=response.status,
            reason=response.reason, error=None if ok else "rejected",
            transport=dialog.flow.transport, remote=dialog.flow.remote, exchanges=exchanges))

    def _dialog_from(self, invite: Request, response: Response, flow: Flow) -> Dialog:
        contacts = response.contacts
        remote_target = contacts[0].sip_uri if contacts else invite.uri
        route_set = list(reversed(response.headers.values("Record-Route")))
        return Dialog(invite.call_id, invite.from_, response.to, remote_target, route_set,
                      invite.cseq.seq, flow)

    def _ack(self, dialog: Dialog, invite: Request) -> Request:
        """The ACK for a 2xx: a new transaction-less request (RFC 3261 §13.2.2.4)."""
        return self._request("ACK", dialog.remote_target, dialog.flow, to=dialog.remote,
                             call_id=dialog.call_id, cseq=invite.cseq.seq, from_=dialog.local,
                             headers=[("Route", r) for r in dialog.route_set])

    def _reack_for(self, invite: Request, flow: Flow):
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
        request = context.request
        method = request.method
        to_tag = self._token(10)
        if method == "INVITE":
            status = self.config.answer_status
            if status >= 300:
                context.respond(status, to_tag=to_tag)
            else:
                context.respond(180, to_tag=to_tag)
                body = b""
                try:
                    offer = parse_sdp(request.body)
                    body = answer_for(offer, address=context.flow.local[0], port=41000,
                                      session_id=self.rng.randrange(1, 2**31)).to_bytes()
                except RemoteProtocolError:
                    status = 488
                if status == 488:
                    context.respond(488, to_tag=to_tag)
                else:
                    context.respond(200, to_tag=to_tag, body=body, headers=[
                        ("Contact", self._contact(context.flow)),
                        ("Content-Type", "application/sdp")])
        elif method in ("OPTIONS", "BYE", "MESSAGE", "NOTIFY", "CANCEL"):
            status = 200
            extra = [("Allow", ALLOW), ("Accept", "application/sdp")] if method == "OPTIONS" else []
            context.respond(200, to_tag=to_tag, headers=extra)
        else:
            status = 405
            context.respond(405, to_tag=to_tag, headers=[("Allow", ALLOW)])
        self.inbound.append(InboundRequest(self.reactor.seconds(), method, context.flow.transport,
                                           context.flow.remote, status, request.call_id))

    def ack_received(self, ack: Request, flow: Flow) -> None:
        self.inbound.append(InboundRequest(self.reactor.seconds(), "ACK", flow.transport,
                                           flow.remote, 0, ack.call_id))

    def stray_response(self, response: Response, flow: Flow) -> None:
        pass  # recorded in the trace by the flow

    def flow_closed(self, flow: Flow, reason: str) -> None:
        if self.flow is flow:
            self.flow = None

    def _pong(self, flow: Flow) -> None:
        self.pongs += 1

    # -- building blocks ----------------------------------------------------------------

    async def _locate(self) -> Located:
        return await self.locator.locate()

    def _targets_for(self, operation: str, located: Located) -> list[Target]:
        """Targets in order; a live registration flow goes first (connection reuse)."""
        targets = list(located.targets)
        reg = self.registration
        if reg.flow is not None and not reg.flow.closed:
            host, port = reg.flow.remote
            current = Target(reg.flow.transport, host, port, host, "the registered flow")
            targets = [current] + [t for t in targets if t != current]
        return targets

    async def _flow(self, target: Target, exchanges: list[Exchange],
                    method: str) -> Flow | Exchange:
        """An open flow to ``target``, or the failed :class:`Exchange` that says why."""
        address = target.address or target.host
        try:
            return await self.stack.connect(
                target.transport, address, target.port,
                tls_creator=self._tls_creator() if target.transport in ("TLS", "WSS") else None,
                ws_path=self.config.ws_path, server_name=self.config.tls_server_name)
        except ConnectFailed as failure:
            now = self.reactor.seconds()
            exchange = Exchange(method, target.transport, (address, target.port), now,
                                ended=now, error=failure.kind, detail=failure.reason,
                                transmissions=0, tls_failure=failure.tls_failure)
            exchanges.append(exchange)
            return exchange

    async def _flow_for_size(self, flow: Flow, build: Callable[[Flow], Request],
                             exchanges: list[Exchange]) -> tuple[Flow, Request]:
        """RFC 3261 §18.1.1, on the request's real serialised size over UDP: within 200
        bytes of the path MTU (``path_mtu``), or over 1300 bytes when it is unknown, the
        request goes over TCP (to the same address and port) if the policy is
        ``switch-to-tcp``; with ``send`` it goes over UDP anyway. Either way, a line in
        the trace says so. Returns the flow and the request built for it."""
        request = build(flow)
        if flow.transport != "UDP":
            return flow, request
        size = len(request.to_bytes())
        mtu = self.config.path_mtu
        limit = mtu - 200 if mtu else 1300
        if size <= limit:
            return flow, request
        why = (f"{request.method} of {size} bytes is over {limit} bytes "
               + (f"(within 200 bytes of the path MTU {mtu})" if mtu else
                  "(1300: the path MTU is unknown)"))
        if self.config.udp_large_message != "switch-to-tcp":
            self.trace.record("note", "UDP", remote=flow.remote,
                              summary=f"{why}: sent over UDP anyway (udp_large_message: send; "
                                      "RFC 3261 §18.1.1 asks for TCP)")
            return flow, request
        self.trace.record("note", "UDP", remote=flow.remote,
                          summary=f"{why}: switching to TCP (RFC 3261 §18.1.1)")
        target = Target("TCP", flow.remote[0], flow.remote[1], flow.remote[0],
                        "RFC 3261 §18.1.1 switch to TCP")
        switched = await self._flow(target, exchanges, request.method)
        if isinstance(switched, Flow):
            return switched, build(switched)
        self.trace.record("note", "UDP", remote=flow.remote,
                          summary=f"TCP to {switched.where} failed ({switched.detail}): "
                                  f"sending the {size}-byte {request.method} over UDP "
                                  "(RFC 3261 §18.1.1)")
        return flow, request

    def _tls_creator(self) -> object:
        from testbed.transport import TrustConfig, client_tls_options

        name = self.config.tls_server_name
        creator = self._tls_creators.get(name)
        if creator is None:
            if self.config.ca_pem is not None:
                trust = TrustConfig.from_ca_pem(self.config.ca_pem)
            elif self.config.ca_file:
                trust = TrustConfig.from_ca_file(self.config.ca_file)
            else:
                trust = TrustConfig.system()
            if self.config.insecure:
                # still verify against the given trust, to report what would have failed
                trust = TrustConfig.insecure(diagnose_with=trust)
            creator = client_tls_options(name, trust, keylog=self._keylog())
            self._tls_creators[name] = creator
        return creator

    def _keylog(self) -> object:
        if not self.config.keylog:
            return None
        from testbed.transport import KeyLog

        return KeyLog(self.config.keylog)

    def _registrar_uri(self) -> SipUri:
        registrar = self.config.registrar
        return registrar.replace(user=None, password=None, headers=())

    def _contact(self, flow: Flow) -> Address:
        params: tuple = ()
        if flow.transport != "UDP":
            # RFC 7118 §5.2: "ws" for both WS and WSS contacts.
            name = "ws" if flow.transport in ("WS", "WSS") else flow.transport.lower()
            params = (("transport", name),)
        scheme = "sips" if self.config.registrar.secure else "sip"
        uri = SipUri(host=flow.local[0], port=flow.local[1], user=self.config.aor.user,
                     params=params, scheme=scheme)
        return Address(uri)

    def _request(self, method: str, uri: SipUri, flow: Flow, *, to: Address, call_id: str,
                 cseq: int, headers: list = (), from_: Address | None = None,
                 body: bytes = b"") -> Request:
        via = Via(flow.transport, flow.local[0], flow.local[1],
                  (("branch", new_branch(self.rng)), ("rport", None)))
        sender = from_ or Address(self.config.aor, params=(("tag", self._token(10)),))
        fields: list[tuple[str, object]] = [
            ("Via", via), ("Max-Forwards", 70), ("From", sender), ("To", to),
            ("Call-ID", call_id), ("CSeq", f"{cseq} {method}"),
            ("User-Agent", self.config.user_agent)]
        fields.extend(headers)
        return Request(method, uri, fields, body)

    async def _exchange(self, request: Request, flow: Flow, exchanges: list[Exchange],
                        on_response=None) -> tuple[Response | None, Exchange]:
        branch = request.top_via.branch or ""
        exchange = Exchange(request.method, flow.transport, flow.remote, self.reactor.seconds(),
                            branch=branch)
        exchanges.append(exchange)
        try:
            response = await self.stack.send_request(request, flow, on_response)
        except TransactionFailed as failure:
            exchange.ended = self.reactor.seconds()
            exchange.error = (failure.kind if failure.kind in ("timeout", "refused", "unreachable")
                              else "transport")
            exchange.detail = failure.reason
            exchange.transmissions = self._transmissions(request.method, branch)
            return None, exchange
        exchange.ended = self.reactor.seconds()
        exchange.status, exchange.reason = response.status, response.reason
        exchange.transmissions = self._transmissions(request.method, branch)
        return response, exchange

    def _transmissions(self, method: str, branch: str) -> int:
        start = method.encode() + b" "
        needle = branch.encode()
        return sum(1 for e in self.trace.events
                   if e.kind == "sent" and e.data.startswith(start) and needle in e.data)

    def _answer_challenge(self, operation: str, request: Request, response: Response,
                          exchanges: list[Exchange], located: Located) -> tuple[str, str] | Outcome:
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        answer = "Authorization" if response.status == 401 else "Proxy-Authorization"
        challenges = []
        for value in response.headers.get_all(header):
            try:
                challenges.append(Challenge.parse(value))
            except RemoteProtocolError:
                continue
        decision = self.digest.on_challenge(challenges)
        if decision.verdict is not ChallengeVerdict.RETRY or self.config.password is None:
            why = decision.reason if self.config.password is not None else "no password configured"
            exchange = exchanges[-1]
            exchange.error = "auth"
            exchange.detail = why
            return Outcome(operation, False, f"{operation} failed: {response.status} "
                           f"{response.reason} from {exchange.where}: {why}",
                           status=response.status, reason=response.reason, error="auth",
                           transport=exchange.transport, remote=exchange.remote,
                           exchanges=exchanges, resolution=located.trace,
                           ended=self.reactor.seconds())
        assert decision.challenge is not None
        credentials = self.digest.authorize(decision.challenge, method=request.method,
                                            uri=str(request.uri), cnonce=self._token(12),
                                            body=request.body)
        return (answer, credentials.to_header())

    def _failure(self, operation: str, exchange: Exchange, exchanges: list[Exchange],
                 located: Located, summary: str | None = None) -> Outcome:
        if summary is None:
            summary = f"{operation} failed: {_describe_failure(exchange, self.config)}"
        return Outcome(operation, False, summary, status=exchange.status, reason=exchange.reason,
                       error=exchange.error or "error", transport=exchange.transport,
                       remote=exchange.remote, exchanges=exchanges, resolution=located.trace,
                       tls_failure=exchange.tls_failure, ended=self.reactor.seconds())

    def _finish(self, outcome: Outcome) -> Outcome:
        if not outcome.ended:
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


def _granted_expires(response: Response, contact: Address, requested: int) -> int:
    """The expiry the registrar granted our contact (RFC 3261 §10.2.4)."""
    ours = contact.uri
    for candidate in response.contacts:
        value = candidate.param("expires")
        if candidate.uri == ours and value is not None and value.isdigit():
            return int(value)
    header = response.expires
    return header if header is not None else requested


def _should_fail_over(outcome: Outcome) -> bool:
    """RFC 3263 §4.3: try the next target after a transport failure, a timeout or a 503."""
    return outcome.error in ("timeout", "refused", "unreachable", "tls", "websocket",
                             "transport") or outcome.status == 503


def _describe_failure(exchange: Exchange, config: ClientConfig) -> str:
    """One line in the words of the troubleshooting table, with the evidence."""
    where = exchange.where
    if exchange.error == "timeout" and not exchange.transmissions and exchange.detail:
        return f"connection to {where} not established: {exchange.detail}"  # connect timeout
    if exchange.error == "timeout":
        waited = (exchange.ended or exchange.started) - exchange.started
        timer = "Timer B" if exchange.method == "INVITE" else "Timer F"
        return (f"no response to {exchange.method} from {where} after {exchange.transmissions} "
                f"transmission(s) in {waited:.1f} s ({timer}, 64*T1 with T1 = "
                f"{config.timers.t1:g} s)")
    if exchange.error in ("refused", "unreachable") and exchange.transport == "UDP":
        return f"{exchange.method} to {where} answered by {exchange.detail}"
    if exchange.error == "refused":
        return f"connection refused by {where}"
    if exchange.error == "tls":
        return f"TLS handshake with {where} failed: {exchange.tls_failure or exchange.detail}"
    if exchange.error == "websocket":
        return f"WebSocket upgrade at {where} failed: {exchange.detail}"
    if exchange.error == "transport":
        return f"transport failure on {where}: {exchange.detail}"
    if exchange.status is not None:
        return f"{exchange.status} {exchange.reason} from {where}"
    return f"{exchange.error} at {where}: {exchange.detail}"


def _fmt(hostport: tuple[str, int] | None) -> str:
    if hostport is None:
        return "-"
    host, port = hostport
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


__all__ = ["Dialog", "InboundRequest", "UserAgent"]
