"""Twisted adapters: UDP, TCP, TLS and WSS flows, and the stack that drives transactions."""

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
from ._trace import EVENT_KINDS, HostPort, Trace, TraceEvent, describe, fmt_hostport

__all__ = [
    "EVENT_KINDS", "PING", "PONG", "RELIABLE", "ConnectFailed", "Flow", "FlowSink", "HostPort",
    "ServerContext", "SipStack", "StreamFlow", "StreamProtocol", "Trace", "TraceEvent",
    "TransactionFailed", "TransactionUser", "UdpEndpoint", "UdpFlow", "describe", "fmt_hostport",
]
