"""Twisted adapters: UDP, TCP, TLS and WebSocket flows, and the stack that drives transactions."""

from testbed.sip import fmt_hostport  # re-exported for its existing importers

from ._capture import CAPTURE_LIMIT, SEGMENT_FLAGS, Capture, CapturedSegment
from ._connecting import ConnectFailed
from ._delayed_calls import DeadlineTimer, DelayedCalls
from ._flows import (
    PING,
    PONG,
    Flow,
    FlowSink,
    StreamFlow,
    StreamProtocol,
    UdpEndpoint,
    UdpFlow,
)
from ._policy import ConnectionGate, ConnectionGuard, ConnectionPolicy, registration_hold
from ._rejections import RejectionLog
from ._stack import (
    ServerContext,
    SipStack,
    TransactionFailed,
    TransactionUser,
)
from ._trace import EVENT_KINDS, TRACE_LIMIT, HostPort, Trace, TraceEvent, describe
from ._ws import BEHAVIOURS, SUBPROTOCOL, WsFlow
from .tls import (
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

__all__ = [
    "DeadlineTimer", "DelayedCalls", "RejectionLog",
    "EVENT_KINDS", "PING", "PONG", "ConnectFailed", "Flow", "FlowSink", "HostPort",
    "ServerContext", "SipStack", "StreamFlow", "StreamProtocol", "Trace", "TraceEvent",
    "TransactionFailed", "TransactionUser", "UdpEndpoint", "UdpFlow", "describe", "fmt_hostport",
    "TLS_FAILURE_KINDS", "ClientTlsCreator", "PemCredential", "ServerTlsCreator",
    "TlsHandshakeRecord", "KeyLog", "TlsConfigError", "TlsFailure", "TrustConfig",
    "client_tls_options", "server_tls_options", "tls_failure_from",
    "BEHAVIOURS", "SUBPROTOCOL", "WsFlow",
    "SEGMENT_FLAGS", "Capture", "CapturedSegment", "CAPTURE_LIMIT", "TRACE_LIMIT",
    "ConnectionGate", "ConnectionGuard", "ConnectionPolicy", "registration_hold",
]
