"""The SIP stack of one element: transports, flows and transactions on one reactor.

``SipStack`` is the adapter between the sans-IO transaction layer
(:class:`testbed.sip.TransactionTable`) and Twisted: bytes in through flows, actions
out to flows, one ``callLater`` re-armed from ``next_deadline()`` after every input
(the aioquic pattern). The client (a user agent) and every mock server are
*transaction users* of a stack: they receive requests through
:meth:`TransactionUser.request_received` and send requests with
:meth:`SipStack.send_request`, which returns a Deferred of the final response.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar
from typing import Protocol as TypingProtocol

from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IConnector, IListeningPort, IOpenSSLServerConnectionCreator
from twisted.protocols.policies import WrappingFactory
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure

from testbed.reactor import IReactor
from testbed.sip import (
    Action,
    Deliver,
    Message,
    RemoteProtocolError,
    Request,
    Response,
    Terminated,
    Timeout,
    Timers,
    Transaction,
    TransactionTable,
    Transmit,
    Transport,
    TransportFailed,
    fmt_hostport,
    make_response,
)

from ._capture import Capture
from ._connecting import ConnectFailed, TlsClientFactory, connect_failed, tls_connect_failed
from ._delayed_calls import DeadlineTimer
from ._flows import Flow, FlowSink, StreamProtocol, UdpEndpoint, reject_bad_input
from ._icmp import listen_udp
from ._policy import ConnectionGate, ConnectionPolicy
from ._rejections import RejectionLog, answer_internal_error
from ._trace import HostPort, Trace, describe, hostport_of
from ._ws import WsClientFactory, ws_listener_factory
from .tls import ClientTlsCreator

_F = TypeVar("_F", bound=protocol.Factory)


class TransactionFailed(Exception):
    """A client transaction ended without a final response.

    ``kind`` is ``"timeout"`` (``timer`` says which: B or F), ``"transport"``
    (the flow failed under it; ``reason`` says how), or ``"refused"`` / ``"unreachable"``
    (an ICMP error answered a UDP request; ``reason`` names it and the address).
    """

    def __init__(self, kind: str, reason: str, timer: str = "") -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.timer = timer


class ServerContext:
    """A request received on a server transaction; answer it with :meth:`respond`."""

    def __init__(self, stack: SipStack, request: Request, flow: Flow) -> None:
        self.stack = stack
        self.request = request
        self.flow = flow

    def respond(self, status: int, reason: str | None = None, *, to_tag: str | None = None,
                headers: Iterable[tuple[str, object]] = (), body: bytes = b"") -> Response:
        """Build a response with :func:`make_response` and send it."""
        response = make_response(self.request, status, reason, to_tag=to_tag, headers=headers,
                                 body=body)
        self.send(response)
        return response

    def send(self, response: Response) -> None:
        self.stack.send_response(response)


class TransactionUser(TypingProtocol):
    """What a stack reports to: the element's logic (user agent, registrar, PBX)."""

    def request_received(self, context: ServerContext) -> None: ...

    def ack_received(self, ack: Request, flow: Flow) -> None: ...

    def stray_response(self, response: Response, flow: Flow) -> None: ...

    def flow_closed(self, flow: Flow, reason: str) -> None: ...


@dataclass(eq=False)
class _TransactionRecord:
    """What the stack keeps for one live transaction, from its start to ``Terminated``.

    ``flow`` is the one it was sent or received on. A client transaction also has the
    Deferred of its final response (``result``) and the caller's callbacks;
    ``failure_kind`` says what its next transport error is (``refused`` or
    ``unreachable`` when ICMP reported it), ``None`` meaning ``transport``.
    """

    flow: Flow
    result: defer.Deferred[Response] | None = None
    on_response: Callable[[Response], None] | None = None
    on_transmit: Callable[[bool], None] | None = None
    failure_kind: str | None = None


class SipStack(FlowSink):
    """Transports, flows and the transaction table of one SIP element."""

    def __init__(
        self,
        reactor: IReactor,
        user: TransactionUser,
        *,
        timers: Timers | None = None,
        trace: Trace | None = None,
        name: str = "",
        send_trying: bool = True,
        connect_timeout: float = 5.0,
        capture: Capture | None = None,
        policy: ConnectionPolicy | None = None,
    ) -> None:
        self.reactor = reactor
        self._capture = capture
        self.user = user
        self.timers = timers or Timers()
        self.trace = trace if trace is not None else Trace(reactor.seconds, name)
        self.table = TransactionTable(self.timers, send_trying=send_trying)
        self.connect_timeout = connect_timeout
        self.udp: UdpEndpoint | None = None
        self.flows: dict[tuple[Transport, str, int], Flow] = {}
        self._listeners: list[IListeningPort] = []
        self._connectors: list[IConnector] = []
        self._transactions: dict[Transaction, _TransactionRecord] = {}
        self._timer = DeadlineTimer(reactor, self._on_timer)
        self.on_pong: list[Callable[[Flow], None]] = []
        # Told (flow, kind, reason) of an ICMP error: a fast path's transactions fail too.
        self.on_unreachable: list[Callable[[Flow, str, str], None]] = []
        self.rejections = RejectionLog(reactor.seconds)
        self.gate = ConnectionGate(reactor, self.trace, policy or ConnectionPolicy())
        # A TU's fast path: offered each framed UDP/TCP/TLS message before parsing, True
        # when it handled it whole (answer, trace, retransmissions), else the full path.
        self.fast_path: Callable[[bytes, Flow], bool] | None = None

    # -- connection policy --------------------------------------------------------------

    @property
    def policy(self) -> ConnectionPolicy:
        """What connections accepted by this element's listeners may do (deadlines,
        caps, backlog: see :class:`ConnectionPolicy`; Kamailio's defaults unless given).

        Set it before listening: a port keeps the policy it was opened with for its
        backlog and WebSocket limits, a connection the one it was accepted with.
        Connections this element opens (as a client) are not policed.
        """
        return self.gate.policy

    @policy.setter
    def policy(self, policy: ConnectionPolicy) -> None:
        self.gate.policy = policy

    # -- capture ------------------------------------------------------------------------

    @property
    def capture(self) -> Capture | None:
        """The :class:`Capture` this element's sockets feed (``None``: nothing recorded).

        Set it before listening or connecting: connections already open are not recorded.
        """
        return self._capture

    @capture.setter
    def capture(self, capture: Capture | None) -> None:
        self._capture = capture
        if self.udp is not None:
            self.udp.capture = capture

    def captured(self, factory: _F, role: str) -> _F | WrappingFactory[Any]:
        """``factory`` (the outermost, around TLS) recorded by the capture, if any."""
        return factory if self._capture is None else self._capture.wrap_factory(factory, role)

    # -- listening ----------------------------------------------------------------------

    def listen_udp(self, host: str, port: int = 0) -> HostPort:
        """Bind this element's UDP socket (one per element, RFC 3261 §18) and return it."""
        endpoint = UdpEndpoint(self, self.trace)
        endpoint.capture = self._capture
        listening = listen_udp(self.reactor, port, endpoint, host)  # ICMP errors reported
        self._listeners.append(listening)
        self.udp = endpoint
        self._note_listening(Transport.UDP, endpoint.local)
        return endpoint.local

    def listen_stream(self, transport: str, host: str, port: int = 0,
                      tls_options: IOpenSSLServerConnectionCreator | None = None) -> HostPort:
        """Listen for TCP, or TLS with ``tls_options`` (e.g. ``server_tls_options(...)``)."""
        kind = _transport(transport, (Transport.TCP, Transport.TLS), "listen_stream()")
        factory = _StreamFactory(self, kind, "server")
        return self._listen_tcp(kind, host, port, factory,
                                tls_options if kind is Transport.TLS else None)

    def listen_ws(self, host: str, port: int = 0, *,
                  tls_options: IOpenSSLServerConnectionCreator | None = None, path: str = "/",
                  behaviour: str = "normal") -> HostPort:
        """Listen for SIP over WebSocket (RFC 7118): WSS with ``tls_options``, WS without.

        ``path`` is where the WebSocket service is; ``behaviour`` (one of
        ``BEHAVIOURS``) makes the port misbehave as a broken gateway would (see
        :func:`ws_listener_factory`). Returns the bound address.
        """
        transport = Transport.WS if tls_options is None else Transport.WSS
        policy = self.policy
        factory = ws_listener_factory(self, self.trace, self.reactor, transport, path=path,
                                      behaviour=behaviour,
                                      max_upgrade_size=policy.max_upgrade_size)
        bound = self._listen_tcp(transport, host, port, factory, tls_options)
        if behaviour != "normal":
            self.trace.record("note", transport, local=bound,
                              summary=f"WebSocket fault '{behaviour}' on {fmt_hostport(bound)}")
        return bound

    def _listen_tcp(self, transport: Transport, host: str, port: int,
                    factory: protocol.Factory[Any],
                    tls_options: IOpenSSLServerConnectionCreator | None) -> HostPort:
        if transport.secure:
            if tls_options is None:
                raise ValueError(f"{transport} needs tls_options (a server TLS creator)")
            factory = TLSMemoryBIOFactory(tls_options, False, factory)
        outermost = self.captured(factory, "server")
        policy = self.policy
        gated = self.gate.factory(outermost, transport) if policy.watches else None
        # listenTCP takes any protocol factory; Twisted annotates it as ServerFactory.
        listening = self.reactor.listenTCP(port, gated or outermost,  # type: ignore[arg-type]
                                           backlog=policy.listen_backlog, interface=host)
        self._listeners.append(listening)
        bound = hostport_of(listening.getHost())
        if gated is not None:
            gated.local = bound
        self._note_listening(transport, bound)
        return bound

    def _note_listening(self, transport: Transport, address: HostPort) -> None:
        self.trace.record("listening", transport, local=address,
                          summary=f"listening on {fmt_hostport(address)}/{transport}")

    # -- flows --------------------------------------------------------------------------

    def udp_flow(self, host: str, port: int) -> Flow:
        """The flow from this element's UDP socket to ``host:port``."""
        if self.udp is None:
            raise RuntimeError("listen_udp() first: the element has no UDP socket")
        return self.udp.flow_to((host, port))

    def existing_flow(self, transport: str, host: str, port: int) -> Flow | None:
        """The open flow of ``transport`` to ``host:port``, if there is one."""
        try:
            flow = self.flows.get((Transport(transport), host, port))
        except ValueError:  # not a transport: no flow of it either
            return None
        return None if flow is None or flow.closed else flow

    def connect(self, transport: str, host: str, port: int, *,
                tls_creator: ClientTlsCreator | None = None, ws_path: str = "/",
                server_name: str | None = None) -> defer.Deferred[Flow]:
        """A Deferred of an open flow to ``host:port``: an existing one is reused.

        UDP needs no set-up. TCP connects; TLS connects and completes the handshake
        with ``tls_creator`` (from ``client_tls_options``). WS and WSS (RFC 7118) also
        upgrade to a WebSocket at ``ws_path``, WSS over TLS with ``tls_creator``;
        ``server_name`` (default ``host``) goes in the upgrade's Host header. Fails with
        :class:`ConnectFailed`.
        """
        kind = _transport(transport, tuple(Transport), "connect()")
        if kind is Transport.UDP:
            return defer.succeed(self.udp_flow(host, port))
        existing = self.existing_flow(kind, host, port)
        if existing is not None:
            return defer.succeed(existing)
        if kind.secure and tls_creator is None:
            raise ValueError(f"{kind} needs tls_creator (a client TLS creator)")
        if kind is Transport.WS and tls_creator is not None:
            raise ValueError("WS takes no tls_creator: WSS is WebSocket over TLS")
        factory: protocol.ClientFactory[Any]
        if kind in (Transport.WS, Transport.WSS):
            ws = WsClientFactory(self, self.trace, self.reactor, (host, port), path=ws_path,
                                 server_name=server_name, tls_creator=tls_creator,
                                 timeout=self.connect_timeout)
            factory, result, summary = ws, ws.result, f"connecting to {ws.url}"
        else:
            stream = _StreamFactory(self, kind, "client", tls_creator=tls_creator)
            assert stream.result is not None
            factory, result = stream, stream.result
            summary = f"connecting to {fmt_hostport((host, port))}/{kind}"
        if tls_creator is not None and kind.secure:
            factory = TlsClientFactory(tls_creator, factory)
        self.trace.record("connecting", kind, remote=(host, port), summary=summary)
        connector = self.reactor.connectTCP(host, port, self.captured(factory, "client"),
                                            timeout=self.connect_timeout)
        self._connectors.append(connector)
        return result

    def flow_opened(self, flow: Flow) -> None:
        self.flows[flow.key] = flow

    def flow_closed(self, flow: Flow, reason: str) -> None:
        if self.flows.get(flow.key) is flow:
            del self.flows[flow.key]
        now = self.reactor.seconds()
        for transaction in list(self.table):
            record = self._transactions.get(transaction)
            if record is not None and record.flow is flow:
                routed = self.table.transport_error(transaction, now, f"connection lost: {reason}")
                self._run(transaction, routed.actions)
        self.user.flow_closed(flow, reason)
        self._rearm()

    def pong_received(self, flow: Flow) -> None:
        for callback in list(self.on_pong):
            callback(flow)

    def flow_unreachable(self, flow: Flow, kind: str, reason: str) -> None:
        """ICMP says ``flow``'s UDP destination is unreachable: fail the client
        transactions waiting on it now, as ``kind`` (refused / unreachable), instead of
        after Timer B/F (RFC 3261 §18.4: an ICMP error is a transport error, §17.1.4)."""
        now = self.reactor.seconds()
        for transaction in list(self.table):
            record = self._transactions.get(transaction)
            if record is None or record.result is None or record.result.called \
                    or record.flow.key != flow.key:
                continue
            record.failure_kind = kind
            routed = self.table.transport_error(transaction, now, reason)
            self._run(transaction, routed.actions)
        for callback in list(self.on_unreachable):
            callback(flow, kind, reason)
        self._rearm()

    # -- requests and responses ---------------------------------------------------------

    def send_request(self, request: Request, flow: Flow,
                     on_response: Callable[[Response], None] | None = None,
                     on_transmit: Callable[[bool], None] | None = None,
                     ) -> defer.Deferred[Response]:
        """Start a client transaction; the Deferred fires with the final response.

        ``on_response`` sees every response the transaction delivers (provisional ones,
        and 2xx retransmissions after the final one). ``on_transmit(retransmission)`` is
        called each time the transaction's request goes out on ``flow``: ``False`` for
        the first transmission, ``True`` for each retransmission (Timer A or E on UDP,
        RFC 3261 §17.1.1.2 and §17.1.2.2). The ACK a client INVITE transaction sends
        for a non-2xx answer (§17.1.1.3) is not the request and is not reported; nor is
        a send that fails (that ends the transaction with a transport error).
        Errback: :class:`TransactionFailed`.
        """
        now = self.reactor.seconds()
        result: defer.Deferred[Response] = defer.Deferred()
        record = _TransactionRecord(flow, result, on_response, on_transmit)
        routed = self.table.start_client(request, now, reliable=flow.reliable)
        transaction = routed.transaction
        assert transaction is not None
        self._transactions[transaction] = record
        self._run(transaction, routed.actions)
        self._rearm()
        return result

    def send_stateless(self, message: Message, flow: Flow) -> None:
        """Send outside any transaction: the ACK for a 2xx (RFC 3261 §13.2.2.4)."""
        flow.send_message(message)

    def send_response(self, response: Response) -> None:
        """Send a response on the server transaction it answers."""
        now = self.reactor.seconds()
        routed = self.table.send_response(response, now)
        transaction = routed.transaction
        if transaction is not None:
            if 200 <= response.status < 300 and transaction.request.method == "REGISTER":
                self._registered(transaction, response, now)
            self._run(transaction, routed.actions)
        self._rearm()

    def fast_path_taken(self, data: bytes, flow: Flow) -> bool:
        """Offer ``data`` to ``fast_path``; an error there is logged and the full path runs."""
        if self.fast_path is None:
            return False
        try:
            return self.fast_path(data, flow)
        except Exception as exc:  # the protocol boundary (STYLE.md): log, fall back
            self.rejections.rejected(flow.transport, flow.remote,
                                     f"fast path failed ({exc!r}): the full path answers")
            return False

    def input_rejected(self, flow: Flow, what: str) -> None:
        """A layer refused what ``flow``'s peer sent: one rate-limited log line."""
        self.rejections.rejected(flow.transport, flow.remote, what)
    def _registered(self, transaction: Transaction, response: Response, now: float) -> None:
        """A 2xx to a REGISTER holds the accepted connection it came on for as long as
        the bindings it made (see :func:`registration_hold`)."""
        record = self._transactions.get(transaction)
        guard = None if record is None else record.flow.guard
        if guard is not None:
            guard.registered(transaction.request, response, now)

    def message_received(self, message: Message, flow: Flow) -> None:
        """The one boundary of every flow's messages: whatever handling them raises is
        answered (a request no transaction can take as its error says, RFC 3261
        §8.2.2.2; one that failed with 500, §21.5.1) and logged in one line, never a
        traceback, and the stack keeps serving."""
        try:
            self._message_received(message, flow)
        except RemoteProtocolError as exc:
            reject_bad_input(self, flow, message.to_bytes(), exc)
        except Exception as exc:  # the protocol boundary (STYLE.md): answer, log, go on
            answer_internal_error(self, message, flow, exc)
        self._rearm()

    def _message_received(self, message: Message, flow: Flow) -> None:
        if isinstance(message, Request):
            _stamp_received(message, flow)
        now = self.reactor.seconds()
        routed = self.table.receive(message, now, reliable=flow.reliable)
        if routed.stray:
            assert isinstance(message, Response)
            self.user.stray_response(message, flow)
        elif routed.transaction is None:
            assert isinstance(message, Request) and message.method == "ACK"
            self.user.ack_received(message, flow)
        else:
            if routed.created:
                self._transactions[routed.transaction] = _TransactionRecord(flow)
            self._run(routed.transaction, routed.actions)

    # -- actions and timers -------------------------------------------------------------

    def _run(self, transaction: Transaction, actions: Iterable[Action]) -> None:
        for action in actions:
            if isinstance(action, Transmit):
                self._transmit(transaction, action)
            elif isinstance(action, Deliver):
                self._deliver(transaction, action.message)
            elif isinstance(action, Timeout):
                flow = self._transactions[transaction].flow
                self.trace.record("timeout", flow.transport, remote=flow.remote,
                                  summary=f"Timer {action.timer} fired: "
                                          f"{describe(transaction.request)}")
                self._fail(transaction, TransactionFailed(
                    "timeout", f"Timer {action.timer} expired", action.timer))
            elif isinstance(action, TransportFailed):
                record = self._transactions.get(transaction)
                kind = "transport"
                if record is not None and record.failure_kind is not None:
                    kind, record.failure_kind = record.failure_kind, None
                self._fail(transaction, TransactionFailed(kind, action.reason))
            elif isinstance(action, Terminated):
                ended = self._transactions.pop(transaction, None)
                if ended is not None and ended.result is not None and not ended.result.called:
                    ended.result.errback(TransactionFailed("transport", "terminated"))

    def _transmit(self, transaction: Transaction, action: Transmit) -> None:
        message = action.message
        record = self._transactions[transaction]
        flow = record.flow
        if isinstance(message, Response) and flow.transport is Transport.UDP \
                and self.udp is not None:
            flow = self.udp.flow_to(_udp_response_destination(message, flow))
        try:
            flow.send_message(message)
        except (ConnectionError, OSError, error.MessageLengthError) as exc:
            routed = self.table.transport_error(transaction, self.reactor.seconds(), str(exc))
            self._run(transaction, routed.actions)
            return
        if record.on_transmit is not None and message is transaction.request:
            record.on_transmit(action.retransmission)

    def _deliver(self, transaction: Transaction, message: Message) -> None:
        record = self._transactions.get(transaction)
        if isinstance(message, Request):
            assert record is not None  # a server transaction delivers on creation
            self.user.request_received(ServerContext(self, message, record.flow))
            return
        assert isinstance(message, Response)
        if record is None or record.result is None:
            return
        if record.on_response is not None:
            record.on_response(message)
        if message.status >= 200 and not record.result.called:
            record.result.callback(message)

    def _fail(self, transaction: Transaction, failure: TransactionFailed) -> None:
        record = self._transactions.get(transaction)
        if record is not None and record.result is not None and not record.result.called:
            record.result.errback(failure)

    def _rearm(self) -> None:
        self._timer.arm(self.table.next_deadline())

    def _on_timer(self) -> None:
        for routed in self.table.on_timer(self.reactor.seconds()):
            if routed.transaction is not None:
                self._run(routed.transaction, routed.actions)
        self._rearm()

    # -- shutdown -----------------------------------------------------------------------

    def stop(self) -> defer.Deferred[list[tuple[bool, Any]]]:
        """Close every listener and connection and cancel the timer."""
        self._timer.cancel()
        for connector in self._connectors:
            try:
                connector.stopConnecting()
            except error.NotConnectingError:
                pass  # connected or failed already
        waits: list[defer.Deferred[Any]] = []
        for flow in list(self.flows.values()):
            if not flow.closed and flow.transport is not Transport.UDP:
                flow.close()
        self.gate.drop_silent()  # accepted, and no flow yet: mid-handshake, say
        for listening in self._listeners:
            result = listening.stopListening()
            if isinstance(result, defer.Deferred):
                waits.append(result)
        self._listeners = []
        return defer.DeferredList(waits)


def _transport(name: str, allowed: tuple[Transport, ...], where: str) -> Transport:
    """``name`` (``"TLS"`` or ``Transport.TLS``) as a :class:`Transport` among ``allowed``."""
    try:
        transport = Transport(name)
    except ValueError:
        transport = None
    if transport not in allowed:
        raise ValueError(f"{where} does not know transport {name!r}")
    return transport


def _stamp_received(request: Request, flow: Flow) -> None:
    """Add received/rport to the top Via (RFC 3261 §18.2.1, RFC 3581 §4)."""
    if "Via" not in request.headers:
        return
    top = request.top_via
    changed = top
    if top.host != flow.remote[0] or top.rport is True:
        changed = changed.with_param("received", flow.remote[0])
    if top.rport is True:
        changed = changed.with_param("rport", str(flow.remote[1]))
    if changed is not top:
        request.replace_top_via(changed)  # keeps the parsed value: no re-parse downstream


def _udp_response_destination(response: Response, flow: Flow) -> HostPort:
    """Where a UDP response goes (RFC 3261 §18.2.2, RFC 3581 §4)."""
    via = response.top_via
    rport = via.rport
    host = via.received or via.host
    if isinstance(rport, int) and not isinstance(rport, bool):
        return (host, rport)
    return (host, via.port or Transport.UDP.default_port)


class _StreamFactory(protocol.ClientFactory):
    """Builds :class:`StreamProtocol`s for a stack; a client one reports its connection
    (``result``: the open flow, or a :class:`ConnectFailed`)."""

    def __init__(self, stack: SipStack, transport: Transport, role: str,
                 tls_creator: ClientTlsCreator | None = None) -> None:
        self.stack = stack
        self.transport = transport
        self.role = role
        self.result: defer.Deferred[Flow] | None = defer.Deferred() if role == "client" else None
        self.tls_creator = tls_creator

    def buildProtocol(self, addr: object) -> StreamProtocol:
        proto = StreamProtocol(self.stack, self.stack.trace, self.transport, self.role)
        if self.result is not None:
            proto.on_ready.append(self._ready)
        return proto

    def _ready(self, proto: StreamProtocol, reason: Failure | None) -> None:
        if self.result is None or self.result.called:
            return
        if reason is None:
            assert proto.flow is not None
            self.result.callback(proto.flow)
            return
        failure = ConnectFailed("error", reason.getErrorMessage())
        if self.transport is Transport.TLS:
            failure = tls_connect_failed(self.tls_creator, reason, proto.transport)
        flow = proto.flow
        self.stack.trace.record(
            "tls-failed" if failure.kind == "tls" else "connect-failed", self.transport,
            local=flow.local if flow else None, remote=flow.remote if flow else None,
            summary=failure.reason)
        self.result.errback(failure)

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        if self.result is not None and not self.result.called:
            connect_failed(self.stack.trace, self.transport, connector, reason,
                           self.stack.connect_timeout, self.result)
