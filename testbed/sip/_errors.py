"""The two error types of the SIP core.

Modelled on h11: :class:`LocalProtocolError` means *we* tried to do something the
protocol forbids; :class:`RemoteProtocolError` means the *peer* sent something that
breaks it. A server answers a ``RemoteProtocolError`` with ``status_hint`` (400 unless
said otherwise) and ``reason`` as the reason phrase, then keeps serving.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of the SIP core's errors; ``reason`` is one human-readable line."""

    def __init__(self, reason: str, status_hint: int = 400, raw: bytes | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_hint = status_hint
        self.raw = raw


class LocalProtocolError(ProtocolError):
    """We asked the core to build or send something that breaks the protocol."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that are not a valid SIP message (or not one we accept).

    ``status_hint`` is the response a server should send (400, 420, 505, 513...);
    ``reason`` fits in a reason phrase; ``raw``, when set, holds the offending bytes so
    that a server can still copy Via/From/To/Call-ID/CSeq into its error response.
    """
