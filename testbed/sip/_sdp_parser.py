"""The SDP parser (RFC 8866 §5): from a message body to a :class:`SessionDescription`.

Every value the parser builds checks itself (:mod:`._sdp`); a failed check is the
peer's fault here, so it becomes a :class:`RemoteProtocolError` with the same reason.
"""

from __future__ import annotations

import re
from typing import Any

from ._errors import LocalProtocolError, RemoteProtocolError
from ._sdp import ConnectionInfo, MediaDescription, SessionDescription, Timing, show

_UINT_RE = re.compile(r"[0-9]{1,20}")

_KNOWN_TYPES = frozenset("vosiuepcbtrzkam")
_SESSION_TYPES = frozenset("iuepcbtrzkam")
_MEDIA_TYPES = frozenset("icbkam")
_ONCE_PER_SECTION = frozenset("iuczk")


def _uint(text: str, what: str) -> int:
    if not _UINT_RE.fullmatch(text):
        raise RemoteProtocolError(f"SDP: {what} {show(text)} is not a number")
    return int(text)


def _fields(value: str, count: int, what: str, layout: str) -> list[str]:
    fields = value.split()
    if len(fields) != count:
        raise RemoteProtocolError(f"SDP: {what} needs {layout}, got {show(value)}")
    return fields


def _parse_connection(value: str) -> ConnectionInfo:
    nettype, addrtype, address = _fields(value, 3, "c=", "IN <addrtype> <address>")
    if nettype != "IN":
        raise RemoteProtocolError(f"SDP: c= network type {show(nettype)} is not IN")
    return ConnectionInfo(address, addrtype)


# The keyword arguments of one dataclass, gathered line by line (values of several types).
_Fields = dict[str, Any]


class _Parser:
    """Collects one session description line by line; see :func:`parse_sdp`."""

    def __init__(self) -> None:
        self.session: _Fields = {
            "timing": [],
            "attributes": [],
            "emails": [],
            "phones": [],
            "bandwidths": [],
        }
        self.media: list[_Fields] = []
        self.seen: set[str] = set()  # single-use line types seen in the current section

    @property
    def section(self) -> _Fields:
        return self.media[-1] if self.media else self.session

    def line(self, number: int, kind: str, value: str) -> None:
        if kind not in _KNOWN_TYPES:
            raise RemoteProtocolError(f"SDP: line {number}: unknown type '{kind}='")
        allowed = _MEDIA_TYPES if self.media else _SESSION_TYPES
        if kind not in allowed:
            where = "in a media section" if self.media else "here"
            raise RemoteProtocolError(f"SDP: line {number}: '{kind}=' not allowed {where}")
        if kind in _ONCE_PER_SECTION:
            if kind in self.seen:
                raise RemoteProtocolError(f"SDP: line {number}: second '{kind}=' line")
            self.seen.add(kind)
        getattr(self, f"line_{kind}")(number, value)

    def line_o(self, number: int, value: str) -> None:
        username, session_id, version, nettype, addrtype, address = _fields(
            value, 6, "o=", "<username> <sess-id> <sess-version> IN <addrtype> <address>"
        )
        if nettype != "IN":
            raise RemoteProtocolError(f"SDP: o= network type {show(nettype)} is not IN")
        self.session.update(
            username=username,
            session_id=_uint(session_id, "o= session id"),
            session_version=_uint(version, "o= session version"),
            origin_addrtype=addrtype,
            origin_address=address,
        )

    def line_s(self, number: int, value: str) -> None:
        self.session["session_name"] = value

    def line_i(self, number: int, value: str) -> None:
        self.section["title" if self.media else "information"] = value

    def line_u(self, number: int, value: str) -> None:
        self.session["uri"] = value

    def line_e(self, number: int, value: str) -> None:
        self.session["emails"].append(value)

    def line_p(self, number: int, value: str) -> None:
        self.session["phones"].append(value)

    def line_c(self, number: int, value: str) -> None:
        self.section["connection"] = _parse_connection(value)

    def line_b(self, number: int, value: str) -> None:
        self.section["bandwidths"].append(value)

    def line_t(self, number: int, value: str) -> None:
        start, stop = _fields(value, 2, "t=", "<start> <stop>")
        self.session["timing"].append(
            {
                "start": _uint(start, "t= start time"),
                "stop": _uint(stop, "t= stop time"),
                "repeats": [],
            }
        )

    def line_r(self, number: int, value: str) -> None:
        if not self.session["timing"]:
            raise RemoteProtocolError(f"SDP: line {number}: r= without a preceding t=")
        self.session["timing"][-1]["repeats"].append(value)

    def line_z(self, number: int, value: str) -> None:
        self.session["time_zones"] = value

    def line_k(self, number: int, value: str) -> None:
        self.section["key"] = value

    def line_a(self, number: int, value: str) -> None:
        name, colon, rest = value.partition(":")
        self.section["attributes"].append((name, rest if colon else None))

    def line_m(self, number: int, value: str) -> None:
        fields = value.split()
        if len(fields) < 4:
            raise RemoteProtocolError(
                f"SDP: m= needs <media> <port> <proto> <format>..., got {show(value)}"
            )
        media, port_text, proto, *formats = fields
        port, slash, count = port_text.partition("/")
        self.media.append(
            {
                "media": media,
                "port": _uint(port, "m= port"),
                "port_count": _uint(count, "m= port count") if slash else None,
                "proto": proto,
                "formats": formats,
                "attributes": [],
                "bandwidths": [],
            }
        )
        self.seen = set()

    def result(self) -> SessionDescription:
        if "session_name" not in self.session:
            raise RemoteProtocolError("SDP: no s= line")
        if not self.session["timing"]:
            raise RemoteProtocolError("SDP: no t= line")
        timing = tuple(Timing(**timing) for timing in self.session.pop("timing"))
        media = tuple(MediaDescription(**section) for section in self.media)
        return SessionDescription(timing=timing, media=media, **self.session)


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"parse_sdp wants bytes or str, not {type(data).__name__}")
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"SDP: not UTF-8 (byte {exc.start})") from None


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse a session description (RFC 8866 §5).

    Lines may end in CRLF or a bare LF, and the last line ending may be missing.
    The first three lines must be ``v=0``, ``o=`` and ``s=``; at least one ``t=``
    is required; single-use lines (``i u c z k``) may appear once per section;
    session-level lines are accepted in any order and written back in RFC order.
    Unknown line types are rejected (RFC 8866 §5 allows that).

    Raises :class:`RemoteProtocolError` (``status_hint`` 400, reason ``"SDP: ..."``)
    for anything malformed.
    """
    try:
        return _parse(_decode(data))
    except LocalProtocolError as exc:  # a value check failed: here it is the peer's fault
        raise RemoteProtocolError(exc.reason) from None


def _parse(text: str) -> SessionDescription:
    lines = text.split("\n")
    while lines and lines[-1] in ("", "\r"):
        lines.pop()
    if not lines:
        raise RemoteProtocolError("SDP: empty body")
    parser = _Parser()
    for number, raw in enumerate(lines, 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line:
            raise RemoteProtocolError(f"SDP: line {number} is empty")
        for bad, name in (("\r", "CR"), ("\0", "NUL")):
            if bad in line:
                raise RemoteProtocolError(f"SDP: line {number} contains a stray {name}")
        kind, equals, value = line.partition("=")
        if not equals:
            raise RemoteProtocolError(f"SDP: line {number} has no '=': {show(line)}")
        if len(kind) != 1 or not ("a" <= kind <= "z"):
            raise RemoteProtocolError(
                f"SDP: line {number}: bad type {show(kind)} (expected one lowercase letter)"
            )
        expected = {1: "v", 2: "o", 3: "s"}.get(number)
        if expected is not None and kind != expected:
            raise RemoteProtocolError(f"SDP: line {number} must be '{expected}=', got '{kind}='")
        if number == 1:
            if value != "0":
                raise RemoteProtocolError(f"SDP: unsupported version v={show(value)}")
        elif number <= 3:
            getattr(parser, f"line_{kind}")(number, value)
        else:
            parser.line(number, kind, value)
    if len(lines) < 2:
        raise RemoteProtocolError("SDP: no o= line")
    return parser.result()


__all__ = ["parse_sdp"]
