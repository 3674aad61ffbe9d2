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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol as TypingProtocol

from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IReactorTime
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure

from testbed.sip import (
    Deliver,
    Message,
    Request,
    Response,
    Terminated,
    Timeout,
    Timers,
    Transaction,
    TransactionTable,
    Transmit,
    TransportFailed,
    make_response,
)

from ._capture import Capture
from ._flows import Flow, FlowSink, StreamProtocol, UdpEndpoint
from ._icmp import listen_udp
from ._timers import DeadlineTimer
from ._tls import tls_failure_from
from ._trace import HostPort, Trace, describe, fmt_hostport


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


class ConnectFailed(Exception):
    """A TCP/TLS/WSS connection could not be set up.

    ``kind``: ``"refused"``, ``"timeout"``, ``"unreachable"``, ``"tls"`` (``tls_failure``
    carries the verification reason), ``"websocket"`` (the upgrade failed) or ``"error"``.
    """

    def __init__(self, kind: str, reason: str, tls_failure: object = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.tls_failure = tls_failure


class ServerContext:
    """A request received on a server transaction; answer it with :meth:`respond`."""

    def __init__(self, stack: SipStack, request: Request, flow: Flow) -> None:
        self.stack = stack
        self.request = request
        self.flow = flow

    def respond(self, status: int, reason: str | None = None, **kwargs: object) -> Response:
        """Build a response with :func:`make_response` and send it."""
        response = make_response(self.request, status, reason, **kwargs)  # type: ignore[arg-type]
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


@dataclass
class _Pending:
    """A client transaction's bookkeeping in the stack."""

    flow: Flow
    result: defer.Deferred
    on_response: Callable[[Response], None] | None


class SipStack(FlowSink):
    """Transports, flows and the transaction table of one SIP element."""

    def __init__(
        self,
        reactor: IReactorTime,
        user: TransactionUser,
        *,
        timers: Timers | None = None,
        trace: Trace | None = None,
        name: str = "",
        send_trying: bool = True,
        connect_timeout: float = 5.0,
        capture: Capture | None = None,
    ) -> None:
        self.reactor = reactor
        self._capture = capture
        self.user = user
        self.timers = timers or Timers()
        self.trace = trace if trace is not None else Trace(reactor.seconds, name)
        self.table = TransactionTable(self.timers, send_trying=send_trying)
        self.connect_timeout = connect_timeout
        self.udp: UdpEndpoint | None = None
        self.flows: dict[tuple[str, str, int], Flow] = {}
        self._listeners: list = []
        self._connectors: list = []
        self._client_flows: dict[int, Flow] = {}  # id(transaction) -> flow
        self._server_flows: dict[int, Flow] = {}
        self._pending: dict[int, _Pending] = {}
        self._failure_kinds: dict[int, str] = {}  # id(transaction) -> refused / unreachable
        self._timer = DeadlineTimer(reactor, self._on_timer)
        self.on_pong: list[Callable[[Flow], None]] = []

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

    def captured(self, factory: protocol.Factory, role: str) -> protocol.Factory:
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
        self._note_listening("UDP", endpoint.local)
        return endpoint.local

    def listen_stream(self, transport: str, host: str, port: int = 0,
                      tls_options: object = None) -> HostPort:
        """Listen for TCP, or TLS when ``tls_options`` (a server context factory) is given."""
        factory: protocol.Factory = _StreamFactory(self, transport, "server")
        if transport == "TLS":
            factory = TLSMemoryBIOFactory(tls_options, False, factory)
        listening = self.reactor.listenTCP(port, self.captured(factory, "server"),  # type: ignore[attr-defined]
                                           interface=host)
        self._listeners.append(listening)
        address = listening.getHost()
        self._note_listening(transport, (address.host, address.port))
        return (address.host, address.port)

    def add_listener(self, transport: str, listening: object, address: HostPort) -> None:
        """Adopt a listening port made elsewhere (the WSS adapter) so :meth:`stop` closes it."""
        self._listeners.append(listening)
        self._note_listening(transport, address)

    def _note_listening(self, transport: str, address: HostPort) -> None:
        self.trace.record("listening", transport, local=address,
                          summary=f"listening on {fmt_hostport(address)}/{transport}")

    # -- flows --------------------------------------------------------------------------

    def udp_flow(self, host: str, port: int) -> Flow:
        """The flow from this element's UDP socket to ``host:port``."""
        if self.udp is None:
            raise RuntimeError("listen_udp() first: the element has no UDP socket")
        return self.udp.flow_to((host, port))

    def existing_flow(self, transport: str, host: str, port: int) -> Flow | None:
        flow = self.flows.get((transport, host, port))
        return None if flow is None or flow.closed else flow

    def connect(self, transport: str, host: str, port: int, *,
                tls_creator: object = None, ws_path: str = "/",
                server_name: str | None = None) -> defer.Deferred:
        """A Deferred of an open flow to ``host:port``: an existing one is reused.

        UDP needs no set-up. TCP connects; TLS connects and completes the handshake
        with ``tls_creator`` (an ``IOpenSSLClientConnectionCreator``). Fails with
        :class:`ConnectFailed`.
        """
        if transport == "UDP":
            return defer.succeed(self.udp_flow(host, port))
        existing = self.existing_flow(transport, host, port)
        if existing is not None:
            return defer.succeed(existing)
        if transport in ("WS", "WSS"):
            if (transport == "WSS") != (tls_creator is not None):
                raise ValueError(f"{transport}: WSS needs tls_creator, WS takes none")
            from ._ws import connect_ws  # lazy: _ws imports this module

            return connect_ws(self, host, port, tls_creator=tls_creator, path=ws_path,
                              server_name=server_name)
        if transport not in ("TCP", "TLS"):
            raise ValueError(f"connect() does not know transport {transport!r}")
        result: defer.Deferred = defer.Deferred()
        factory = _StreamFactory(self, transport, "client", result=result, tls_creator=tls_creator)
        wrapped: protocol.ClientFactory = factory
        if transport == "TLS":
            wrapped = _TlsClientFactory(tls_creator, factory)
        self.trace.record("connecting", transport, remote=(host, port),
                          summary=f"connecting to {fmt_hostport((host, port))}/{transport}")
        connector = self.reactor.connectTCP(host, port,  # type: ignore[attr-defined]
                                            self.captured(wrapped, "client"),
                                            timeout=self.connect_timeout)
        self.add_connector(connector)
        return result

    def add_connector(self, connector: object) -> None:
        """Adopt a connection attempt made elsewhere (WS/WSS) so :meth:`stop` cancels it."""
        self._connectors.append(connector)

    def flow_opened(self, flow: Flow) -> None:
        self.flows[flow.key] = flow

    def flow_closed(self, flow: Flow, reason: str) -> None:
        if self.flows.get(flow.key) is flow:
            del self.flows[flow.key]
        now = self.reactor.seconds()
        for transaction in list(self.table):
            key = id(transaction)
            if self._client_flows.get(key) is flow or self._server_flows.get(key) is flow:
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
            key = id(transaction)
            sent_on = self._client_flows.get(key)
            pending = self._pending.get(key)
            if sent_on is None or sent_on.key != flow.key or pending is None \
                    or pending.result.called:
                continue
            self._failure_kinds[key] = kind
            routed = self.table.transport_error(transaction, now, reason)
            self._run(transaction, routed.actions)
        self._rearm()

    # -- requests and responses ---------------------------------------------------------

    def send_request(self, request: Request, flow: Flow,
                     on_response: Callable[[Response], None] | None = None) -> defer.Deferred:
        """Start a client transaction; the Deferred fires with the final response.

        ``on_response`` sees every response the transaction delivers (provisional ones,
        and 2xx retransmissions after the final one). Errback: :class:`TransactionFailed`.
        """
        now = self.reactor.seconds()
        routed = self.table.start_client(request, now, reliable=flow.reliable)
        transaction = routed.transaction
        assert transaction is not None
        result: defer.Deferred = defer.Deferred()
        self._client_flows[id(transaction)] = flow
        self._pending[id(transaction)] = _Pending(flow, result, on_response)
        self._run(transaction, routed.actions)
        self._rearm()
        return result

    def send_stateless(self, message: Message, flow: Flow) -> None:
        """Send outside any transaction: the ACK for a 2xx (RFC 3261 §13.2.2.4)."""
        flow.send_message(message)

    def send_response(self, response: Response) -> None:
        """Send a response on the server transaction it answers."""
        routed = self.table.send_response(response, self.reactor.seconds())
        if routed.transaction is not None:
            self._run(routed.transaction, routed.actions)
        self._rearm()

    def message_received(self, message: Message, flow: Flow) -> None:
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
                self._server_flows[id(routed.transaction)] = flow
            self._run(routed.transaction, routed.actions)
        self._rearm()

    # -- actions and timers -------------------------------------------------------------

    def _run(self, transaction: Transaction, actions: list) -> None:
        key = id(transaction)
        for action in actions:
            if isinstance(action, Transmit):
                self._transmit(transaction, action)
            elif isinstance(action, Deliver):
                self._deliver(transaction, action.message)
            elif isinstance(action, Timeout):
                self.trace.record("timeout", self._flow_of(transaction).transport,
                                  remote=self._flow_of(transaction).remote,
                                  summary=f"Timer {action.timer} fired: "
                                          f"{describe(transaction.request)}")
                self._fail(key, TransactionFailed("timeout", f"Timer {action.timer} expired",
                                                  action.timer))
            elif isinstance(action, TransportFailed):
                kind = self._failure_kinds.pop(key, "transport")
                self._fail(key, TransactionFailed(kind, action.reason))
            elif isinstance(action, Terminated):
                self._failure_kinds.pop(key, None)
                self._client_flows.pop(key, None)
                self._server_flows.pop(key, None)
                pending = self._pending.pop(key, None)
                if pending is not None and not pending.result.called:
                    pending.result.errback(TransactionFailed("transport", "terminated"))

    def _flow_of(self, transaction: Transaction) -> Flow:
        key = id(transaction)
        return self._client_flows.get(key) or self._server_flows[key]

    def _transmit(self, transaction: Transaction, action: Transmit) -> None:
        message = action.message
        flow = self._flow_of(transaction)
        if isinstance(message, Response) and flow.transport == "UDP" and self.udp is not None:
            flow = self.udp.flow_to(_udp_response_destination(message, flow))
        try:
            flow.send_message(message)
        except (ConnectionError, OSError) as exc:
            routed = self.table.transport_error(transaction, self.reactor.seconds(), str(exc))
            self._run(transaction, routed.actions)

    def _deliver(self, transaction: Transaction, message: Message) -> None:
        key = id(transaction)
        if isinstance(message, Request):
            self.user.request_received(ServerContext(self, message, self._server_flows[key]))
            return
        assert isinstance(message, Response)
        pending = self._pending.get(key)
        if pending is None:
            return
        if pending.on_response is not None:
            pending.on_response(message)
        if message.status >= 200 and not pending.result.called:
            pending.result.callback(message)

    def _fail(self, key: int, failure: TransactionFailed) -> None:
        pending = self._pending.get(key)
        if pending is not None and not pending.result.called:
            pending.result.errback(failure)

    def _rearm(self) -> None:
        self._timer.arm(self.table.next_deadline())

    def _on_timer(self) -> None:
        for routed in self.table.on_timer(self.reactor.seconds()):
            if routed.transaction is not None:
                self._run(routed.transaction, routed.actions)
        self._rearm()

    # -- shutdown -----------------------------------------------------------------------

    def stop(self) -> defer.Deferred:
        """Close every listener and connection and cancel the timer."""
        self._timer.cancel()
        for connector in self._connectors:
            if connector.state == "connecting":
                connector.stopConnecting()
        waits = []
        for flow in list(self.flows.values()):
            if not flow.closed and flow.transport != "UDP":
                flow.close()
        for listening in self._listeners:
            result = listening.stopListening()
            if isinstance(result, defer.Deferred):
                waits.append(result)
        self._listeners = []
        return defer.DeferredList(waits)


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
    return (host, via.port or 5060)


# -- Twisted factories ----------------------------------------------------------------


class _StreamFactory(protocol.ClientFactory):
    """Builds :class:`StreamProtocol`s for a stack, and reports client connection results."""

    def __init__(self, stack: SipStack, transport: str, role: str,
                 result: defer.Deferred | None = None, tls_creator: object = None) -> None:
        self.stack = stack
        self.transport = transport
        self.role = role
        self.result = result
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
            self.result.callback(proto.flow)
            return
        failure = ConnectFailed("error", reason.getErrorMessage())
        if self.transport == "TLS":
            failure = _tls_connect_failed(self.tls_creator, reason, proto.transport)
        flow = proto.flow
        self.stack.trace.record(
            "tls-failed" if failure.kind == "tls" else "connect-failed", self.transport,
            local=flow.local if flow else None, remote=flow.remote if flow else None,
            summary=failure.reason)
        self.result.errback(failure)

    def clientConnectionFailed(self, connector: object, reason: Failure) -> None:
        if self.result is not None and not self.result.called:
            connect_failed(self.stack, self.transport, connector, reason, self.result)


def connect_failed(stack: SipStack, transport: str, connector: object, reason: Failure,
                   result: defer.Deferred) -> None:
    """Classify a TCP connection failure (refused, timeout, unreachable), trace it and
    errback ``result`` with the :class:`ConnectFailed`; shared by every stream transport."""
    destination = connector.getDestination()  # type: ignore[attr-defined]
    remote = (destination.host, destination.port)
    if reason.check(error.ConnectionRefusedError):
        failure = ConnectFailed("refused", f"connection refused by {fmt_hostport(remote)}")
    elif reason.check(error.TimeoutError, error.TCPTimedOutError):
        failure = ConnectFailed("timeout", f"no answer from {fmt_hostport(remote)} "
                                           f"within {stack.connect_timeout:g} s")
    elif reason.check(error.NoRouteError):
        failure = ConnectFailed("unreachable", f"no route to {fmt_hostport(remote)}")
    else:
        failure = ConnectFailed("error", reason.getErrorMessage())
    stack.trace.record("connect-failed", transport, remote=remote, summary=failure.reason,
                       detail=failure.kind)
    result.errback(failure)


class _TlsClientFactory(TLSMemoryBIOFactory, protocol.ClientFactory):
    """TLS around a :class:`_StreamFactory`, passing connection failures through."""

    def __init__(self, creator: object, wrapped: _StreamFactory) -> None:
        TLSMemoryBIOFactory.__init__(self, creator, True, wrapped)

    def clientConnectionFailed(self, connector: object, reason: Failure) -> None:
        self.wrappedFactory.clientConnectionFailed(connector, reason)

    def clientConnectionLost(self, connector: object, reason: Failure) -> None:
        pass


def _tls_connect_failed(creator: object, reason: Failure,
                        transport: object = None) -> ConnectFailed:
    """Turn a handshake that died into a :class:`ConnectFailed` naming why."""
    tls_failure = tls_failure_from(reason, creator, transport)
    if tls_failure is not None:
        return ConnectFailed("tls", f"TLS handshake failed: {tls_failure}", tls_failure)
    return ConnectFailed("tls", f"TLS handshake failed: {reason.getErrorMessage()}")
