"""Framing SIP over a byte stream (TCP, TLS): RFC 3261 §18.3 and RFC 5626 §3.5.1.

The framer is sans-IO: feed it bytes as they arrive, then drain events::

    framer = StreamFramer()
    framer.feed(data)
    while (event := framer.next_event()) is not None:
        ...

Events are a parsed :class:`Request`/:class:`Response`, a :class:`BadMessage` (the frame
was cut correctly but its content is invalid: answer 400 and keep the connection), a
:class:`KeepAlivePing` (CRLFCRLF, answer with CRLF) or a :class:`KeepAlivePong` (CRLF).
A framing error (no or invalid Content-Length, a message larger than the limit) raises
:class:`RemoteProtocolError`: the stream can no longer be split, so close the connection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._errors import RemoteProtocolError
from ._message import Request, Response, parse_message
from ._vocabulary import Transport

DEFAULT_MAX_MESSAGE_SIZE = 65535
"""The largest message a stream or WebSocket flow takes or sends (the framer's limit)."""

MAX_UDP_MESSAGE_SIZE = 65507
"""The largest UDP payload: 65,535 bytes of IPv4 packet less its 20-byte header and
UDP's 8 (RFC 768, RFC 791). A larger message cannot be sent in one datagram at all."""

_UDP = Transport.UDP  # an Enum member is a slow attribute (message_size_limit is hot)


def message_size_limit(transport: Transport) -> int:
    """The largest message that ``transport`` carries here: one UDP datagram, or the
    limit every stream and WebSocket flow of this project enforces on what it receives."""
    return MAX_UDP_MESSAGE_SIZE if transport is _UDP else DEFAULT_MAX_MESSAGE_SIZE


# A Content-Length line (or its compact form "l", RFC 3261 §7.3.3), its value captured.
# Sought after each line end: a pattern that starts with "\n" is searched for from one
# "\n" to the next, where "^" in multi-line mode is tried at every character (5 times
# the cost on a REGISTER's head). The first line is matched on its own.
_CONTENT_LENGTH = rb"(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)"
_CONTENT_LENGTH_FIRST_RE = re.compile(_CONTENT_LENGTH, re.I)
_CONTENT_LENGTH_RE = re.compile(rb"\n" + _CONTENT_LENGTH, re.I)


def _content_lengths(buffer: bytes | bytearray, end: int) -> list[bytes]:
    """The value of every Content-Length line of the message head ``buffer[:end]``, in
    order (read in place: the head is not copied)."""
    later = _CONTENT_LENGTH_RE.findall(buffer, 0, end)
    if buffer[0] not in b"cClL":  # the usual start line
        return later
    first = _CONTENT_LENGTH_FIRST_RE.match(buffer, 0, end)
    return later if first is None else [first[1], *later]


@dataclass(frozen=True, slots=True)
class KeepAlivePing:
    """A client's double CRLF keep-alive; the server answers with a single CRLF."""

    response = b"\r\n"


@dataclass(frozen=True, slots=True)
class KeepAlivePong:
    """The single CRLF a server sends back to a ping."""


@dataclass(frozen=True, slots=True)
class BadMessage:
    """A correctly framed message the parser refused; ``error.status_hint`` is the answer."""

    raw: bytes
    error: RemoteProtocolError


StreamEvent = Request | Response | BadMessage | KeepAlivePing | KeepAlivePong


def parse_frame(frame: bytes) -> Request | Response | BadMessage:
    """A framed message parsed, or the :class:`BadMessage` its content is."""
    try:
        return parse_message(frame)
    except RemoteProtocolError as exc:
        return BadMessage(frame, exc)


class StreamFramer:
    """Split a SIP byte stream into messages and keep-alives.

    ``role="server"`` (the side that receives pings) waits for a full CRLFCRLF before it
    reports a ping, and ignores a lone CRLF before a message (RFC 3261 §7.5).
    ``role="client"`` reports every CRLF outside a message as a pong at once.
    """

    def __init__(self, role: str = "server", max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE):
        if role not in ("server", "client"):
            raise ValueError(f"role must be 'server' or 'client', not {role!r}")
        self.role = role
        self.max_message_size = max_message_size
        self._buffer = bytearray()
        self._error: RemoteProtocolError | None = None

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as an event."""
        return len(self._buffer)

    def next_event(self) -> StreamEvent | None:
        """The next complete event, or None when more bytes are needed."""
        if self._error is not None:
            raise self._error
        try:
            return self._next_event()
        except RemoteProtocolError as exc:
            self._error = exc
            raise

    def next_frame(self) -> bytes | KeepAlivePing | KeepAlivePong | None:
        """Like :meth:`next_event`, but a message comes out as its framed bytes, not yet
        parsed (for a fast path that reads some messages itself; :func:`parse_frame`
        turns the others into what :meth:`next_event` returns)."""
        if self._error is not None:
            raise self._error
        try:
            return self._next_frame()
        except RemoteProtocolError as exc:
            self._error = exc
            raise

    def events(self, data: bytes = b"") -> list[StreamEvent]:
        """Feed ``data`` and return every complete event."""
        self.feed(data)
        out = []
        while (event := self.next_event()) is not None:
            out.append(event)
        return out

    def _next_event(self) -> StreamEvent | None:
        frame = self._next_frame()
        return parse_frame(frame) if isinstance(frame, bytes) else frame

    def _next_frame(self) -> bytes | KeepAlivePing | KeepAlivePong | None:
        buf = self._buffer
        while not buf or buf[0] in b"\r\n":  # else a message starts here
            keepalive = self._keepalive(buf)
            if keepalive is not None or not buf:
                return keepalive
            if buf[:2] == b"\r\n" and (len(buf) == 2 or buf[2:] == b"\r"):
                return None  # maybe the first half of a ping
            if buf[:2] == b"\r\n" or buf[:1] == b"\n":
                # A stray line end before a message: ignore it (RFC 3261 §7.5).
                del buf[: 2 if buf[:1] == b"\r" else 1]
                continue
            break
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > self.max_message_size:
                raise RemoteProtocolError("Message headers too large", 513, raw=bytes(buf[:2000]))
            return None
        matches = _content_lengths(buf, end + 4)
        if not matches:
            # RFC 3261 §18.3: Content-Length MUST be used with stream transports.
            raise RemoteProtocolError("Missing Content-Length on stream transport",
                                      raw=bytes(buf[: end + 4]))
        value = matches[0].strip()
        if len(matches) > 1 or not value.isdigit():
            raise RemoteProtocolError("Invalid Content-Length on stream transport",
                                      raw=bytes(buf[: end + 4]))
        size = int(value)
        total = end + 4 + size
        if total > self.max_message_size:
            raise RemoteProtocolError(
                f"Message of {total} bytes exceeds limit {self.max_message_size}", 513,
                raw=bytes(buf[: end + 4]))
        if len(buf) < total:
            return None
        frame = bytes(buf[:total])
        del buf[:total]
        return frame

    def _keepalive(self, buf: bytearray) -> KeepAlivePing | KeepAlivePong | None:
        if self.role == "client" and buf[:2] == b"\r\n":
            del buf[:2]
            return KeepAlivePong()
        if self.role == "server" and buf[:4] == b"\r\n\r\n":
            del buf[:4]
            return KeepAlivePing()
        return None
