"""The load engine: many endpoints on one reactor, paced, bounded, measured.

:class:`LoadRunner` is a transaction user (like :class:`testbed.client.UserAgent`) of one
:class:`SipStack` shared by every endpoint (``connections="shared"``: one UDP socket, one
TCP/TLS/WSS connection per target) or of one stack per endpoint (``per-endpoint``: a
socket or connection each, like real phones). Each endpoint is a distinct user
``alice<i>`` with its own Call-ID, CSeq, tags, contact and digest state; its operations
follow the user agent's rules: RFC 3263 targets in order, failover on a connection
failure, a timeout or a 503, digest challenges answered, 423 retried with Min-Expires.

The targets are located once per run (every endpoint shares the domain) and the
resolution steps are reported. Operations are started at ``rate`` per second (or as
fast as the window allows), one at a time per endpoint, until the count or the
duration is reached, never past ``time_limit``; operations still in flight after the
drain time are counted as unfinished. Nothing here sleeps: timers and Deferreds only.
Figures are counted per interval (:class:`IntervalClock`, ``stats_interval`` seconds);
attempted, succeeded and failed also live on the result, for the pacing and progress.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall
from twisted.python.failure import Failure

from testbed.client import (
    ERROR_KINDS,
    DriveNow,
    Locator,
    Operation,
    Registration,
    RequestSequence,
    Send,
    SendRequest,
    Verdict,
    drive,
    should_fail_over,
    targets_in_order,
)
from testbed.dns import Target
from testbed.reactor import IReactor
from testbed.sip import (
    Request,
    Response,
    SipUri,
    build_offer,
    new_branch,
    parse_uri,
)
from testbed.transport import (
    ClientTlsCreator,
    ConnectFailed,
    Flow,
    ServerContext,
    SipStack,
    client_tls_options,
)

from ._endpoint import _Endpoint
from ._fast_client import FastRegister, fast_branch
from ._intervals import IntervalClock
from ._load_config import LoadConfig
from ._quiet_trace import QuietTrace
from ._stats import LoadResult, Progress

USER_AGENT = "sip-transport-testbed-load/0.1"


@dataclass(slots=True)
class _Result:
    ok: bool
    error: str | None
    status: int | None = None
    transport: str | None = None
    latency: float | None = None


OperationRunner = Callable[[_Endpoint, Flow], Awaitable[_Result]]


class _FastRegistration:
    """One fast-path registration of the engine: where its verdict goes (no closures)."""

    __slots__ = ("engine", "endpoint", "target", "flow", "started")

    def __init__(self, engine: LoadRunner, endpoint: _Endpoint, target: Target,
                 flow: Flow) -> None:
        self.engine = engine
        self.endpoint = endpoint
        self.target = target
        self.flow = flow
        self.started = engine.reactor.seconds()

    def done(self, verdict: Verdict) -> None:
        if verdict.ok:
            self.endpoint.target = self.target
        engine = self.engine
        engine._ended(engine._result(verdict, self.flow, self.started), self.endpoint)

    def crashed(self, failure: Failure) -> None:
        self.engine._crashed(failure, self.endpoint)


class LoadRunner:
    """Run one :class:`LoadConfig` on ``reactor``; ``await run()`` gives a :class:`LoadResult`.

    ``progress(snapshot)`` is called every ``progress_interval`` seconds and once at the
    end. Flows stay open after :meth:`run` (so a memory measurement can look at the
    server with every endpoint connected) until :meth:`stop`.
    """

    def __init__(self, reactor: IReactor, config: LoadConfig, *,
                 progress: Callable[[Progress], None] | None = None,
                 progress_interval: float = 1.0) -> None:
        self.reactor = reactor
        self.config = config
        self.progress = progress
        self.progress_interval = progress_interval
        self.rng = random.Random(config.seed)
        self.trace = QuietTrace(reactor.seconds, "load")
        self.stack = self._new_stack()
        self.locator = Locator(config.client_config(), reactor)
        self.registrar_uri = config.registrar.replace(user=None, password=None, headers=())
        self.call_uri = _sip_uri(config.call_to) if config.call_to else SipUri(
            host=config.aor_domain, user="bob")
        prefix = f"{self.rng.getrandbits(40):010x}"
        self.endpoints = [_Endpoint(i, config.user(i), config.aor_domain, config.password,
                                    f"{prefix}-{config.first_user + i}@load")
                          for i in range(config.endpoints)]
        self.result = LoadResult(config.operation, config.transport, config.endpoints,
                                 rate_requested=config.rate, interval=config.stats_interval)
        self.intervals = IntervalClock(reactor, self.result, config.stats_interval,
                                       lambda: self._in_flight)
        self.targets: list[Target] = []
        self._idle: deque[_Endpoint] = deque(self.endpoints)
        self._in_flight = 0
        self._issuing = False
        self._pumping = False
        self._repump = False
        self._started = 0.0
        self._stopped_issuing = 0.0
        self._last_end = 0.0
        self._done: defer.Deferred | None = None
        self._finished = False
        self._timers: list[IDelayedCall] = []
        self._tick: IDelayedCall | None = None
        self._shared: dict[tuple[str, str, int], Flow] = {}
        self._connecting: dict[tuple[str, str, int],
                               list[defer.Deferred[Flow | ConnectFailed]]] = {}
        self._tls: ClientTlsCreator | None = None
        self._stacks: list[SipStack] = [self.stack]
        # REGISTERs over shared UDP and TCP flows take the fast path (._fast_client).
        self._fast = FastRegister(reactor, self.stack, self.trace) \
            if config.fast_path and config.operation == "register" else None
        self._register_request = Request("REGISTER", self.registrar_uri)

    # -- life cycle ---------------------------------------------------------------------

    def _new_stack(self) -> SipStack:
        return SipStack(self.reactor, self, timers=self.config.timers, trace=self.trace,
                        name="load", connect_timeout=self.config.connect_timeout)

    async def run(self) -> LoadResult:
        """Locate the registrar, run the load, and return what it achieved."""
        config = self.config
        self.stack.listen_udp(config.local_host, 0)
        located = await self.locator.locate()
        self.targets = list(located.targets)
        self.result.resolution = list(located.trace)
        if config.transport == "auto" or config.dns:
            self.result.notes.append("targets located once for the run (every endpoint "
                                     "shares the domain)")
        self._done = defer.Deferred()
        self._started = self.reactor.seconds()
        self._issuing = True
        self.intervals.start()
        limit = min(config.duration or math.inf, config.time_limit)
        self._timers.append(self.reactor.callLater(limit, self._stop_issuing))
        if self.progress is not None:
            self._timers.append(self.reactor.callLater(self.progress_interval, self._report))
        if not self.targets:  # every operation would fail the same way: once per endpoint
            self.result.notes.append(f"no target: {located.error}")
            self.result.attempted = self.result.failed = len(self.endpoints)
            current = self.intervals.current
            current.attempted = current.failed = len(self.endpoints)
            current.errors["dns"] = len(self.endpoints)
            self._stop_issuing()
            return self.result
        self._pump()
        await self._done
        return self.result

    async def stop(self) -> None:
        """Close every socket and connection, cancel every timer."""
        for call in self._timers + [self._tick]:
            if call is not None and call.active():
                call.cancel()
        if self._fast is not None:
            self._fast.stop()
        self.intervals.stop()
        self.locator.close()
        for stack in self._stacks:
            await stack.stop()

    def snapshot(self) -> Progress:
        r = self.result
        end = self._last_end if not self._issuing and not self._in_flight else \
            self.reactor.seconds()
        retransmissions, latency = self.intervals.totals()
        return Progress(end - self._started, r.attempted, r.succeeded, r.failed,
                        self._in_flight, self._finished, retransmissions, latency)

    def _report(self) -> None:
        if self._done is not None and not self._done.called:
            self.progress(self.snapshot())  # type: ignore[misc]
            self._timers.append(self.reactor.callLater(self.progress_interval, self._report))

    # -- pacing -------------------------------------------------------------------------

    def _allowed(self, now: float) -> float:
        """How many more operations may start now (count and rate)."""
        config = self.config
        allowed = math.inf
        if config.count is not None:
            allowed = config.count - self.result.attempted
        if config.rate is not None:
            due = math.floor((now - self._started) * config.rate) + 1
            allowed = min(allowed, due - self.result.attempted)
        return allowed

    def _pump(self) -> None:
        """Start every operation that is due and has an idle endpoint and window room."""
        if self._pumping:  # an operation ended while we were starting others
            self._repump = True
            return
        self._pumping = True
        try:
            for _ in range(3):
                self._repump = False
                self._start_due()
                if not self._repump:
                    break
            else:  # operations end as fast as they start: let the reactor breathe
                self._timers.append(self.reactor.callLater(0, self._pump))
        finally:
            self._pumping = False
        self._arm_tick()
        self._maybe_done()

    def _start_due(self) -> None:
        if not self._issuing:
            return
        config = self.config
        now = self.reactor.seconds()
        allowed = self._allowed(now)
        if config.count is not None and self.result.attempted >= config.count:
            self._stop_issuing(pump=False)
            return
        window = config.in_flight_limit
        budget = window  # operations that end at once must not keep this loop spinning
        while allowed > 0 and budget > 0 and self._idle and self._in_flight < window \
                and self._issuing:
            endpoint = self._idle.popleft()
            allowed -= 1
            budget -= 1
            self._launch(endpoint)
        if budget == 0 and allowed > 0 and self._issuing:
            self._repump = True
        if config.count is not None and self.result.attempted >= config.count:
            self._stop_issuing(pump=False)

    def _arm_tick(self) -> None:
        """With a rate, wake up when the next operation is due."""
        rate = self.config.rate
        if rate is None or not self._issuing:
            return
        if self._tick is not None and self._tick.active():
            return
        next_due = self._started + self.result.attempted / rate
        delay = min(max(next_due - self.reactor.seconds(), 0.001), 0.05)
        self._tick = self.reactor.callLater(delay, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        self._pump()

    def _stop_issuing(self, pump: bool = True) -> None:
        if not self._issuing:
            return
        self._issuing = False
        self._stopped_issuing = self.reactor.seconds()
        self.result.issuing = self._stopped_issuing - self._started
        if self._tick is not None and self._tick.active():
            self._tick.cancel()
        self._timers.append(self.reactor.callLater(self.config.drain_seconds, self._give_up))
        if pump:
            self._maybe_done()

    def _give_up(self) -> None:
        """The drain time is over: what is still in flight is unfinished."""
        self.intervals.current.unfinished += self._in_flight
        self._in_flight = 0
        self._finish()

    def _maybe_done(self) -> None:
        if not self._issuing and self._in_flight == 0:
            self._finish()

    def _finish(self) -> None:
        if self._done is None or self._finished:
            return
        self._finished = True
        result = self.result
        result.elapsed = (self._last_end or self.reactor.seconds()) - self._started
        if self._issuing:
            self._issuing = False
            result.issuing = self.reactor.seconds() - self._started
        for kind in ("sent", "received", "bad-message", "connect-failed", "tls-failed",
                     "closed", "timeout"):
            if self.trace.counts.get(kind):
                result.messages[kind] = self.trace.counts[kind]
        for call in self._timers:
            if call.active():
                call.cancel()
        self.intervals.close()
        if self.progress is not None:
            self.progress(self.snapshot())
        self._done.callback(result)

    # -- one operation ------------------------------------------------------------------

    def _launch(self, endpoint: _Endpoint) -> None:
        endpoint.busy = True
        self._in_flight += 1
        self.result.attempted += 1
        self.intervals.current.attempted += 1
        if self._fast_launch(endpoint):
            return
        operation = self._register if self.config.operation == "register" else self._call
        d = defer.ensureDeferred(self._with_failover(endpoint, operation))
        d.addCallback(self._ended, endpoint)
        d.addErrback(self._crashed, endpoint)

    def _ended(self, outcome: _Result, endpoint: _Endpoint) -> None:
        endpoint.busy = False
        if self._done is not None and self._done.called:
            return  # counted as unfinished already
        self._in_flight -= 1
        self._last_end = self.reactor.seconds()
        interval = self.intervals.current
        if outcome.status is not None:
            interval.statuses[outcome.status] += 1
        if outcome.ok:
            self.result.succeeded += 1
            interval.succeeded += 1
            interval.add_latency(outcome.transport or "?", outcome.latency or 0.0)
        else:
            self.result.failed += 1
            interval.failed += 1
            kind = outcome.error if outcome.error in ERROR_KINDS else "error"
            interval.errors[kind] += 1
        self._idle.append(endpoint)
        self._pump()

    def _crashed(self, failure: object, endpoint: _Endpoint) -> None:
        """A bug, not a network failure: count it as "error" and keep the note."""
        note = f"internal error: {failure.getErrorMessage()}"  # type: ignore[attr-defined]
        if note not in self.result.notes:
            self.result.notes.append(note)
        self._ended(_Result(False, "error"), endpoint)

    async def _with_failover(self, endpoint: _Endpoint, operation: OperationRunner) -> _Result:
        """RFC 3263 §4.3, as the user agent does: the next target after a connection
        failure, a timeout, a transport error or a 503; the last good target first."""
        targets = targets_in_order(self.targets, endpoint.target
                                   if endpoint.target in self.targets else None)
        last = _Result(False, "dns")
        for target in targets:
            flow = await self._flow(endpoint, target)
            if isinstance(flow, ConnectFailed):
                last = _Result(False, flow.kind, transport=target.transport)
                continue
            last = await operation(endpoint, flow)
            if last.ok:
                endpoint.target = target
            if last.ok or not should_fail_over(last.error, last.status):
                break
        return last

    async def _register(self, endpoint: _Endpoint, flow: Flow) -> _Result:
        contact = endpoint.contact(flow, self.config.registrar.secure)
        registration = Registration(endpoint.sequence, expires=self.config.expires,
                                    contact=None, digest=endpoint.digest, cnonce=self._cnonce)
        started = self.reactor.seconds()

        def build(action: SendRequest) -> Request:
            return self._request(self.registrar_uri, endpoint, flow, action,
                                 endpoint.sequence.call_id, [("Contact", contact)])

        verdict = await drive(registration, self._sender(endpoint, flow, build), self.reactor)
        return self._result(verdict, flow, started)

    def _fast_launch(self, endpoint: _Endpoint) -> bool:
        """A REGISTER on callbacks (:class:`DriveNow`) and the fast path when there is one
        target (no failover to do) and its shared UDP or TCP flow is open; else False."""
        fast = self._fast
        if fast is None or len(self.targets) != 1 or self.config.connections != "shared":
            return False
        target = self.targets[0]
        address = target.address or target.host
        if target.transport == "UDP":
            flow: Flow | None = self.stack.udp_flow(address, target.port)
        else:
            flow = self._shared.get((target.transport, address, target.port))
        if flow is None or not fast.takes(flow):
            return False
        send = endpoint.sender
        if send is None or send.flow is not flow:
            send = endpoint.sender = fast.sender(
                self._register_request, flow, self._draw, endpoint.to,
                endpoint.sequence.call_id, endpoint.contact(flow, self.config.registrar.secure),
                USER_AGENT, self._transmitted)
        registration = Registration(endpoint.sequence, expires=self.config.expires,
                                    contact=None, digest=endpoint.digest, cnonce=self._cnonce)
        run = _FastRegistration(self, endpoint, target, flow)
        DriveNow(registration, send, self.reactor, run.done, run.crashed).start()
        return True

    def _draw(self) -> tuple[str, str]:
        """A new branch and From tag for a fast-path REGISTER."""
        return fast_branch(self.rng), self._tag()

    async def _call(self, endpoint: _Endpoint, flow: Flow) -> _Result:
        """INVITE with an SDP offer, ACK the 2xx, BYE: the latency is the INVITE's."""
        sequence = RequestSequence(f"{self.rng.getrandbits(64):016x}-{endpoint.index}@load")
        from_tag = self._tag()
        offer = build_offer(address=flow.local[0], port=40000 + 2 * (endpoint.index % 10000),
                            session_id=self.rng.randrange(1, 2**31)).to_bytes()
        contact = endpoint.contact(flow, self.config.registrar.secure)
        to = f"<{self.call_uri}>"
        started = self.reactor.seconds()

        def build_invite(action: SendRequest) -> Request:
            return self._request(self.call_uri, endpoint, flow, action, sequence.call_id,
                                 [("Contact", contact), ("Content-Type", "application/sdp")],
                                 to=to, tag=from_tag, body=offer)

        invite = Operation("INVITE", sequence, digest=endpoint.digest, cnonce=self._cnonce)
        verdict = await drive(invite, self._sender(endpoint, flow, build_invite), self.reactor)
        if not verdict.ok or verdict.response is None:
            return self._result(verdict, flow, started)
        latency = self.reactor.seconds() - started
        response = verdict.response
        target = response.contacts[0].sip_uri if response.contacts else self.call_uri
        assert isinstance(target, SipUri)
        to = response.headers.get("To") or to
        ack = SendRequest("ACK", sequence.cseq)
        stack = endpoint.stack or self.stack
        stack.send_stateless(self._request(target, endpoint, flow, ack, sequence.call_id, [],
                                           to=to, tag=from_tag), flow)

        def build_bye(action: SendRequest) -> Request:
            return self._request(target, endpoint, flow, action, sequence.call_id, [], to=to,
                                 tag=from_tag)

        bye = Operation("BYE", sequence, digest=endpoint.digest, cnonce=self._cnonce)
        ended = await drive(bye, self._sender(endpoint, flow, build_bye), self.reactor)
        if not ended.ok:
            return self._result(ended, flow, started)
        return _Result(True, None, verdict.status, flow.transport, latency)

    def _sender(self, endpoint: _Endpoint, flow: Flow,
                build: Callable[[SendRequest], Request]) -> Send:
        """How :func:`drive` sends an endpoint's requests on ``flow``."""
        stack = endpoint.stack or self.stack

        async def send(action: SendRequest) -> tuple[Request, Response]:
            request = build(action)
            response: Response = await stack.send_request(request, flow,
                                                          on_transmit=self._transmitted)
            return request, response

        return send

    def _transmitted(self, retransmission: bool) -> None:
        if retransmission:
            self.intervals.current.retransmissions += 1

    def _result(self, verdict: Verdict, flow: Flow, started: float) -> _Result:
        if verdict.ok:
            return _Result(True, None, verdict.status, flow.transport,
                           self.reactor.seconds() - started)
        error = verdict.error if verdict.error in ERROR_KINDS else "transport"
        return _Result(False, error, verdict.status, flow.transport)

    # -- building blocks ----------------------------------------------------------------

    async def _flow(self, endpoint: _Endpoint, target) -> Flow | ConnectFailed:
        """An open flow to ``target`` for ``endpoint`` (shared or its own)."""
        address = target.address or target.host
        transport = target.transport
        per_endpoint = self.config.connections == "per-endpoint"
        if per_endpoint:
            if endpoint.flow is not None and not endpoint.flow.closed and \
                    endpoint.flow.key == (transport, address, target.port):
                return endpoint.flow
            if endpoint.stack is None:
                endpoint.stack = self._new_stack()
                self._stacks.append(endpoint.stack)
            stack = endpoint.stack
            if transport == "UDP":
                if stack.udp is None:
                    stack.listen_udp(self.config.local_host, 0)
                endpoint.flow = stack.udp_flow(address, target.port)
                return endpoint.flow
            opened = await self._open(stack, target, address)
            if isinstance(opened, Flow):
                endpoint.flow = opened
            return opened
        if transport == "UDP":
            return self.stack.udp_flow(address, target.port)
        key = (transport, address, target.port)
        flow = self._shared.get(key)
        if flow is not None and not flow.closed:
            return flow
        waiting = self._connecting.get(key)
        if waiting is not None:  # another endpoint is connecting: share its connection
            wait: defer.Deferred[Flow | ConnectFailed] = defer.Deferred()
            waiting.append(wait)
            return await wait
        waiters: list[defer.Deferred[Flow | ConnectFailed]] = []
        self._connecting[key] = waiters
        result = await self._open(self.stack, target, address)
        del self._connecting[key]
        if isinstance(result, Flow):
            self._shared[key] = result
        for wait in waiters:
            wait.callback(result)
        return result

    async def _open(self, stack: SipStack, target, address: str) -> Flow | ConnectFailed:
        secure = target.transport in ("TLS", "WSS")
        try:
            return await stack.connect(
                target.transport, address, target.port,
                tls_creator=self._tls_creator() if secure else None,
                ws_path=self.config.ws_path,
                server_name=self.config.server_name or self.config.registrar.host)
        except ConnectFailed as failure:
            return failure

    def _tls_creator(self) -> ClientTlsCreator:
        if self._tls is None:
            client = self.config.client_config()
            self._tls = client_tls_options(client.tls_server_name, client.trust())
        return self._tls

    def _request(self, uri: SipUri, endpoint: _Endpoint, flow: Flow, action: SendRequest,
                 call_id: str, headers: list[tuple[str, str]], *, to: str | None = None,
                 tag: str | None = None, body: bytes = b"") -> Request:
        host, port = flow.local
        host = f"[{host}]" if ":" in host else host
        method = action.method
        fields = [
            ("Via", f"SIP/2.0/{flow.transport} {host}:{port};branch={new_branch(self.rng)}"
                    ";rport"),
            ("Max-Forwards", "70"),
            ("From", f"{endpoint.to};tag={tag or self._tag()}"),
            ("To", to or endpoint.to),
            ("Call-ID", call_id),
            ("CSeq", f"{action.cseq} {method}"),
            ("User-Agent", USER_AGENT),
            *headers,
            *action.headers,
        ]
        return Request(method, uri, fields, body)

    def _cnonce(self) -> str:
        return f"{self.rng.getrandbits(48):012x}"

    def _tag(self) -> str:
        return f"{self.rng.getrandbits(40):010x}"

    # -- transaction user ---------------------------------------------------------------

    def request_received(self, context: ServerContext) -> None:
        """Requests to our endpoints (a registrar's OPTIONS, a BYE...): 200, or 405."""
        method = context.request.method
        if method in ("OPTIONS", "BYE", "NOTIFY", "MESSAGE", "CANCEL"):
            context.respond(200, to_tag=self._tag())
        else:
            context.respond(405, to_tag=self._tag(), headers=[("Allow", "OPTIONS, BYE")])

    def ack_received(self, ack: Request, flow: Flow) -> None:
        pass

    def stray_response(self, response: Response, flow: Flow) -> None:
        self.trace.count("stray")

    def flow_closed(self, flow: Flow, reason: str) -> None:
        if self._fast is not None:
            self._fast.flow_closed(flow, reason)


async def run_load(reactor: IReactor, config: LoadConfig, *,
                   progress: Callable[[Progress], None] | None = None,
                   progress_interval: float = 1.0) -> LoadResult:
    """Run ``config`` in this process and close everything afterwards."""
    runner = LoadRunner(reactor, config, progress=progress, progress_interval=progress_interval)
    try:
        return await runner.run()
    finally:
        await runner.stop()


__all__ = ["LoadRunner", "Progress", "run_load"]


def _sip_uri(text: str) -> SipUri:
    uri = parse_uri(text)
    if not isinstance(uri, SipUri):
        raise ValueError(f"call_to must be a SIP URI, not {text!r}")
    return uri
