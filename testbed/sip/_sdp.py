"""Just enough SDP (RFC 8866, which obsoletes RFC 4566) and offer/answer (RFC 3264).

The testbed needs SDP for two things: to build an INVITE body of a chosen size (so the
datagram crosses the path MTU) and to read the answer a peer sends back. This module
is sans-IO and deterministic: the same arguments always give the same bytes.

* :func:`parse_sdp` turns a body into a :class:`SessionDescription`; anything malformed
  raises :class:`RemoteProtocolError` whose reason starts with ``"SDP: "``.
* :meth:`SessionDescription.to_bytes` writes CRLF lines in RFC 8866 §5 order.
  ``parse_sdp(sd.to_bytes()) == sd`` for every valid ``sd``.
* :func:`build_offer` makes an audio offer, optionally padded to an exact byte count.
* :func:`answer_for` answers an offer by RFC 3264 §6; :func:`negotiated_codecs` reads
  the result of an exchange.

The dataclasses validate themselves like h11's events: building an invalid one raises
:class:`LocalProtocolError`; the parser turns the same check into a
:class:`RemoteProtocolError` with the same reason.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "DEFAULT_CODECS",
    "DIRECTIONS",
    "Codec",
    "ConnectionInfo",
    "MediaDescription",
    "SessionDescription",
    "Timing",
    "answer_for",
    "build_offer",
    "negotiated_codecs",
    "parse_sdp",
]

Attribute = tuple[str, str | None]

#: The four direction attributes (RFC 8866 §6.7, RFC 3264 §5.1); ``sendrecv`` is the default.
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

# RFC 3264 §6.1: the direction an answerer uses for each offered direction.
_ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}

# RFC 3551 §6, tables 4 and 5: payload types usable without an rtpmap.
_STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int, int | None]] = {
    0: ("PCMU", 8000, None),
    3: ("GSM", 8000, None),
    4: ("G723", 8000, None),
    5: ("DVI4", 8000, None),
    6: ("DVI4", 16000, None),
    7: ("LPC", 8000, None),
    8: ("PCMA", 8000, None),
    9: ("G722", 8000, None),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, None),
    12: ("QCELP", 8000, None),
    13: ("CN", 8000, None),
    14: ("MPA", 90000, None),
    15: ("G728", 8000, None),
    16: ("DVI4", 11025, None),
    17: ("DVI4", 22050, None),
    18: ("G729", 8000, None),
    25: ("CelB", 90000, None),
    26: ("JPEG", 90000, None),
    28: ("nv", 90000, None),
    31: ("H261", 90000, None),
    32: ("MPV", 90000, None),
    33: ("MP2T", 90000, None),
    34: ("H263", 90000, None),
}

# Formats that only accompany a real codec (RFC 4733 events, RFC 3389 comfort noise,
# redundancy, FEC, retransmission): a stream with nothing else in common is rejected.
_AUXILIARY_ENCODINGS = frozenset({"telephone-event", "cn", "red", "ulpfec", "rtx"})

# Profiles answer_for can accept; secure profiles need keying it does not do.
_ANSWERABLE_PROTOS = frozenset({"RTP/AVP", "RTP/AVPF"})

_RTPMAP_RE = re.compile(r"([0-9]{1,3}) ([^\s/]+)/([0-9]{1,10})(?:/([0-9]{1,3}))?")
_PAYLOAD_TYPE_RE = re.compile(r"[0-9]{1,3}")
_BANDWIDTH_RE = re.compile(r"[^\s:]+:[0-9]{1,20}")
_UINT_RE = re.compile(r"[0-9]{1,20}")


# --------------------------------------------------------------------------- checks


def _show(text: str) -> str:
    """Quote peer text for a one-line reason, cut so a reason phrase stays short."""
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _check_text(value: object, what: str, *, optional: bool = False) -> None:
    """RFC 8866 §9 ``text``: any characters but NUL, CR and LF, in UTF-8 (§5)."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise LocalProtocolError(f"SDP: {what} must be a str, not {type(value).__name__}")
    for bad, name in (("\r", "CR"), ("\n", "LF"), ("\0", "NUL")):
        if bad in value:
            raise LocalProtocolError(f"SDP: {what} contains {name}: {_show(value)}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise LocalProtocolError(f"SDP: {what} is not encodable as UTF-8") from None


def _is_token(value: str) -> bool:
    return bool(value) and not any(c.isspace() or c < " " or c == "\x7f" for c in value)


def _check_token(value: object, what: str, *, forbid: str = "") -> None:
    """A non-empty word without white space or control characters (RFC 8866 §9 token)."""
    _check_text(value, what)
    assert isinstance(value, str)
    if not _is_token(value) or any(c in value for c in forbid):
        raise LocalProtocolError(f"SDP: bad {what} {_show(value)}")


def _check_uint(value: object, what: str, maximum: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise LocalProtocolError(f"SDP: {what} must be a non-negative int, not {value!r}")
    if maximum is not None and value > maximum:
        raise LocalProtocolError(f"SDP: {what} {value} out of range (0-{maximum})")


def _check_address(address: object, addrtype: object, what: str) -> None:
    """``IP4``/``IP6`` and an address (or FQDN) that does not contradict it (RFC 8866 §5.7)."""
    _check_token(address, f"{what} address")
    if addrtype not in ("IP4", "IP6"):
        raise LocalProtocolError(f"SDP: {what} address type {addrtype!r} is not IP4 or IP6")
    assert isinstance(address, str)
    try:  # multicast addresses carry "/ttl" or "/count" suffixes
        ip = ipaddress.ip_address(address.split("/", 1)[0])
    except ValueError:
        return  # an FQDN is allowed
    if f"IP{ip.version}" != addrtype:
        raise LocalProtocolError(
            f"SDP: {what} address {_show(address)} is not an {addrtype} address"
        )


def _tuple(owner: object, name: str) -> tuple:
    """Freeze a sequence field given as a list (frozen dataclass friendly)."""
    value = getattr(owner, name)
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise LocalProtocolError(f"SDP: {name} must be a sequence, not {type(value).__name__}")
    value = tuple(value)
    object.__setattr__(owner, name, value)
    return value


def _check_attributes(owner: object) -> None:
    for item in _tuple(owner, "attributes"):
        if not (isinstance(item, tuple) and len(item) == 2):
            raise LocalProtocolError(f"SDP: attribute {item!r} is not a (name, value) pair")
        name, value = item
        _check_token(name, "attribute name", forbid=":")
        _check_text(value, f"a={name} value", optional=True)


def _check_bandwidths(owner: object) -> None:
    for bandwidth in _tuple(owner, "bandwidths"):
        _check_text(bandwidth, "bandwidth")
        if not _BANDWIDTH_RE.fullmatch(bandwidth):
            raise LocalProtocolError(
                f"SDP: bad bandwidth {_show(bandwidth)} (expected <bwtype>:<number>)"
            )


def _attribute_line(name: str, value: str | None) -> str:
    return f"a={name}" if value is None else f"a={name}:{value}"


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class ConnectionInfo:
    """A ``c=IN <addrtype> <address>`` line (RFC 8866 §5.7); only ``IN`` is supported.

    ``address`` may be an IP literal, an FQDN, or a multicast address with its
    ``/ttl`` suffix; an IP literal must match ``addrtype``.
    """

    address: str
    addrtype: str = "IP4"

    def __post_init__(self) -> None:
        _check_address(self.address, self.addrtype, "c=")

    def to_line(self) -> str:
        """The ``c=`` line without its line ending."""
        return f"c=IN {self.addrtype} {self.address}"


@dataclass(frozen=True)
class Timing:
    """A ``t=<start> <stop>`` line and its ``r=`` repeat lines (RFC 8866 §5.9, §5.10).

    ``t=0 0`` (the default) is the unbounded session offer/answer uses (RFC 3264 §5).
    Repeat lines are kept as text.
    """

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_uint(self.start, "t= start time")
        _check_uint(self.stop, "t= stop time")
        for repeat in _tuple(self, "repeats"):
            _check_text(repeat, "r= line")


@dataclass(frozen=True)
class Codec:
    """One RTP payload format: what ``a=rtpmap`` (RFC 8866 §6.6) and ``a=fmtp`` say.

    ``channels`` is ``None`` when the rtpmap has no channel count (one channel).
    """

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None
    fmtp: str | None = None

    def __post_init__(self) -> None:
        _check_uint(self.payload_type, "payload type", 127)
        _check_token(self.encoding, "encoding name", forbid="/")
        _check_uint(self.clock_rate, "clock rate")
        if self.clock_rate == 0:
            raise LocalProtocolError("SDP: clock rate must be positive")
        if self.channels is not None:
            _check_uint(self.channels, "channel count")
            if self.channels == 0:
                raise LocalProtocolError("SDP: channel count must be positive")
        _check_text(self.fmtp, "fmtp", optional=True)

    @property
    def rtpmap(self) -> str:
        """The rtpmap encoding part, e.g. ``PCMU/8000`` or ``opus/48000/2``."""
        text = f"{self.encoding}/{self.clock_rate}"
        return text if self.channels is None else f"{text}/{self.channels}"

    def same_format(self, other: Codec) -> bool:
        """Same encoding (case-insensitive, RFC 4855 §3), clock rate and channel count."""
        return (
            self.encoding.casefold() == other.encoding.casefold()
            and self.clock_rate == other.clock_rate
            and (self.channels or 1) == (other.channels or 1)
        )


def _rtpmap_codec(value: str | None) -> Codec:
    """The :class:`Codec` an ``a=rtpmap`` value names (RFC 8866 §6.6), checked."""
    match = _RTPMAP_RE.fullmatch(value or "")
    if match is None:
        raise LocalProtocolError(
            f"SDP: bad rtpmap {_show(value or '')}"
            " (expected <pt> <encoding>/<clock rate>[/<channels>])"
        )
    pt, encoding, rate, channels = match.groups()
    return Codec(int(pt), encoding, int(rate), int(channels) if channels else None)


#: The normal offer: PCMU, PCMA and RFC 4733 events 0-16 (DTMF and flash).
DEFAULT_CODECS: tuple[Codec, ...] = (
    Codec(0, "PCMU", 8000),
    Codec(8, "PCMA", 8000),
    Codec(101, "telephone-event", 8000, fmtp="0-16"),
)


@dataclass(frozen=True)
class MediaDescription:
    """An ``m=`` section (RFC 8866 §5.14) with its ``i= c= b= k= a=`` lines.

    ``formats`` are the format tokens as written (RTP payload types for ``RTP/...``
    protos, which must then be 0-127). ``attributes`` are ordered ``(name, value)``
    pairs, ``value`` ``None`` for a property attribute such as ``a=sendrecv``.
    ``port`` 0 marks a disabled or rejected stream (RFC 3264 §6, §8.2).
    """

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    attributes: tuple[Attribute, ...] = ()
    connection: ConnectionInfo | None = None
    port_count: int | None = None
    title: str | None = None
    bandwidths: tuple[str, ...] = ()
    key: str | None = None

    def __post_init__(self) -> None:
        _check_token(self.media, "media type")
        _check_uint(self.port, "media port", 65535)
        if self.port_count is not None:
            _check_uint(self.port_count, "port count", 65535)
            if self.port_count == 0:
                raise LocalProtocolError("SDP: port count must be positive")
        _check_token(self.proto, "media proto")
        formats = _tuple(self, "formats")
        if not formats:
            raise LocalProtocolError("SDP: m= line needs at least one format")
        for fmt in formats:
            _check_token(fmt, "media format")
            if self.is_rtp and not (_PAYLOAD_TYPE_RE.fullmatch(fmt) and int(fmt) <= 127):
                raise LocalProtocolError(f"SDP: RTP payload type {_show(fmt)} is not 0-127")
        _check_attributes(self)
        for name, value in self.attributes:
            if name == "rtpmap":
                _rtpmap_codec(value)
        if self.connection is not None and not isinstance(self.connection, ConnectionInfo):
            raise LocalProtocolError("SDP: media connection must be a ConnectionInfo")
        _check_text(self.title, "i= line", optional=True)
        _check_bandwidths(self)
        _check_text(self.key, "k= line", optional=True)

    @property
    def is_rtp(self) -> bool:
        """True for RTP profiles (``RTP/AVP``, ``RTP/SAVPF``, ``UDP/TLS/RTP/SAVPF``...)."""
        return "RTP/" in self.proto

    @property
    def direction(self) -> str | None:
        """The stream's own direction attribute (the last one wins), or ``None``."""
        found = None
        for name, value in self.attributes:
            if name in DIRECTIONS and value is None:
                found = name
        return found

    def attribute_values(self, name: str) -> tuple[str | None, ...]:
        """Values of every ``a=<name>`` line, in order."""
        return tuple(value for attr, value in self.attributes if attr == name)

    def codecs(self) -> tuple[Codec, ...]:
        """The formats as :class:`Codec` values, in ``m=`` order.

        A payload type is named by its ``a=rtpmap`` (the first one for it) or, for a
        static type without one, by RFC 3551 §6. Payload types with neither are left
        out, as are all formats of a non-RTP stream.
        """
        if not self.is_rtp:
            return ()
        rtpmaps: dict[str, Codec] = {}
        fmtps: dict[str, str] = {}
        for name, value in self.attributes:
            if name == "rtpmap":
                codec = _rtpmap_codec(value)
                rtpmaps.setdefault(str(codec.payload_type), codec)
            elif name == "fmtp" and value is not None:
                pt, _, params = value.partition(" ")
                fmtps.setdefault(pt, params)
        found = []
        for fmt in self.formats:
            pt = int(fmt)
            codec = rtpmaps.get(str(pt))
            if codec is None and pt in _STATIC_PAYLOAD_TYPES:
                codec = Codec(pt, *_STATIC_PAYLOAD_TYPES[pt])
            if codec is not None:
                found.append(
                    Codec(pt, codec.encoding, codec.clock_rate, codec.channels, fmtps.get(fmt))
                )
        return tuple(found)

    def to_lines(self) -> list[str]:
        """This section's lines in RFC 8866 §5 order (``m i c b k a``), without endings."""
        port = self.port if self.port_count is None else f"{self.port}/{self.port_count}"
        lines = [f"m={self.media} {port} {self.proto} {' '.join(self.formats)}"]
        if self.title is not None:
            lines.append(f"i={self.title}")
        if self.connection is not None:
            lines.append(self.connection.to_line())
        lines.extend(f"b={bandwidth}" for bandwidth in self.bandwidths)
        if self.key is not None:
            lines.append(f"k={self.key}")
        lines.extend(_attribute_line(name, value) for name, value in self.attributes)
        return lines


@dataclass(frozen=True)
class SessionDescription:
    """A whole session description (RFC 8866 §5).

    The origin (``o=``) is ``username``, ``session_id``, ``session_version``,
    ``origin_address`` and ``origin_addrtype`` (network type ``IN``). ``connection`` is
    the session-level ``c=``; RFC 8866 §5.7 requires it unless every media section has
    its own. At least one :class:`Timing` is required. ``session_name`` is ``"-"``
    by default (the usual placeholder); an empty name, as in the RFC 3264 §10 examples, is
    accepted although RFC 8866 §5.3 asks for ``"s= "``.
    """

    session_id: int
    session_version: int
    origin_address: str
    origin_addrtype: str = "IP4"
    username: str = "-"
    session_name: str = "-"
    connection: ConnectionInfo | None = None
    timing: tuple[Timing, ...] = (Timing(),)
    media: tuple[MediaDescription, ...] = ()
    attributes: tuple[Attribute, ...] = ()
    information: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    bandwidths: tuple[str, ...] = ()
    time_zones: str | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        _check_uint(self.session_id, "o= session id")
        _check_uint(self.session_version, "o= session version")
        _check_address(self.origin_address, self.origin_addrtype, "o=")
        _check_token(self.username, "o= username")
        _check_text(self.session_name, "s= line")
        if self.connection is not None and not isinstance(self.connection, ConnectionInfo):
            raise LocalProtocolError("SDP: session connection must be a ConnectionInfo")
        timing = _tuple(self, "timing")
        if not timing:
            raise LocalProtocolError("SDP: at least one t= line is required")
        if not all(isinstance(t, Timing) for t in timing):
            raise LocalProtocolError("SDP: timing must hold Timing values")
        media = _tuple(self, "media")
        if not all(isinstance(m, MediaDescription) for m in media):
            raise LocalProtocolError("SDP: media must hold MediaDescription values")
        if self.connection is None:
            for number, section in enumerate(media, 1):
                if section.connection is None:
                    raise LocalProtocolError(
                        f"SDP: no c= line at session level or in m= section {number}"
                    )
        _check_attributes(self)
        _check_text(self.information, "i= line", optional=True)
        _check_text(self.uri, "u= line", optional=True)
        for email in _tuple(self, "emails"):
            _check_text(email, "e= line")
        for phone in _tuple(self, "phones"):
            _check_text(phone, "p= line")
        _check_bandwidths(self)
        _check_text(self.time_zones, "z= line", optional=True)
        _check_text(self.key, "k= line", optional=True)

    @property
    def direction(self) -> str | None:
        """The session-level direction attribute (the last one wins), or ``None``."""
        found = None
        for name, value in self.attributes:
            if name in DIRECTIONS and value is None:
                found = name
        return found

    def media_direction(self, index: int) -> str:
        """Direction of stream ``index``: its own attribute, else the session's, else
        ``sendrecv`` (RFC 8866 §6.7, RFC 3264 §5.1)."""
        return self.media[index].direction or self.direction or "sendrecv"

    def media_connection(self, index: int) -> ConnectionInfo:
        """Where stream ``index`` is received: its ``c=``, else the session's (RFC 8866 §5.7)."""
        connection = self.media[index].connection or self.connection
        assert connection is not None  # guaranteed by __post_init__
        return connection

    def to_bytes(self) -> bytes:
        """Serialise with CRLF line endings in RFC 8866 §5 order
        (``v o s i u e p c b t r z k a``, then each media section)."""
        lines = [
            "v=0",
            f"o={self.username} {self.session_id} {self.session_version} "
            f"IN {self.origin_addrtype} {self.origin_address}",
            f"s={self.session_name}",
        ]
        if self.information is not None:
            lines.append(f"i={self.information}")
        if self.uri is not None:
            lines.append(f"u={self.uri}")
        lines.extend(f"e={email}" for email in self.emails)
        lines.extend(f"p={phone}" for phone in self.phones)
        if self.connection is not None:
            lines.append(self.connection.to_line())
        lines.extend(f"b={bandwidth}" for bandwidth in self.bandwidths)
        for timing in self.timing:
            lines.append(f"t={timing.start} {timing.stop}")
            lines.extend(f"r={repeat}" for repeat in timing.repeats)
        if self.time_zones is not None:
            lines.append(f"z={self.time_zones}")
        if self.key is not None:
            lines.append(f"k={self.key}")
        lines.extend(_attribute_line(name, value) for name, value in self.attributes)
        for section in self.media:
            lines.extend(section.to_lines())
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# --------------------------------------------------------------------------- parsing

_KNOWN_TYPES = frozenset("vosiuepcbtrzkam")
_SESSION_TYPES = frozenset("iuepcbtrzkam")
_MEDIA_TYPES = frozenset("icbkam")
_ONCE_PER_SECTION = frozenset("iuczk")


def _uint(text: str, what: str) -> int:
    if not _UINT_RE.fullmatch(text):
        raise RemoteProtocolError(f"SDP: {what} {_show(text)} is not a number")
    return int(text)


def _fields(value: str, count: int, what: str, layout: str) -> list[str]:
    fields = value.split()
    if len(fields) != count:
        raise RemoteProtocolError(f"SDP: {what} needs {layout}, got {_show(value)}")
    return fields


def _parse_connection(value: str) -> ConnectionInfo:
    nettype, addrtype, address = _fields(value, 3, "c=", "IN <addrtype> <address>")
    if nettype != "IN":
        raise RemoteProtocolError(f"SDP: c= network type {_show(nettype)} is not IN")
    return ConnectionInfo(address, addrtype)


class _Parser:
    """Collects one session description line by line; see :func:`parse_sdp`."""

    def __init__(self) -> None:
        self.session: dict = {
            "timing": [],
            "attributes": [],
            "emails": [],
            "phones": [],
            "bandwidths": [],
        }
        self.media: list[dict] = []
        self.seen: set[str] = set()  # single-use line types seen in the current section

    @property
    def section(self) -> dict:
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
            raise RemoteProtocolError(f"SDP: o= network type {_show(nettype)} is not IN")
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
                f"SDP: m= needs <media> <port> <proto> <format>..., got {_show(value)}"
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
        timing = [Timing(**timing) for timing in self.session.pop("timing")]
        media = [MediaDescription(**section) for section in self.media]
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
            raise RemoteProtocolError(f"SDP: line {number} has no '=': {_show(line)}")
        if len(kind) != 1 or not ("a" <= kind <= "z"):
            raise RemoteProtocolError(
                f"SDP: line {number}: bad type {_show(kind)} (expected one lowercase letter)"
            )
        expected = {1: "v", 2: "o", 3: "s"}.get(number)
        if expected is not None and kind != expected:
            raise RemoteProtocolError(f"SDP: line {number} must be '{expected}=', got '{kind}='")
        if number == 1:
            if value != "0":
                raise RemoteProtocolError(f"SDP: unsupported version v={_show(value)}")
        elif number <= 3:
            getattr(parser, f"line_{kind}")(number, value)
        else:
            parser.line(number, kind, value)
    if len(lines) < 2:
        raise RemoteProtocolError("SDP: no o= line")
    return parser.result()


# --------------------------------------------------------------------------- offer/answer

# Realistic dynamic-payload codecs used as padding, in the order they are added. None
# is in answer_for's default ``supported``, so padding never changes what is negotiated.
_PADDING_CODECS: tuple[tuple[str, int, int | None], ...] = (
    ("opus", 48000, 2),
    ("AMR-WB", 16000, None),
    ("AMR", 8000, None),
    ("EVS", 16000, None),
    ("iLBC", 8000, None),
    ("speex", 32000, None),
    ("speex", 16000, None),
    ("speex", 8000, None),
    ("SILK", 24000, None),
    ("SILK", 16000, None),
    ("SILK", 12000, None),
    ("SILK", 8000, None),
    ("G7221", 32000, None),
    ("G7221", 16000, None),
    ("G726-40", 8000, None),
    ("G726-32", 8000, None),
    ("G726-24", 8000, None),
    ("G726-16", 8000, None),
    ("AAL2-G726-32", 8000, None),
    ("BV32", 16000, None),
    ("BV16", 8000, None),
    ("iSAC", 32000, None),
    ("iSAC", 16000, None),
    ("L16", 48000, 2),
    ("L16", 44100, 2),
    ("L16", 16000, None),
    ("L16", 8000, None),
    ("GSM-EFR", 8000, None),
    ("G7291", 16000, None),
    ("VDVI", 8000, None),
    ("MP4A-LATM", 90000, None),
    ("AMR-WB+", 72000, None),
)

_PAD_ATTRIBUTE = "x-testbed-pad"
_PAD_LINE_MIN = len(f"a={_PAD_ATTRIBUTE}\r\n")  # 17: the line without a value
_PAD_LINE_MAX = 80
_PAD_PATTERN = "0123456789abcdefghijklmnopqrstuvwxyz"
_SESSION_NAME_PATTERN = "testbed-session-padding"


def _filler(length: int, pattern: str = _PAD_PATTERN) -> str:
    """``length`` characters of a repeating pattern (offsets are easy to read in a capture)."""
    return (pattern * (length // len(pattern) + 1))[:length]


def _pad_attributes(total: int) -> list[Attribute]:
    """``a=x-testbed-pad`` attributes whose lines (with CRLF) add up to ``total`` bytes.

    Lines are 17 to 80 bytes; ``total`` must be at least 17.
    """
    count = -(-total // _PAD_LINE_MAX)
    base, extra = divmod(total, count)
    attributes: list[Attribute] = []
    for index in range(count):
        length = base + (1 if index < extra else 0)
        # "a=x-testbed-pad" + CRLF is 17 bytes, ":" adds one, the value the rest.
        value = None if length == _PAD_LINE_MIN else _filler(length - _PAD_LINE_MIN - 1)
        attributes.append((_PAD_ATTRIBUTE, value))
    return attributes


def _addrtype_of(address: object) -> str:
    if not isinstance(address, str):
        raise LocalProtocolError(f"SDP: address must be a str, not {type(address).__name__}")
    try:
        return f"IP{ipaddress.ip_address(address).version}"
    except ValueError:
        raise LocalProtocolError(f"SDP: {_show(address)} is not an IPv4 or IPv6 address") from None


def _offer(
    address: str,
    addrtype: str,
    port: int,
    session_id: int,
    codecs: Sequence[Codec],
    direction: str,
    *,
    session_name: str = "-",
    pad: Sequence[Attribute] = (),
) -> SessionDescription:
    attributes: list[Attribute] = [("rtpmap", f"{c.payload_type} {c.rtpmap}") for c in codecs]
    attributes += [("fmtp", f"{c.payload_type} {c.fmtp}") for c in codecs if c.fmtp is not None]
    attributes += [("ptime", "20"), (direction, None), *pad]
    audio = MediaDescription(
        media="audio",
        port=port,
        proto="RTP/AVP",
        formats=tuple(str(c.payload_type) for c in codecs),
        attributes=tuple(attributes),
    )
    return SessionDescription(
        session_id=session_id,
        session_version=session_id,
        origin_address=address,
        origin_addrtype=addrtype,
        session_name=session_name,
        connection=ConnectionInfo(address, addrtype),
        media=(audio,),
    )


def build_offer(
    *,
    address: str,
    port: int,
    session_id: int,
    size: int | None = None,
    codecs: Sequence[Codec] = DEFAULT_CODECS,
    direction: str = "sendrecv",
) -> SessionDescription:
    """An initial offer (RFC 3264 §5) with one audio stream received at ``address:port``.

    ``address`` is an IPv4 or IPv6 literal and sets ``IP4``/``IP6`` in ``o=`` and
    ``c=``; ``session_id`` is both session id and version. The stream lists
    ``codecs`` (PCMU/0, PCMA/8 and telephone-event/101 by default) with their rtpmap
    and fmtp lines, then ``a=ptime:20`` and ``a=<direction>``.

    With ``size``, the offer is padded so ``len(offer.to_bytes()) == size`` exactly,
    deterministically and with realistic content:

    1. extra codecs on dynamic payload types 96-127 (not already used), each an ``m=``
       format plus an ``a=rtpmap`` line, while at least 17 bytes remain afterwards;
    2. ``a=x-testbed-pad:<0123...>`` lines of at most 80 bytes for the remainder
       (receivers ignore unknown attributes, RFC 8866 §5.13);
    3. a gap of 1-16 bytes, too small for either, lengthens the session name instead.

    Raises :class:`LocalProtocolError` when ``size`` is below the unpadded size (the
    reason gives it) or an argument is invalid.
    """
    addrtype = _addrtype_of(address)
    codecs = tuple(codecs)
    if not codecs:
        raise LocalProtocolError("SDP: an offer needs at least one codec")
    if not all(isinstance(c, Codec) for c in codecs):
        raise LocalProtocolError("SDP: codecs must be Codec values")
    used = [c.payload_type for c in codecs]
    if len(set(used)) != len(used):
        raise LocalProtocolError(f"SDP: duplicate payload types in codecs {used}")
    if direction not in DIRECTIONS:
        raise LocalProtocolError(f"SDP: direction {direction!r} is not one of {DIRECTIONS}")
    offer = _offer(address, addrtype, port, session_id, codecs, direction)
    if size is None:
        return offer
    _check_uint(size, "offer size")
    natural = len(offer.to_bytes())
    if size < natural:
        raise LocalProtocolError(
            f"SDP: offer of {size} bytes requested, but the minimal offer is {natural} bytes"
        )
    remaining = size - natural
    free = (pt for pt in range(96, 128) if pt not in used)
    extras: list[Codec] = []
    for (encoding, rate, channels), pt in zip(_PADDING_CODECS, free, strict=False):
        extra = Codec(pt, encoding, rate, channels)
        cost = len(f" {pt}") + len(f"a=rtpmap:{pt} {extra.rtpmap}\r\n")
        if remaining - cost < _PAD_LINE_MIN:
            break
        extras.append(extra)
        remaining -= cost
    offer = _offer(address, addrtype, port, session_id, codecs + tuple(extras), direction)
    remaining = size - len(offer.to_bytes())
    if remaining >= _PAD_LINE_MIN:
        pad = _pad_attributes(remaining)
        return _offer(
            address, addrtype, port, session_id, codecs + tuple(extras), direction, pad=pad
        )
    if remaining:  # only when no codec fitted: 1-16 bytes over the natural size
        name = _filler(1 + remaining, _SESSION_NAME_PATTERN)
        return _offer(address, addrtype, port, session_id, codecs, direction, session_name=name)
    return offer


def answer_for(
    offer: SessionDescription,
    *,
    address: str,
    port: int,
    session_id: int,
    supported: Iterable[str] = ("PCMU", "PCMA", "telephone-event"),
) -> SessionDescription:
    """The answer (RFC 3264 §6) of an agent at ``address`` that can use ``supported``.

    * one ``m=`` line per offered stream, in order (§6); stream ``i`` is received at
      ``port + 2 * i`` (RTP/RTCP pairs);
    * a stream is rejected with port 0 and no attributes (§6) when the offer disabled
      it (port 0, §8.2), its proto is not ``RTP/AVP`` or ``RTP/AVPF``, or it has no
      supported codec besides auxiliary formats such as telephone-event or CN;
    * accepted formats are the offered ones whose encoding name (case-insensitive) is
      in ``supported``, in the offer's order and with the offer's payload type numbers,
      rtpmap and fmtp (§6.1); the offer's first ``a=ptime`` is echoed;
    * the direction answers the offered one (§6.1): sendonly→recvonly,
      recvonly→sendonly, sendrecv→sendrecv, inactive→inactive;
    * ``t=`` copies the offer's (§6); ``o=`` uses ``session_id`` as id and version.

    An answer whose streams all have port 0 accepts nothing; a SIP UAS then usually
    replies 488 instead. An offer with more ``m=`` lines than ports above ``port``
    raises :class:`RemoteProtocolError` with ``status_hint`` 488; bad arguments raise
    :class:`LocalProtocolError`.
    """
    addrtype = _addrtype_of(address)
    if port == 0:
        raise LocalProtocolError("SDP: answer port 0; pass supported=() to reject every stream")
    last_port = port + 2 * (len(offer.media) - 1)
    if offer.media and last_port > 65535:
        raise RemoteProtocolError(
            f"SDP: offer has {len(offer.media)} m= lines, too many to answer from port {port}",
            status_hint=488,
        )
    wanted = {name.casefold() for name in supported}
    streams = []
    for index, offered in enumerate(offer.media):
        codecs = [c for c in offered.codecs() if c.encoding.casefold() in wanted]
        if (
            offered.port == 0
            or offered.proto not in _ANSWERABLE_PROTOS
            or all(c.encoding.casefold() in _AUXILIARY_ENCODINGS for c in codecs)
        ):
            streams.append(MediaDescription(offered.media, 0, offered.proto, offered.formats))
            continue
        attributes: list[Attribute] = [("rtpmap", f"{c.payload_type} {c.rtpmap}") for c in codecs]
        attributes += [("fmtp", f"{c.payload_type} {c.fmtp}") for c in codecs if c.fmtp is not None]
        ptime = offered.attribute_values("ptime")
        if ptime and ptime[0] is not None:
            attributes.append(("ptime", ptime[0]))
        attributes.append((_ANSWER_DIRECTION[offer.media_direction(index)], None))
        streams.append(
            MediaDescription(
                media=offered.media,
                port=port + 2 * index,
                proto=offered.proto,
                formats=tuple(str(c.payload_type) for c in codecs),
                attributes=tuple(attributes),
            )
        )
    return SessionDescription(
        session_id=session_id,
        session_version=session_id,
        origin_address=address,
        origin_addrtype=addrtype,
        connection=ConnectionInfo(address, addrtype),
        timing=offer.timing,
        media=tuple(streams),
    )


def negotiated_codecs(
    offer: SessionDescription, answer: SessionDescription
) -> tuple[tuple[Codec, ...], ...]:
    """Per offered stream, the answer's codecs that the offer also listed.

    Codecs match by encoding, clock rate and channels (:meth:`Codec.same_format`), so
    an answer may renumber a dynamic payload type (RFC 3264 §6.1 only says SHOULD
    keep it); the answer's :class:`Codec` values are returned, in the answer's order.
    Formats the answer adds on its own (allowed by §6.1) are left out. A rejected
    stream (port 0) gives ``()``.

    Raises :class:`RemoteProtocolError` when the answer breaks RFC 3264: a different
    number of ``m=`` lines or media types (§6), a stream the offer disabled accepted
    (§8.2), or an accepted stream with no codec from the offer (§6.1).
    """
    if len(answer.media) != len(offer.media):
        raise RemoteProtocolError(
            f"SDP: answer has {len(answer.media)} m= lines, the offer {len(offer.media)}"
            " (RFC 3264 §6)"
        )
    result = []
    for number, (offered, answered) in enumerate(zip(offer.media, answer.media, strict=True), 1):
        if answered.media != offered.media:
            raise RemoteProtocolError(
                f"SDP: answer m= line {number} is {_show(answered.media)},"
                f" the offer's {_show(offered.media)} (RFC 3264 §6)"
            )
        if answered.port == 0:
            result.append(())
            continue
        if offered.port == 0:
            raise RemoteProtocolError(
                f"SDP: answer accepts m= line {number}, which the offer disabled (RFC 3264 §8.2)"
            )
        offered_codecs = offered.codecs()
        common = tuple(
            codec
            for codec in answered.codecs()
            if any(codec.same_format(other) for other in offered_codecs)
        )
        if not common:
            raise RemoteProtocolError(
                f"SDP: answer m= line {number} has no format from the offer (RFC 3264 §6.1)"
            )
        result.append(common)
    return tuple(result)
