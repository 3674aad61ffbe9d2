"""Flows: the paths SIP messages travel, and the Twisted protocols behind them.

A *flow* (RFC 5626 §3) is one UDP socket paired with one remote address, or one TCP,
TLS or WebSocket connection. Protocols here only move bytes: they frame (stream),
parse with the one SIP parser, answer malformed requests with 400 (RFC 3261 §21.4.1)
and hand whole messages to a :class:`FlowSink` (the stack). No SIP logic lives here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Protocol as TypingProtocol

from twisted.internet import protocol
from twisted.internet.interfaces import IHandshakeListener
from twisted.python.failure import Failure
from zope.interface import implementer

from testbed.sip import (
    BadMessage,
    KeepAlivePing,
    KeepAlivePong,
    Message,
    RemoteProtocolError,
    StreamEvent,
    StreamFramer,
    Transport,
    error_response_for,
    parse_frame,
    parse_message,
)

from ._capture import Capture
from ._trace import HostPort, Trace, describe, hostport_of

if TYPE_CHECKING:
    from ._policy import ConnectionGuard

PING = b"\r\n\r\n"  # RFC 5626 §3.5.1 double-CRLF keep-alive ping
PONG = b"\r\n"


class FlowSink(TypingProtocol):
    """What a flow reports to (implemented by the stack)."""

    def message_received(self, message: Message, flow: Flow) -> None: ...

    def flow_opened(self, flow: Flow) -> None: ...

    def flow_closed(self, flow: Flow, reason: str) -> None: ...

    def pong_received(self, flow: Flow) -> None: ...

    def flow_unreachable(self, flow: Flow, kind: str, reason: str) -> None: ...

    def input_rejected(self, flow: Flow, what: str) -> None: ...

    def fast_path_taken(self, data: bytes, flow: Flow) -> bool:
        """Whether a fast path (:attr:`SipStack.fast_path`) handled a framed message
        whole; False sends it through the parser and the transaction layer."""
        ...


class Flow:
    """Base of every flow: addressing, tracing and the send path."""

    transport: Transport  # set by each kind of flow

    def __init__(self, trace: Trace, local: HostPort, remote: HostPort) -> None:
        self.trace = trace
        self.local = local
        self.remote = remote
        self.closed = False
        self.close_reason = ""

    @property
    def reliable(self) -> bool:
        return self.transport.reliable

    @property
    def key(self) -> tuple[Transport, str, int]:
        return (self.transport, self.remote[0], self.remote[1])

    @property
    def connection(self) -> object | None:
        """The Twisted transport carrying a stream flow (for TLS, the TLS protocol a
        creator knows its handshake record by); None for UDP."""
        proto = getattr(self, "proto", None)
        return None if proto is None else proto.transport

    @property
    def guard(self) -> ConnectionGuard | None:
        """The connection policy's watch over an accepted connection; None for UDP and
        for connections this element opened."""
        proto = getattr(self, "proto", None)
        return None if proto is None else proto.guard

    def send_message(self, message: Message) -> None:
        """Serialise and send one message, recording it in the trace."""
        data = message.to_bytes()
        if self.closed:
            self.trace.record("send-failed", self.transport, local=self.local, remote=self.remote,
                              summary=describe(message), data=data, detail="flow closed")
            raise ConnectionError(f"{self.transport} flow to {self.remote} is closed")
        self.write(data)
        self.trace.record("sent", self.transport, local=self.local, remote=self.remote,
                          summary=describe(message), data=data)

    def send_keepalive(self) -> None:
        """RFC 5626 §3.5.1 ping (streams) / a CRLF datagram (UDP, as many UAs do)."""
        if not self.closed:
            self.write(PING)
            self.trace.record("keepalive-sent", self.transport, local=self.local,
                              remote=self.remote, summary="CRLFCRLF ping", data=PING)

    def write(self, data: bytes) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.transport} {self.local} -> {self.remote}>"


def reject_bad_input(sink: FlowSink, flow: Flow, raw: bytes,
                     error: RemoteProtocolError) -> None:
    """Record malformed input, answer it if it was a request (RFC 3261 §21.4.1; a
    response is dropped, §18.1.2) and tell ``sink``, which logs one line at most."""
    trace = flow.trace
    trace.record("bad-message", flow.transport, local=flow.local, remote=flow.remote,
                 summary=error.reason, data=raw[:4096], detail=f"status {error.status_hint}")
    answer = error_response_for(raw, error)
    outcome = "dropped"
    if answer is not None and not flow.closed:
        try:
            flow.write(answer)
        except (ConnectionError, OSError) as exc:
            outcome = f"answer not sent: {exc}"
        else:
            outcome = "answered"
            trace.record("sent", flow.transport, local=flow.local, remote=flow.remote,
                         summary=f"{error.status_hint} {error.reason}", data=answer)
    sink.input_rejected(flow, f"{error.status_hint} {error.reason} ({outcome})")


# -- UDP ---------------------------------------------------------------------------------


class UdpFlow(Flow):
    """One remote address seen through one UDP socket."""

    transport = Transport.UDP

    def __init__(self, endpoint: UdpEndpoint, remote: HostPort) -> None:
        super().__init__(endpoint.trace, endpoint.local, remote)
        self.endpoint = endpoint

    def write(self, data: bytes) -> None:
        self.endpoint.write(data, self.remote)

    def close(self) -> None:
        self.closed = True  # UDP has no connection; the socket belongs to the endpoint


class UdpEndpoint(protocol.DatagramProtocol):
    """One UDP socket: every datagram is one message (RFC 3261 §18.3)."""

    capture: Capture | None = None  # set by the stack: records every datagram both ways

    def __init__(self, sink: FlowSink, trace: Trace) -> None:
        self.sink = sink
        self.trace = trace
        self.local: HostPort = ("0.0.0.0", 0)
        self.flows: dict[HostPort, UdpFlow] = {}

    def startProtocol(self) -> None:
        assert self.transport is not None  # Twisted starts a protocol once it has one
        self.local = hostport_of(self.transport.getHost())

    def flow_to(self, remote: HostPort) -> UdpFlow:
        flow = self.flows.get(remote)
        if flow is None or flow.closed:
            flow = self.flows[remote] = UdpFlow(self, remote)
        return flow

    def write(self, data: bytes, remote: HostPort) -> None:
        if self.transport is None:
            raise ConnectionError("UDP socket is closed")
        self.transport.write(data, remote)
        if self.capture is not None:
            self.capture.datagram(self.local, remote, data, sent=True)

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.capture is not None:
            self.capture.datagram((addr[0], addr[1]), self.local, data, sent=False)
        flow = self.flow_to((addr[0], addr[1]))
        if not data.strip(b"\r\n"):
            self.trace.record("keepalive-received", Transport.UDP, local=self.local,
                              remote=flow.remote, summary="CRLF keep-alive", data=data)
            return
        if self.sink.fast_path_taken(data, flow):
            return
        try:
            message = parse_message(data)
        except RemoteProtocolError as exc:
            reject_bad_input(self.sink, flow, data, exc)
            return
        self.trace.record("received", Transport.UDP, local=self.local, remote=flow.remote,
                          summary=describe(message), data=data)
        self.sink.message_received(message, flow)

    def connectionRefused(self) -> None:  # only for connected sockets; kept for completeness
        self.trace.record("connect-failed", Transport.UDP, local=self.local,
                          summary="ICMP port unreachable")

    def destination_unreachable(self, remote: HostPort, kind: str, reason: str) -> None:
        """An ICMP error came back for a datagram sent to ``remote`` (see ``_icmp``):
        ``kind`` is ``refused`` (port unreachable) or ``unreachable``."""
        flow = self.flow_to(remote)
        self.trace.record("connect-failed", Transport.UDP, local=self.local, remote=remote,
                          summary=reason, detail=kind)
        self.sink.flow_unreachable(flow, kind, reason)


# -- TCP and TLS -------------------------------------------------------------------------


class StreamFlow(Flow):
    """One TCP or TLS connection, as the stack sees it."""

    def __init__(self, proto: StreamProtocol, transport: Transport, local: HostPort,
                 remote: HostPort) -> None:
        super().__init__(proto.trace, local, remote)
        self.transport = transport
        self.proto = proto

    def write(self, data: bytes) -> None:
        proto = self.proto
        transport = proto.transport
        if transport is None:
            raise ConnectionError(f"{self.transport} flow to {self.remote} is closed")
        if proto.reading:
            proto.held.append(data)  # sent with the others at the end of the read
        else:
            transport.write(data)
            flush_now(transport)

    def close(self) -> None:
        proto = self.proto
        if not self.closed and proto.transport is not None:
            proto.write_held()  # what this read answered goes out before the close
            proto.transport.loseConnection()


def disable_nagle(transport: object) -> None:
    """Set TCP_NODELAY on the connection under ``transport``.

    Each SIP message goes out in one write, so Nagle's algorithm only ever holds back
    the second of two messages written back to back (a 180 then a 200, an ACK then a
    BYE) until the peer's delayed ACK for the first: ~40 ms on Linux. TLS and capture
    wrappers (Twisted's ``ProtocolWrapper``) pass ``setTcpNoDelay`` down to the TCP
    transport; a transport without it (a test double) is left as it is.
    """
    no_delay = getattr(transport, "setTcpNoDelay", None)
    if no_delay is not None:
        no_delay(True)


def flush_now(transport: object) -> None:
    """Send what was just written now, not at the next reactor iteration.

    Twisted's TCP transports buffer writes until the reactor sees the socket writable.
    With many transactions on one connection, both ends then work in batches and wait
    for each other (a convoy: half the throughput on loopback). A TLS wrapper hands
    its records to the TCP transport at once, so flushing the latter (reached through
    the wrapper) sends them too; Twisted's default TLS transport first aggregates small
    writes until the next iteration for the same reason, so its aggregate is flushed
    first (when it has one: without it, nothing is lost but time). Errors are left to
    the reactor's own ``doWrite``.
    """
    aggregate = getattr(transport, "_aggregator", None)  # twisted BufferingTLSTransport
    if aggregate is not None:
        aggregate.flush()
    flush = getattr(transport, "doWrite", None)
    if flush is not None and getattr(transport, "connected", False) \
            and not getattr(transport, "disconnecting", True):
        flush()


@implementer(IHandshakeListener)
class StreamProtocol(protocol.Protocol):
    """Frames a TCP/TLS byte stream into SIP messages and CRLF keep-alives.

    ``ready`` fires (through ``on_ready`` callbacks) once the connection can carry SIP:
    at once for TCP, after the handshake for TLS (``IHandshakeListener``). On an
    accepted connection, ``guard`` (set by the connection policy before it connects)
    hears of readiness, messages, keep-alives and partial input.
    """

    guard: ConnectionGuard | None = None
    reading = False
    """True while the messages of one read are handled: what they answer is held
    (:attr:`held`) and written out once at the end of the read (one write and one
    system call for a batch, not one each)."""

    def __init__(self, sink: FlowSink, trace: Trace, transport: Transport, role: str,
                 max_message_size: int = 65535) -> None:
        self.sink = sink
        self.trace = trace
        self.transport_name = transport
        self.role = role
        self.framer = StreamFramer(role=role, max_message_size=max_message_size)
        self.flow: StreamFlow | None = None
        self.ready = False
        self.on_ready: list[Callable[[StreamProtocol, Failure | None], None]] = []
        self.held: list[bytes] = []
        """What the messages of the current read answered, in order, not yet written."""

    def connectionMade(self) -> None:
        assert self.transport is not None  # Twisted connects a protocol to its transport
        disable_nagle(self.transport)
        self.flow = StreamFlow(self, self.transport_name, hostport_of(self.transport.getHost()),
                               hostport_of(self.transport.getPeer()))
        if self.transport_name is Transport.TCP:
            self._became_ready()

    def handshakeCompleted(self) -> None:
        self._became_ready()

    def _became_ready(self) -> None:
        flow = self.flow
        assert flow is not None
        self.ready = True
        self.trace.record("connected", flow.transport, local=flow.local, remote=flow.remote,
                          summary=f"{flow.transport} connection ({self.role})")
        self.sink.flow_opened(flow)
        if self.guard is not None:
            self.guard.ready()
        callbacks, self.on_ready = self.on_ready, []
        for callback in callbacks:
            callback(self, None)

    def dataReceived(self, data: bytes) -> None:
        self.reading = True
        try:
            self._handle(data)
        finally:
            self.reading = False
            self.write_held()

    def write_held(self) -> None:
        """Write and send what the current read's messages answered (:attr:`held`)."""
        held = self.held
        transport = self.transport
        if held and transport is not None:
            data = held[0] if len(held) == 1 else b"".join(held)
            held.clear()
            transport.write(data)
            flush_now(transport)

    def _handle(self, data: bytes) -> None:
        flow = self.flow
        assert flow is not None
        guard = self.guard
        framer = self.framer
        sink = self.sink
        framer.feed(data)
        while not flow.closed:
            try:
                frame = framer.next_frame()
            except RemoteProtocolError as exc:
                # The stream cannot be split any more: answer if we can, then close.
                reject_bad_input(self.sink, flow, exc.raw or b"", exc)
                flow.close()
                return
            if frame is None:
                if guard is not None and framer.buffered:
                    guard.pending()
                return
            if isinstance(frame, bytes):
                if sink.fast_path_taken(frame, flow):
                    if guard is not None:
                        guard.message()
                    continue
                event: StreamEvent = parse_frame(frame)
            else:
                event = frame
            if guard is not None:
                if isinstance(event, Message):
                    guard.message()
                else:
                    guard.keepalive()
            if isinstance(event, KeepAlivePing):
                flow.write(PONG)
                self.trace.record("keepalive-received", flow.transport, local=flow.local,
                                  remote=flow.remote, summary="CRLFCRLF ping (answered)")
            elif isinstance(event, KeepAlivePong):
                self.trace.record("keepalive-received", flow.transport, local=flow.local,
                                  remote=flow.remote, summary="CRLF pong")
                self.sink.pong_received(flow)
            elif isinstance(event, BadMessage):
                reject_bad_input(self.sink, flow, event.raw, event.error)
            else:
                self.trace.record("received", flow.transport, local=flow.local,
                                  remote=flow.remote, summary=describe(event),
                                  data=frame if isinstance(frame, bytes) else event.to_bytes())
                self.sink.message_received(event, flow)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        flow = self.flow
        detail = reason.getErrorMessage() if reason is not None else "closed"
        if self.guard is not None and self.guard.close_reason:
            detail = self.guard.close_reason
        if flow is not None:
            flow.closed = True
            flow.close_reason = detail
            if self.ready:
                self.trace.record("closed", flow.transport, local=flow.local,
                                  remote=flow.remote, summary="connection closed", detail=detail)
                self.sink.flow_closed(flow, detail)
        callbacks, self.on_ready = self.on_ready, []
        for callback in callbacks:
            callback(self, reason)
