"""SDP offer/answer (RFC 3264): sized offers, answers, and what an exchange negotiated.

:func:`build_offer` makes an audio offer, optionally padded to an exact byte count (so
that an INVITE crosses the path MTU); :func:`answer_for` answers an offer by RFC 3264
§6; :func:`negotiated_codecs` reads the result of an exchange. Deterministic: the same
arguments always give the same bytes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from ._errors import LocalProtocolError, RemoteProtocolError
from ._sdp import (
    DEFAULT_CODECS,
    DIRECTIONS,
    Attribute,
    Codec,
    ConnectionInfo,
    MediaDescription,
    SessionDescription,
    check_uint,
    show,
)

# RFC 3264 §6.1: the direction an answerer uses for each offered direction.
_ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}

# Formats that only accompany a real codec (RFC 4733 events, RFC 3389 comfort noise,
# redundancy, FEC, retransmission): a stream with nothing else in common is rejected.
_AUXILIARY_ENCODINGS = frozenset({"telephone-event", "cn", "red", "ulpfec", "rtx"})

# Profiles answer_for can accept; secure profiles need keying it does not do.
_ANSWERABLE_PROTOS = frozenset({"RTP/AVP", "RTP/AVPF"})

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
        raise LocalProtocolError(f"SDP: {show(address)} is not an IPv4 or IPv6 address") from None


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
    check_uint(size, "offer size")
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
    result: list[tuple[Codec, ...]] = []
    for number, (offered, answered) in enumerate(zip(offer.media, answer.media, strict=True), 1):
        if answered.media != offered.media:
            raise RemoteProtocolError(
                f"SDP: answer m= line {number} is {show(answered.media)},"
                f" the offer's {show(offered.media)} (RFC 3264 §6)"
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


__all__ = ["answer_for", "build_offer", "negotiated_codecs"]
