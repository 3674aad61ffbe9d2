"""SIP over WebSocket (RFC 7118): WS and WSS flows, and the factories the stack listens
and connects with (a listener has fault modes).

The WebSocket layer is autobahn's; TLS is Twisted's, put around these factories by the
stack (``TLSMemoryBIOFactory`` with the creators of :mod:`.tls`, as for SIP over TLS).
What RFC 7118 asks, and where:

- §4.1 Handshake: the client offers ``Sec-WebSocket-Protocol: sip``; the server's 101
  MUST carry ``sip`` back. RFC 6455 §4.2.2 forbids a server to select a subprotocol the
  client did not offer, so a client without ``sip`` cannot get a conforming 101: our
  server refuses it with 400 (what Kamailio and OpenSIPS answer). A 101 without ``sip``
  fails our client, as it fails a browser (WHATWG WebSockets: requested protocols and
  none selected means fail the connection), which is the symptom a softphone user sees.
- §4.2 SIP Encoding: both text and binary frames MUST be accepted; a message with any
  non-UTF-8 byte MUST go in a binary frame, every other one goes in a text frame.
- §5: one SIP message per WebSocket message and one WebSocket message per SIP message,
  so no Content-Length framing: a whole message is given to ``parse_message``. We send
  each message as one frame (autobahn's auto-fragmentation is off) and record how many
  frames each received message took.
- §5.1: Via transport ``WS`` / ``WSS``; the flow's ``transport`` says which.
- §6 Connection Keep-Alive: WebSocket Ping frames (RFC 6455 §5.5.2); the RFC 5626
  §3.5.1 CRLF ping/pong "of course" stays usable, so a ``CRLFCRLF`` text frame is
  answered with ``CRLF`` and a ``CRLF`` frame counts as a pong (SIP.js sends those).
- §7 Authentication: a server may answer the upgrade with HTTP 401; the client reports it.

A listener bounds the upgrade (the connection policy): a request line and headers over
``max_upgrade_size`` bytes get 431 (RFC 6585 §5) and a close; autobahn buffers the
request until its blank line with no limit. The connection's guard times the upgrade:
autobahn's ``openHandshakeTimeout`` stays off on listeners, as txaio's batched timer
truncates it to a whole second (0.3 s fires at once, 5 s within 4 to 5 s).

No SIP logic lives here: messages go to the stack (a :class:`FlowSink`), malformed ones
get the same 400 as on every other transport (``reject_bad_input``), and failures to
connect become :class:`ConnectFailed` with the HTTP status or the subprotocol named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autobahn.twisted.websocket import (
    WebSocketClientFactory,
    WebSocketClientProtocol,
    WebSocketServerFactory,
    WebSocketServerProtocol,
)
from autobahn.websocket.protocol import WebSocketProtocol
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet import defer, protocol
from twisted.internet.interfaces import IConnector, IHandshakeListener, IReactorTime, ITransport
from twisted.python.failure import Failure
from twisted.web import http, resource, server
from zope.interface import implementer

from testbed.sip import (
    DEFAULT_MAX_MESSAGE_SIZE,
    RemoteProtocolError,
    Transport,
    fmt_hostport,
    parse_message,
)

from ._connecting import ConnectFailed, connect_failed, tls_connect_failed, upgrade_refused
from ._flows import PING, PONG, Flow, FlowSink, disable_nagle, flush_now, reject_bad_input
from ._trace import HostPort, Trace, describe, hostport_of
from .tls import ClientTlsCreator

SUBPROTOCOL = "sip"  # RFC 7118 §4.1, IANA WebSocket Subprotocol Name Registry
AGENT = "sip-transport-testbed (SIP over WebSocket, RFC 7118)"  # Server / User-Agent
BEHAVIOURS = ("normal", "not-found", "upgrade-required", "no-websocket", "no-subprotocol")
CLOSE_TIMEOUT = 1.0  # seconds to wait for the peer's Close frame before dropping TCP

_NO_SIP = (f"server accepted the upgrade without the '{SUBPROTOCOL}' subprotocol "
           f"(RFC 7118 §4.1: the 101 answer MUST carry Sec-WebSocket-Protocol: {SUBPROTOCOL})")


# -- the flow ----------------------------------------------------------------------------


class WsFlow(Flow):
    """One WebSocket connection (WS, or WSS over TLS) carrying SIP, as the stack sees it."""

    def __init__(self, proto: _WsServerProtocol | _WsClientProtocol, transport: Transport,
                 local: HostPort, remote: HostPort, *, path: str, role: str) -> None:
        super().__init__(proto.trace, local, remote)
        self.transport = transport
        self.proto = proto
        self.path = path
        self.role = role
        self.subprotocol: str | None = proto.websocket_protocol_in_use

    def write(self, data: bytes) -> None:
        """Send ``data`` as one WebSocket message in one frame (RFC 7118 §4.2, §5)."""
        if self.proto.state != WebSocketProtocol.STATE_OPEN:
            raise ConnectionError(f"{self.transport} flow to {fmt_hostport(self.remote)} "
                                  f"is closing")
        self.proto.sendMessage(data, isBinary=not _is_utf8(data))
        flush_now(self.proto.transport)

    def send_keepalive(self) -> None:
        """A WebSocket Ping frame (RFC 7118 §6, RFC 6455 §5.5.2); the pong reaches the sink."""
        if not self.closed and self.proto.state == WebSocketProtocol.STATE_OPEN:
            self.proto.sendPing()
            self.trace.record("keepalive-sent", self.transport, local=self.local,
                              remote=self.remote, summary="WebSocket ping")

    def close(self) -> None:
        """Start the WebSocket closing handshake (1000, normal closure).

        ``closed`` turns true at once: after a Close frame no data frame may follow
        (RFC 6455 §5.5.1), so the stack stops using the flow; ``flow_closed`` reaches
        the sink when the TCP connection has ended.
        """
        if not self.closed and self.proto.state == WebSocketProtocol.STATE_OPEN:
            self.closed = True
            self.proto.sendClose(code=1000)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# -- what client and server protocols share ----------------------------------------------


if TYPE_CHECKING:
    from ._policy import ConnectionGuard

    _AutobahnProtocol = WebSocketProtocol  # what the mixin is mixed into, for the checker
else:
    _AutobahnProtocol = object


class _WsEndpoint(_AutobahnProtocol):
    """Flow bookkeeping, SIP in, keep-alives and close, for both sides of a connection.

    Mixed in before autobahn's protocol classes; ``self.factory`` carries ``sink``,
    ``trace``, ``transport_name`` and ``ws_path``.
    """

    factory: _WsServerFactory | WsClientFactory
    flow: WsFlow | None = None
    guard: ConnectionGuard | None = None  # an accepted connection's (the policy sets it)
    role = "?"
    _frames = 0
    _reported = False  # flow_closed given to the sink
    transport: ITransport  # set by Twisted when connected

    @property
    def trace(self) -> Trace:
        return self.factory.trace

    @property
    def sink(self) -> FlowSink:
        return self.factory.sink

    def _open_flow(self, path: str) -> WsFlow:
        assert isinstance(self, _WsServerProtocol | _WsClientProtocol)  # the two mixers-in
        flow = WsFlow(self, self.factory.transport_name, hostport_of(self.transport.getHost()),
                      hostport_of(self.transport.getPeer()), path=path, role=self.role)
        self.flow = flow
        protocol_text = flow.subprotocol or "no subprotocol"
        self.trace.record("connected", flow.transport, local=flow.local, remote=flow.remote,
                          summary=f"{flow.transport} connection ({self.role}), GET {path}, "
                                  f"subprotocol {protocol_text}")
        self.sink.flow_opened(flow)
        return flow

    # RFC 7118 §5: count the frames of each message, as evidence of one message per frame.
    def onMessageBegin(self, isBinary: bool) -> None:  # autobahn API
        super().onMessageBegin(isBinary)
        self._frames = 0

    def onMessageFrameBegin(self, length: int) -> None:  # autobahn API
        super().onMessageFrameBegin(length)
        self._frames += 1

    def onMessage(self, payload: bytes, isBinary: bool) -> None:  # autobahn API
        # Also while closing: a response may still arrive; answers are not sent then
        # (``flow.closed`` is already true, which ``reject_bad_input`` honours).
        flow = self.flow
        if flow is None:
            return
        frames = self._frames
        kind = "binary" if isBinary else "text"
        detail = f"{frames} {kind} frame" + ("s" if frames != 1 else "")
        guard = self.guard
        if payload and not payload.strip(b"\r\n"):
            if guard is not None:
                guard.keepalive()
            self._crlf_keepalive(flow, payload, detail)
            return
        try:
            message = parse_message(payload)
        except RemoteProtocolError as exc:
            if guard is not None:
                guard.keepalive()
            reject_bad_input(self.sink, flow, payload, exc)
            return
        if guard is not None:
            guard.message()
        self.trace.record("received", flow.transport, local=flow.local, remote=flow.remote,
                          summary=describe(message), data=payload, detail=detail)
        self.sink.message_received(message, flow)

    def _crlf_keepalive(self, flow: WsFlow, payload: bytes, detail: str) -> None:
        """RFC 5626 §3.5.1 CRLF keep-alives inside frames (allowed by RFC 7118 §6)."""
        if len(payload) >= len(PING):
            if not flow.closed:
                flow.write(PONG)
            self.trace.record("keepalive-received", flow.transport, local=flow.local,
                              remote=flow.remote, summary="CRLFCRLF ping (answered)",
                              detail=detail)
        else:
            self.trace.record("keepalive-received", flow.transport, local=flow.local,
                              remote=flow.remote, summary="CRLF pong", detail=detail)
            self.sink.pong_received(flow)

    def onPing(self, payload: bytes) -> None:  # autobahn API
        super().onPing(payload)  # answers with a Pong
        if self.guard is not None:
            self.guard.keepalive()
        flow = self.flow
        if flow is not None:
            self.trace.record("keepalive-received", flow.transport, local=flow.local,
                              remote=flow.remote, summary="WebSocket ping (answered)")

    def onPong(self, payload: bytes) -> None:  # autobahn API
        if self.guard is not None:
            self.guard.keepalive()
        flow = self.flow
        if flow is None:
            return
        self.trace.record("keepalive-received", flow.transport, local=flow.local,
                          remote=flow.remote, summary="WebSocket pong")
        self.sink.pong_received(flow)

    def onCloseFrame(self, code: int, reasonRaw: bytes) -> bool | None:  # autobahn API
        if self.flow is not None:
            self.flow.closed = True  # the peer is closing: send nothing more (RFC 6455 §5.5.1)
        return super().onCloseFrame(code, reasonRaw)

    def _flow_lost(self, was_clean: bool, code: int | None, reason: str | None) -> None:
        flow = self.flow
        if flow is None or self._reported:
            return
        self._reported = True
        if was_clean:
            by = "us" if getattr(self, "closedByMe", False) else "peer"
            detail = f"WebSocket closed by {by} (code {code}{': ' + reason if reason else ''})"
        else:
            detail = reason or "connection lost"
        if self.guard is not None and self.guard.close_reason:
            detail = self.guard.close_reason
        flow.closed = True
        flow.close_reason = detail
        self.trace.record("closed", flow.transport, local=flow.local, remote=flow.remote,
                          summary="connection closed", detail=detail)
        self.sink.flow_closed(flow, detail)


def _configure(factory: WebSocketServerFactory | WebSocketClientFactory,
               timeout: float | None) -> None:
    """autobahn options shared by both sides: nothing it would do on its own.

    permessage-deflate stays off (autobahn's default on both sides: the client offers
    nothing, the server accepts nothing), so frames stay readable in a capture.
    ``timeout`` bounds the opening handshake (None: no bound).
    """
    factory.setProtocolOptions(
        autoPingInterval=0,  # keep-alives only when the stack asks (send_keepalive)
        autoFragmentSize=0,  # one frame per message (RFC 7118 §5)
        maxFramePayloadSize=DEFAULT_MAX_MESSAGE_SIZE,  # like the stream framer's limit
        maxMessagePayloadSize=DEFAULT_MAX_MESSAGE_SIZE,
        openHandshakeTimeout=timeout or 0,  # 0: autobahn's "never"
        closeHandshakeTimeout=CLOSE_TIMEOUT,
    )


# -- server ------------------------------------------------------------------------------


# autobahn's own bases disagree on the types of ``peer`` and ``_transport_details``.
class _WsServerProtocol(_WsEndpoint, WebSocketServerProtocol):  # type: ignore[misc]
    role = "server"
    factory: _WsServerFactory

    def connectionMade(self) -> None:  # Twisted API
        # autobahn's own connectionMade sets TCP_NODELAY from its ``tcpNoDelay`` option
        # before it copies the option from the factory (in ``_connectionMade``): the call
        # fails with an AttributeError that autobahn swallows, and Nagle stays on, on
        # both sides of WS and WSS. So it is set here, before anything is written.
        disable_nagle(self.transport)
        super().connectionMade()

    def onConnect(self, request: ConnectionRequest) -> str | None:  # autobahn API
        factory = self.factory
        path: str = request.path
        offered: list[str] = request.protocols
        if factory.behaviour == "not-found":
            self._refuse(404, "Not Found", f"GET {path}: fault 'not-found' refuses every upgrade")
        if path != factory.ws_path:
            self._refuse(404, "Not Found", f"GET {path}: no WebSocket service at this path "
                                           f"(it is at {factory.ws_path})")
        if factory.behaviour == "no-subprotocol":
            self._note(f"GET {path}: upgraded without Sec-WebSocket-Protocol "
                       f"(fault 'no-subprotocol'; client offered {offered or 'nothing'})")
            return None
        if SUBPROTOCOL not in offered:
            self._refuse(400, f"Bad Request: WebSocket subprotocol '{SUBPROTOCOL}' not offered",
                         f"GET {path}: client offered {offered or 'no subprotocol'}, "
                         f"not '{SUBPROTOCOL}' (RFC 7118 §4.1)")
        return SUBPROTOCOL

    def _refuse(self, status: int, phrase: str, why: str) -> None:
        self._note(f"refused the WebSocket upgrade with HTTP {status}: {why}")
        raise ConnectionDeny(status, phrase)

    def _note(self, summary: str) -> None:
        self.trace.record("note", self.factory.transport_name,
                          local=hostport_of(self.transport.getHost()),
                          remote=hostport_of(self.transport.getPeer()), summary=summary)

    def failHandshake(self, reason: str, code: int = 400,  # autobahn API
                      responseHeaders: list[tuple[str, str]] | None = None) -> None:
        headers = [("Server", AGENT), ("Content-Length", "0")] + list(responseHeaders or [])
        super().failHandshake(reason, code, headers)

    def processHandshake(self) -> None:  # autobahn API
        # autobahn looks for the blank line in all it buffered, on every read, with no
        # limit: bound what it may buffer, and refuse past it (RFC 6585 §5).
        limit = self.factory.max_upgrade_size
        if limit is not None and len(self.data) > limit \
                and self.data.find(b"\r\n\r\n", 0, limit) < 0:
            size = len(self.data)
            self.data = b""
            self._note(f"refused the WebSocket upgrade with HTTP 431: request line and "
                       f"headers over {limit} bytes (max_upgrade_size; {size} received)")
            self.failHandshake("Request Header Fields Too Large", 431,
                               [("Connection", "close")])
            return
        super().processHandshake()

    def onOpen(self) -> None:  # autobahn API
        self._open_flow(self.http_request_path)
        if self.guard is not None:
            self.guard.ready()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:  # Twisted API
        super().connectionLost(reason)
        self.data = b""  # whatever was buffered (an unfinished upgrade, a partial frame)
        self.http_request_data = b""

    def onClose(self, wasClean: bool, code: int | None,  # autobahn API
                reason: str | None) -> None:
        self._flow_lost(wasClean, code, reason)


class _WsServerFactory(WebSocketServerFactory):
    # Twisted types ``protocol`` as building its protocol shape, whose ``factory`` is a
    # plain Factory; ours names its factory's class.
    protocol = _WsServerProtocol  # type: ignore[assignment]

    def __init__(self, sink: FlowSink, trace: Trace, reactor: IReactorTime, transport: Transport,
                 path: str, behaviour: str, max_upgrade_size: int | None) -> None:
        super().__init__(protocols=[SUBPROTOCOL], server=AGENT, reactor=reactor)
        self.sink = sink
        self.trace = trace
        self.transport_name = transport
        self.ws_path = path
        self.behaviour = behaviour
        self.max_upgrade_size = max_upgrade_size
        _configure(self, None)  # the connection policy's guard times the upgrade
        # No HTML status page for a GET without Upgrade: the autobahn default would be
        # a surprise on a SIP port (autobahn then answers 426 itself).
        self.setProtocolOptions(webStatus=False)


class _PlainHttpPage(resource.Resource):
    """A web server on the WebSocket port that never upgrades (a WebSocket fault).

    ``no-websocket``: a plain web site answers 200 with an HTML page and ignores the
    Upgrade header (a catch-all site, or a virtual host without the SIP location).
    ``upgrade-required``: the WebSocket back end saw a GET without the upgrade, because a
    reverse proxy in front of it drops the hop-by-hop Upgrade/Connection headers (nginx
    without ``proxy_set_header Upgrade``), and answers 426 Upgrade Required, naming
    ``Upgrade: websocket`` as RFC 7231 §6.5.15 asks.
    """

    isLeaf = True

    def __init__(self, trace: Trace, transport: Transport, behaviour: str) -> None:
        super().__init__()
        self.trace = trace
        self.transport_name = transport
        self.behaviour = behaviour

    def render(self, request: server.Request) -> bytes:
        request.setHeader(b"server", AGENT.encode())
        path = request.path.decode("latin-1")
        if self.behaviour == "upgrade-required":
            request.setResponseCode(426, b"Upgrade Required")
            request.setHeader(b"upgrade", b"websocket")
            request.setHeader(b"connection", b"Upgrade")
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            body = b"426 Upgrade Required: this service needs a WebSocket upgrade\n"
            what = "HTTP 426 Upgrade Required (fault 'upgrade-required')"
        else:
            request.setHeader(b"content-type", b"text/html; charset=utf-8")
            body = _HTML_PAGE
            what = "HTTP 200 OK with an HTML page, upgrade ignored (fault 'no-websocket')"
        self.trace.record("note", self.transport_name, local=hostport_of(request.getHost()),
                          remote=hostport_of(request.getClientAddress()),
                          summary=f"answered {request.method.decode()} {path} with {what}")
        return body


_HTML_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Welcome</title></head>\n"
              b"<body><h1>It works!</h1><p>This web server has no WebSocket service here.</p>"
              b"</body></html>\n")


class _QuietSite(server.Site):
    """A ``Site`` whose access log is the trace (the page records what it answered)."""

    def log(self, request: http.Request) -> None:
        pass


def ws_listener_factory(sink: FlowSink, trace: Trace, reactor: IReactorTime,
                        transport: Transport, *, path: str = "/", behaviour: str = "normal",
                        max_upgrade_size: int | None = 8192) -> protocol.Factory[Any]:
    """The factory of a SIP WebSocket listening port (TLS goes around it for WSS).

    ``behaviour`` picks what the port does with an upgrade (one of :data:`BEHAVIOURS`):

    - ``normal``: RFC 7118 server at ``path``: 404 on any other path, 400 when the
      client does not offer ``sip`` (§4.1), else 101 with ``sip``;
    - ``not-found``: 404 Not Found on every upgrade;
    - ``upgrade-required``: plain HTTP(S), 426 Upgrade Required (a proxy that strips
      the upgrade headers in front of a WebSocket server);
    - ``no-websocket``: plain HTTP(S), 200 OK and an HTML page (a web server that
      ignores the upgrade);
    - ``no-subprotocol``: upgrades without ``Sec-WebSocket-Protocol`` and then serves
      SIP anyway, as a misconfigured gateway does.

    ``max_upgrade_size`` bounds the bytes of the upgrade's request line and headers
    (431 past them; None: no bound). The upgrade's deadline is the connection policy's
    (the stack's gate). Raises :class:`ValueError` for an unknown behaviour or a path
    without its leading ``/``.
    """
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"WebSocket listener behaviour {behaviour!r}: expected one of "
                         f"{', '.join(BEHAVIOURS)}")
    if not path.startswith("/"):
        raise ValueError(f"WebSocket path {path!r} must start with '/'")
    if behaviour in ("upgrade-required", "no-websocket"):
        return _QuietSite(_PlainHttpPage(trace, transport, behaviour))
    return _WsServerFactory(sink, trace, reactor, transport, path, behaviour,
                            max_upgrade_size)


# -- client ------------------------------------------------------------------------------


@implementer(IHandshakeListener)
class _WsClientProtocol(_WsEndpoint, WebSocketClientProtocol):  # type: ignore[misc]  # as above
    role = "client"
    factory: WsClientFactory
    _tls_done = False
    _lost: Failure | None = None
    _local: HostPort | None = None

    def connectionMade(self) -> None:  # Twisted API
        # kept: unreadable once the socket has closed
        self._local = hostport_of(self.transport.getHost())
        disable_nagle(self.transport)  # as for the server protocol: autobahn's attempt fails
        super().connectionMade()

    def handshakeCompleted(self) -> None:  # IHandshakeListener
        self._tls_done = True

    def failHandshake(self, reason: str) -> None:  # autobahn API
        """The upgrade was refused or its answer is not a valid 101 (RFC 6455 §4.1)."""
        status_line = getattr(self, "http_status_line", None)
        words = status_line.split(None, 2) if status_line else []
        if len(words) >= 2 and words[1].isdigit() and words[1] != "101":
            phrase = words[2] if len(words) > 2 else ""
            headers: dict[str, str] = getattr(self, "http_headers", {})
            text = upgrade_refused(int(words[1]), phrase, self.factory.ws_path, headers)
        else:
            text = f"invalid answer to the WebSocket upgrade (GET {self.factory.ws_path}): {reason}"
        self.factory.failed(self, ConnectFailed("websocket", text))
        super().failHandshake(reason)

    def onOpen(self) -> None:  # autobahn API
        if self.websocket_protocol_in_use != SUBPROTOCOL:
            # Fail the WebSocket connection (RFC 6455 §7.1.7) with 1002, protocol error.
            self.factory.failed(self, ConnectFailed("websocket", _NO_SIP))
            self.sendCloseFrame(code=WebSocketProtocol.CLOSE_STATUS_CODE_PROTOCOL_ERROR,
                                reasonUtf8=b"no 'sip' in Sec-WebSocket-Protocol (RFC 7118)")
            return
        self.factory.opened(self._open_flow(self.factory.ws_path))

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self._lost = reason
        super().connectionLost(reason)

    def onClose(self, wasClean: bool, code: int | None,  # autobahn API
                reason: str | None) -> None:
        if self.flow is not None:
            self._flow_lost(wasClean, code, reason)
            return
        factory = self.factory
        timed_out = getattr(self, "wasOpenHandshakeTimeout", False)
        remote = fmt_hostport(factory.remote)
        if factory.secure and not self._tls_done:
            if timed_out:
                failure = ConnectFailed("timeout", f"TLS handshake with {remote} did not "
                                                   f"finish within {factory.timeout:g} s")
            else:
                failure = tls_connect_failed(factory.tls_creator, self._lost or Failure(
                    ConnectionError(reason or "connection lost")), self.transport)
        elif timed_out:
            failure = ConnectFailed("timeout", f"no answer to the WebSocket upgrade "
                                               f"(GET {factory.ws_path}) from {remote} "
                                               f"within {factory.timeout:g} s")
        else:
            lost = self._lost.getErrorMessage() if self._lost is not None else reason
            failure = ConnectFailed("websocket", f"connection closed before the WebSocket upgrade "
                                                 f"(GET {factory.ws_path}) completed: {lost}")
        factory.failed(self, failure)


class WsClientFactory(WebSocketClientFactory):
    """One SIP WebSocket connection attempt: ``result`` fires with the open
    :class:`WsFlow` or a :class:`ConnectFailed`.

    WSS when ``tls_creator`` is given (the stack puts TLS around this factory with it),
    WS without. ``server_name`` (default: the host) goes in the Host header of the
    upgrade; SNI and certificate checks are the creator's. Fails with kind
    ``refused``/``timeout``/``unreachable`` (TCP), ``tls`` (the handshake), ``timeout``
    (no answer to the upgrade within ``timeout`` seconds) or ``websocket`` (the HTTP
    status, or the missing ``sip`` subprotocol, in the reason).
    """

    protocol = _WsClientProtocol  # type: ignore[assignment]  # as for the server factory

    def __init__(self, sink: FlowSink, trace: Trace, reactor: IReactorTime, remote: HostPort,
                 *, path: str = "/", server_name: str | None = None,
                 tls_creator: ClientTlsCreator | None = None, timeout: float = 5.0) -> None:
        if not path.startswith("/"):
            raise ValueError(f"WebSocket path {path!r} must start with '/'")
        self.secure = tls_creator is not None
        scheme = "wss" if self.secure else "ws"
        self.url = f"{scheme}://{fmt_hostport((server_name or remote[0], remote[1]))}{path}"
        super().__init__(self.url, protocols=[SUBPROTOCOL], useragent=AGENT, reactor=reactor)
        self.sink = sink
        self.trace = trace
        self.transport_name = Transport.WSS if self.secure else Transport.WS
        self.remote = remote
        self.ws_path = path
        self.result: defer.Deferred[Flow] = defer.Deferred()
        self.tls_creator = tls_creator
        self.timeout = timeout
        _configure(self, timeout)

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        # Classified and traced like every stream transport's (refused, timeout, ...).
        if not self.result.called:
            connect_failed(self.trace, self.transport_name, connector, reason, self.timeout,
                           self.result)

    def opened(self, flow: WsFlow) -> None:
        if not self.result.called:
            self.result.callback(flow)

    def failed(self, proto: _WsClientProtocol, failure: ConnectFailed) -> None:
        if self.result.called:
            return
        self.trace.record("tls-failed" if failure.kind == "tls" else "connect-failed",
                          self.transport_name, local=proto._local, remote=self.remote,
                          summary=failure.reason, detail=failure.kind)
        self.result.errback(failure)
