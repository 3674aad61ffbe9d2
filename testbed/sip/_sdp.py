"""SDP session descriptions (RFC 8866, which obsoletes RFC 4566): the values.

The testbed needs SDP for two things: to build an INVITE body of a chosen size (so the
datagram crosses the path MTU) and to read the answer a peer sends back. The three
modules are sans-IO and deterministic: the same arguments always give the same bytes.

* This one holds the values (:class:`SessionDescription`, :class:`MediaDescription`,
  :class:`Codec`...); :meth:`SessionDescription.to_bytes` writes CRLF lines in RFC 8866
  §5 order.
* :mod:`._sdp_parser`: :func:`parse_sdp` turns a body into a :class:`SessionDescription`;
  anything malformed raises :class:`RemoteProtocolError` whose reason starts with
  ``"SDP: "``. ``parse_sdp(sd.to_bytes()) == sd`` for every valid ``sd``.
* :mod:`._offer_answer`: :func:`build_offer` makes an audio offer, optionally padded to
  an exact byte count; :func:`answer_for` answers an offer by RFC 3264 §6;
  :func:`negotiated_codecs` reads the result of an exchange.

The dataclasses validate themselves like h11's events: building an invalid one raises
:class:`LocalProtocolError`; the parser turns the same check into a
:class:`RemoteProtocolError` with the same reason.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._errors import LocalProtocolError

Attribute = tuple[str, str | None]

#: The four direction attributes (RFC 8866 §6.7, RFC 3264 §5.1); ``sendrecv`` is the default.
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

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

_RTPMAP_RE = re.compile(r"([0-9]{1,3}) ([^\s/]+)/([0-9]{1,10})(?:/([0-9]{1,3}))?")
_PAYLOAD_TYPE_RE = re.compile(r"[0-9]{1,3}")
_BANDWIDTH_RE = re.compile(r"[^\s:]+:[0-9]{1,20}")


# --------------------------------------------------------------------------- checks


def show(text: str) -> str:
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
            raise LocalProtocolError(f"SDP: {what} contains {name}: {show(value)}")
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
        raise LocalProtocolError(f"SDP: bad {what} {show(value)}")


def check_uint(value: object, what: str, maximum: int | None = None) -> None:
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
            f"SDP: {what} address {show(address)} is not an {addrtype} address"
        )


def _tuple(owner: object, name: str) -> tuple[Any, ...]:
    """Freeze a sequence field given as a list (frozen dataclass friendly); its items are
    whatever the caller passed (``Any``), for the checks to examine."""
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
                f"SDP: bad bandwidth {show(bandwidth)} (expected <bwtype>:<number>)"
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
        check_uint(self.start, "t= start time")
        check_uint(self.stop, "t= stop time")
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
        check_uint(self.payload_type, "payload type", 127)
        _check_token(self.encoding, "encoding name", forbid="/")
        check_uint(self.clock_rate, "clock rate")
        if self.clock_rate == 0:
            raise LocalProtocolError("SDP: clock rate must be positive")
        if self.channels is not None:
            check_uint(self.channels, "channel count")
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
            f"SDP: bad rtpmap {show(value or '')}"
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
        check_uint(self.port, "media port", 65535)
        if self.port_count is not None:
            check_uint(self.port_count, "port count", 65535)
            if self.port_count == 0:
                raise LocalProtocolError("SDP: port count must be positive")
        _check_token(self.proto, "media proto")
        formats = _tuple(self, "formats")
        if not formats:
            raise LocalProtocolError("SDP: m= line needs at least one format")
        for fmt in formats:
            _check_token(fmt, "media format")
            if self.is_rtp and not (_PAYLOAD_TYPE_RE.fullmatch(fmt) and int(fmt) <= 127):
                raise LocalProtocolError(f"SDP: RTP payload type {show(fmt)} is not 0-127")
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
                mapped = _rtpmap_codec(value)
                rtpmaps.setdefault(str(mapped.payload_type), mapped)
            elif name == "fmtp" and value is not None:
                pt_text, _, params = value.partition(" ")
                fmtps.setdefault(pt_text, params)
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
        check_uint(self.session_id, "o= session id")
        check_uint(self.session_version, "o= session version")
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


__all__ = [
    "DEFAULT_CODECS",
    "DIRECTIONS",
    "Attribute",
    "Codec",
    "ConnectionInfo",
    "MediaDescription",
    "SessionDescription",
    "Timing",
    "check_uint",
    "show",
]
