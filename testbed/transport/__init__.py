"""Twisted adapters: UDP, TCP, TLS and WSS flows, and the stack that drives transactions."""

from ._capture import SEGMENT_FLAGS, Capture, CapturedSegment
from ._flows import (
    PING,
    PONG,
    RELIABLE,
    Flow,
    FlowSink,
    StreamFlow,
    StreamProtocol,
    UdpEndpoint,
    UdpFlow,
)
from ._stack import (
    ConnectFailed,
    ServerContext,
    SipStack,
    TransactionFailed,
    TransactionUser,
)
from ._timers import DeadlineTimer, DelayedCalls
from ._tls import (
    TLS_FAILURE_KINDS,
    ClientTlsCreator,
    KeyLog,
    PemCredential,
    ServerTlsCreator,
    TlsConfigError,
    TlsFailure,
    TlsHandshakeRecord,
    TrustConfig,
    client_tls_options,
    server_tls_options,
    tls_failure_from,
)
from ._trace import EVENT_KINDS, HostPort, Trace, TraceEvent, describe, fmt_hostport
from ._ws import BEHAVIOURS, SUBPROTOCOL, WsFlow, connect_ws, listen_ws

__all__ = [
    "DeadlineTimer", "DelayedCalls",
    "EVENT_KINDS", "PING", "PONG", "RELIABLE", "ConnectFailed", "Flow", "FlowSink", "HostPort",
    "ServerContext", "SipStack", "StreamFlow", "StreamProtocol", "Trace", "TraceEvent",
    "TransactionFailed", "TransactionUser", "UdpEndpoint", "UdpFlow", "describe", "fmt_hostport",
    "TLS_FAILURE_KINDS", "ClientTlsCreator", "PemCredential", "ServerTlsCreator",
    "TlsHandshakeRecord", "KeyLog", "TlsConfigError", "TlsFailure", "TrustConfig",
    "client_tls_options", "server_tls_options", "tls_failure_from",
    "BEHAVIOURS", "SUBPROTOCOL", "WsFlow", "connect_ws", "listen_ws",
    "SEGMENT_FLAGS", "Capture", "CapturedSegment",
]
