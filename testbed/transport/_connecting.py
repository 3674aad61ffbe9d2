"""Opening connections: why a connect failed, and TLS around a client factory.

Shared by every connection-oriented transport of the stack (TCP, TLS, WS, WSS): a TCP
connect that was refused, unanswered or unroutable, and a TLS handshake that died,
become a :class:`ConnectFailed` that names why, recorded in the trace.
"""

from __future__ import annotations

from typing import TypeVar

from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IConnector
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure

from testbed.sip import fmt_hostport

from ._trace import Trace, hostport_of
from .tls import ClientTlsCreator, TlsFailure, tls_failure_from

_T = TypeVar("_T")


class ConnectFailed(Exception):
    """A TCP/TLS/WSS connection could not be set up.

    ``kind``: ``"refused"``, ``"timeout"``, ``"unreachable"``, ``"tls"`` (``tls_failure``
    carries the verification reason), ``"websocket"`` (the upgrade failed) or ``"error"``.
    """

    def __init__(self, kind: str, reason: str, tls_failure: TlsFailure | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.tls_failure = tls_failure


def connect_failed(trace: Trace, transport: str, connector: IConnector, reason: Failure,
                   timeout: float, result: defer.Deferred[_T]) -> None:
    """Classify a TCP connection failure (refused, timeout, unreachable), trace it and
    errback ``result`` with the :class:`ConnectFailed`; ``timeout`` is the connect
    timeout that was given, for the explanation."""
    remote = hostport_of(connector.getDestination())
    cause = reason.value
    if isinstance(cause, error.ConnectionRefusedError):
        failure = ConnectFailed("refused", f"connection refused by {fmt_hostport(remote)}")
    elif isinstance(cause, error.TimeoutError | error.TCPTimedOutError):
        failure = ConnectFailed("timeout", f"no answer from {fmt_hostport(remote)} "
                                           f"within {timeout:g} s")
    elif isinstance(cause, error.NoRouteError):
        failure = ConnectFailed("unreachable", f"no route to {fmt_hostport(remote)}")
    else:
        failure = ConnectFailed("error", reason.getErrorMessage())
    trace.record("connect-failed", transport, remote=remote, summary=failure.reason,
                 detail=failure.kind)
    result.errback(failure)


def tls_connect_failed(creator: ClientTlsCreator | None, reason: Failure,
                       transport: object = None) -> ConnectFailed:
    """Turn a handshake that died into a :class:`ConnectFailed` naming why.

    ``transport`` is the connection's ``TLSMemoryBIOProtocol``, the key of its record
    in ``creator`` (see :func:`tls_failure_from`).
    """
    tls_failure = tls_failure_from(reason, creator, transport)
    if tls_failure is not None:
        return ConnectFailed("tls", f"TLS handshake failed: {tls_failure}", tls_failure)
    return ConnectFailed("tls", f"TLS handshake failed: {reason.getErrorMessage()}")


class TlsClientFactory(TLSMemoryBIOFactory, protocol.ClientFactory):
    """TLS around a client factory, passing connection failures through to it."""

    def __init__(self, creator: ClientTlsCreator, wrapped: protocol.ClientFactory) -> None:
        TLSMemoryBIOFactory.__init__(self, creator, True, wrapped)
        self.wrapped_client = wrapped

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        self.wrapped_client.clientConnectionFailed(connector, reason)

    def clientConnectionLost(self, connector: IConnector, reason: Failure) -> None:
        pass
