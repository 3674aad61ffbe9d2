"""Opening connections: why a connect failed, and TLS around a client factory.

Shared by every connection-oriented transport of the stack (TCP, TLS, WS, WSS): a TCP
connect that was refused, unanswered or unroutable, a TLS handshake that died, and a
WebSocket upgrade that was refused (:func:`upgrade_refused`), become a
:class:`ConnectFailed` that names why, recorded in the trace.
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


def upgrade_refused(status: int, phrase: str, path: str, headers: dict[str, str]) -> str:
    """Why an upgrade answered with ``status`` failed, in a support engineer's words."""
    if status == 404:
        meaning = "no WebSocket service there"
    elif status == 426:
        meaning = ("the server did not see a WebSocket upgrade: a proxy in front of it "
                   "probably drops the Upgrade/Connection headers")
    elif status == 400:
        meaning = ("the server refused the upgrade request (does it want the 'sip' "
                   "subprotocol, an Origin, or another path?)")
    elif status == 401:
        meaning = "the server wants HTTP authentication before the upgrade (RFC 7118 §7)"
    elif status == 403:
        meaning = "the server forbids the upgrade (Origin not allowed, or access denied)"
    elif status == 431:
        meaning = "the upgrade request's header fields are too large for the server (RFC 6585)"
    elif 200 <= status < 300:
        meaning = "a plain web server answered and ignored the upgrade: no WebSocket service"
    elif 300 <= status < 400:
        meaning = f"redirected to {headers.get('location', '?')} (redirects are not followed)"
    elif status >= 500:
        meaning = "the server failed (a proxy without a live WebSocket back end?)"
    else:
        meaning = "the upgrade was refused"
    text = f"HTTP {status} {phrase} on GET {path}: {meaning}".replace("  ", " ")
    agent = headers.get("server")
    return text + (f" (Server: {agent})" if agent else "")
