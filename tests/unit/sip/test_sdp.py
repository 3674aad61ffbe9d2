"""SDP (RFC 8866) parsing and serialising, sized offers and RFC 3264 answers."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.sip import (
    DEFAULT_CODECS,
    Codec,
    ConnectionInfo,
    LocalProtocolError,
    MediaDescription,
    RemoteProtocolError,
    SessionDescription,
    Timing,
    answer_for,
    build_offer,
    negotiated_codecs,
    parse_sdp,
)

# RFC 3264 §10.1, first exchange: Alice offers audio and two video streams, Bob rejects
# the first video stream with port 0.
RFC3264_OFFER = """\
v=0
o=alice 2890844526 2890844526 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 51372 RTP/AVP 31
a=rtpmap:31 H261/90000
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
"""
RFC3264_ANSWER = """\
v=0
o=bob 2890844730 2890844730 IN IP4 host.example.com
s=
c=IN IP4 host.example.com
t=0 0
m=audio 49920 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
"""
# RFC 3264 §10.1, second exchange: Bob adds a recvonly event stream (the RFC's own
# "telephone-events" spelling kept), Alice answers it sendonly.
RFC3264_REOFFER = """\
v=0
o=bob 2890844730 2890844731 IN IP4 host.example.com
s=
c=IN IP4 host.example.com
t=0 0
m=audio 65422 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
m=audio 51434 RTP/AVP 110
a=rtpmap:110 telephone-events/8000
a=recvonly
"""
RFC3264_REANSWER = """\
v=0
o=alice 2890844526 2890844527 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
m=audio 53122 RTP/AVP 110
a=rtpmap:110 telephone-events/8000
a=sendonly
"""
# After RFC 4317 §2.1: audio with a dynamic iLBC type and two video codecs; the answer
# keeps PCMU and MPV.
RFC4317_OFFER = """\
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0 8 97
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:97 iLBC/8000
m=video 51372 RTP/AVP 31 32
a=rtpmap:31 H261/90000
a=rtpmap:32 MPV/90000
"""
RFC4317_ANSWER = """\
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49174 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 49170 RTP/AVP 32
a=rtpmap:32 MPV/90000
"""
# Every line type once, after the RFC 8866 §5 example, in RFC order.
KITCHEN_SINK = """\
v=0
o=jdoe 3724394400 3724394405 IN IP4 198.51.100.1
s=Call to John Smith
i=SDP Offer #1
u=http://www.jdoe.example.com/home.html
e=Jane Doe <jane@jdoe.example.com>
p=+1 617 555-6011
c=IN IP4 198.51.100.1
b=AS:128
t=3724394400 3724398000
r=7d 1h 0 25h
t=0 0
z=2882844526 -1h 2898848070 0
k=prompt
a=recvonly
a=tool:testbed
m=audio 49170/2 RTP/AVP 0
i=main audio
b=TIAS:64000
k=prompt
a=rtpmap:0 PCMU/8000
m=audio 49180 RTP/AVP 0
m=video 51372 RTP/AVP 99
c=IN IP6 2001:db8::2
a=rtpmap:99 h263-1998/90000
a=fmtp:99 profile=0;level=10
m=application 9 TCP/MSRP *
a=accept-types:text/plain
"""
EXAMPLES = [
    RFC3264_OFFER,
    RFC3264_ANSWER,
    RFC3264_REOFFER,
    RFC3264_REANSWER,
    RFC4317_OFFER,
    RFC4317_ANSWER,
    KITCHEN_SINK,
]

ADDRESSES = ["192.0.2.10", "2001:db8::10", "203.0.113.254", "2001:db8:ffff:ffff::abcd"]


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def offer_for(address="192.0.2.10", **kwargs):
    kwargs.setdefault("port", 49170)
    kwargs.setdefault("session_id", 1)
    return build_offer(address=address, **kwargs)


def natural_size(address="192.0.2.10", **kwargs):
    return len(offer_for(address, **kwargs).to_bytes())


# --------------------------------------------------------------------------- parsing


def test_parse_rfc3264_answer():
    answer = parse_sdp(crlf(RFC3264_ANSWER))
    assert (answer.username, answer.session_id, answer.session_version) == (
        "bob",
        2890844730,
        2890844730,
    )
    assert (answer.origin_addrtype, answer.origin_address) == ("IP4", "host.example.com")
    assert answer.session_name == ""
    assert answer.connection == ConnectionInfo("host.example.com", "IP4")
    assert answer.timing == (Timing(0, 0),)
    assert [(m.media, m.port, m.proto, m.formats) for m in answer.media] == [
        ("audio", 49920, "RTP/AVP", ("0",)),
        ("video", 0, "RTP/AVP", ("31",)),
        ("video", 53000, "RTP/AVP", ("32",)),
    ]
    assert answer.media[0].attributes == (("rtpmap", "0 PCMU/8000"),)
    assert answer.media[0].codecs() == (Codec(0, "PCMU", 8000),)
    assert answer.media_direction(0) == "sendrecv"
    assert answer.media_connection(2) == ConnectionInfo("host.example.com")


def test_negotiated_codecs_of_rfc_exchanges():
    offer, answer = parse_sdp(RFC3264_OFFER), parse_sdp(RFC3264_ANSWER)
    assert negotiated_codecs(offer, answer) == (
        (Codec(0, "PCMU", 8000),),
        (),
        (Codec(32, "MPV", 90000),),
    )
    offer, answer = parse_sdp(RFC4317_OFFER), parse_sdp(RFC4317_ANSWER)
    assert negotiated_codecs(offer, answer) == (
        (Codec(0, "PCMU", 8000),),
        (Codec(32, "MPV", 90000),),
    )


def test_rfc3264_reoffer_directions():
    reoffer, reanswer = parse_sdp(RFC3264_REOFFER), parse_sdp(RFC3264_REANSWER)
    assert reoffer.media_direction(3) == "recvonly"
    assert reanswer.media_direction(3) == "sendonly"
    assert negotiated_codecs(reoffer, reanswer)[3] == (Codec(110, "telephone-events", 8000),)


def test_kitchen_sink_fields():
    sd = parse_sdp(KITCHEN_SINK)
    assert sd.information == "SDP Offer #1"
    assert sd.uri == "http://www.jdoe.example.com/home.html"
    assert sd.emails == ("Jane Doe <jane@jdoe.example.com>",)
    assert sd.phones == ("+1 617 555-6011",)
    assert sd.bandwidths == ("AS:128",)
    assert sd.timing == (Timing(3724394400, 3724398000, ("7d 1h 0 25h",)), Timing(0, 0))
    assert sd.time_zones == "2882844526 -1h 2898848070 0"
    assert sd.key == "prompt"
    assert sd.attributes == (("recvonly", None), ("tool", "testbed"))
    first, _, video, msrp = sd.media
    assert (first.port, first.port_count, first.title, first.bandwidths, first.key) == (
        49170,
        2,
        "main audio",
        ("TIAS:64000",),
        "prompt",
    )
    assert sd.media_direction(1) == "recvonly"  # inherited from the session level
    assert video.connection == ConnectionInfo("2001:db8::2", "IP6")
    assert sd.media_connection(1) == ConnectionInfo("198.51.100.1")
    assert video.codecs() == (Codec(99, "h263-1998", 90000, fmtp="profile=0;level=10"),)
    assert msrp.formats == ("*",) and msrp.codecs() == ()


@pytest.mark.parametrize("text", EXAMPLES)
def test_round_trip_is_byte_exact_for_rfc_ordered_input(text):
    sd = parse_sdp(text)
    assert sd.to_bytes() == crlf(text)
    assert parse_sdp(sd.to_bytes()) == sd


@pytest.mark.parametrize("text", EXAMPLES)
@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda t: t, id="str-lf"),
        pytest.param(lambda t: t.encode(), id="bytes-lf"),
        pytest.param(crlf, id="bytes-crlf"),
        pytest.param(lambda t: crlf(t)[:-2], id="no-final-crlf"),
        pytest.param(lambda t: t.rstrip("\n").encode(), id="no-final-lf"),
        pytest.param(lambda t: crlf(t) + b"\r\n\r\n", id="trailing-blank-lines"),
        pytest.param(lambda t: bytearray(crlf(t)), id="bytearray"),
    ],
)
def test_line_endings_and_input_types_do_not_matter(text, encode):
    assert parse_sdp(encode(text)) == parse_sdp(text)


def test_session_lines_out_of_order_are_accepted_and_written_in_rfc_order():
    text = (
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\na=sendonly\r\nt=0 0\r\n"
        "c=IN IP4 192.0.2.1\r\nb=AS:64\r\nm=audio 4000 RTP/AVP 0\r\n"
        "a=ptime:20\r\nc=IN IP4 192.0.2.2\r\n"
    )
    sd = parse_sdp(text)
    assert sd.to_bytes() == (
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nb=AS:64\r\n"
        b"t=0 0\r\na=sendonly\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.2\r\n"
        b"a=ptime:20\r\n"
    )
    assert parse_sdp(sd.to_bytes()) == sd


def test_attribute_values_keep_empty_and_missing_apart():
    sd = parse_sdp(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
        "m=audio 4000 RTP/AVP 0\na=flag\na=empty:\na=text: spaced : value \n"
    )
    assert sd.media[0].attributes == (
        ("flag", None),
        ("empty", ""),
        ("text", " spaced : value "),
    )
    assert sd.media[0].attribute_values("text") == (" spaced : value ",)
    assert parse_sdp(sd.to_bytes()) == sd


def test_static_payload_types_need_no_rtpmap():
    sd = parse_sdp(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
        "m=audio 4000 RTP/AVP 8 18 96 13\n"
    )
    # 96 is dynamic and has no rtpmap, so it cannot be named and is left out.
    assert sd.media[0].codecs() == (
        Codec(8, "PCMA", 8000),
        Codec(18, "G729", 8000),
        Codec(13, "CN", 8000),
    )


# --------------------------------------------------------------------------- malformed

HEAD = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\n"
BODY = "c=IN IP4 192.0.2.1\nt=0 0\n"

MALFORMED = [
    pytest.param("", "empty body", id="empty"),
    pytest.param("\r\n\n", "empty body", id="only-newlines"),
    pytest.param("o=- 1 1 IN IP4 192.0.2.1\ns=-\n" + BODY, "line 1 must be 'v='", id="no-v"),
    pytest.param("v=1\no=- 1 1 IN IP4 192.0.2.1\ns=-\n" + BODY, "version", id="v-1"),
    pytest.param("v=0\n", "no o=", id="only-v"),
    pytest.param("v=0\ns=-\n" + BODY, "line 2 must be 'o='", id="no-o"),
    pytest.param("v=0\no=- 1 1 IN IP4 192.0.2.1\n", "no s=", id="v-o-only"),
    pytest.param("v=0\no=- 1 1 IN IP4 192.0.2.1\n" + BODY, "line 3 must be 's='", id="no-s"),
    pytest.param(HEAD + "c=IN IP4 192.0.2.1\n", "no t=", id="no-t"),
    pytest.param("v=0\no=- 1 1 IN IP4\ns=-\n" + BODY, "o= needs", id="o-5-fields"),
    pytest.param("v=0\no=- one 1 IN IP4 192.0.2.1\ns=-\n" + BODY, "session id", id="o-id"),
    pytest.param("v=0\no=- 1 1 ATM IP4 192.0.2.1\ns=-\n" + BODY, "not IN", id="o-nettype"),
    pytest.param("v=0\no=- 1 1 IN IP7 x\ns=-\n" + BODY, "IP4 or IP6", id="o-addrtype"),
    pytest.param(HEAD + "c=IN IP4\nt=0 0\n", "c= needs", id="c-2-fields"),
    pytest.param(HEAD + "c=IN IP4 2001:db8::1\nt=0 0\n", "not an IP4", id="c-mismatch"),
    pytest.param(HEAD + "c=IN IP6 192.0.2.1\nt=0 0\n", "not an IP6", id="c-mismatch-6"),
    pytest.param(HEAD + "c=ATM NSAP x\nt=0 0\n", "not IN", id="c-nettype"),
    pytest.param(HEAD + BODY + "c=IN IP4 192.0.2.2\n", "second 'c='", id="c-twice"),
    pytest.param(HEAD + "c=IN IP4 192.0.2.1\nt=0 x\n", "stop time", id="t-nonnumeric"),
    pytest.param(HEAD + "c=IN IP4 192.0.2.1\nt=0\n", "t= needs", id="t-1-field"),
    pytest.param(HEAD + "r=7d 1h 0\n" + BODY, "r= without", id="r-before-t"),
    pytest.param(HEAD + BODY + "m=audio abc RTP/AVP 0\n", "port 'abc'", id="m-port-text"),
    pytest.param(HEAD + BODY + "m=audio -1 RTP/AVP 0\n", "port '-1'", id="m-port-negative"),
    pytest.param(HEAD + BODY + "m=audio 70000 RTP/AVP 0\n", "out of range", id="m-port-big"),
    pytest.param(HEAD + BODY + "m=audio 4000/0 RTP/AVP 0\n", "port count", id="m-count-0"),
    pytest.param(HEAD + BODY + "m=audio 4000/x RTP/AVP 0\n", "port count", id="m-count-x"),
    pytest.param(HEAD + BODY + "m=audio 4000 RTP/AVP\n", "m= needs", id="m-no-format"),
    pytest.param(HEAD + BODY + "m=audio\n", "m= needs", id="m-only-media"),
    pytest.param(HEAD + BODY + "m=audio 4000 RTP/AVP PCMU\n", "payload type", id="m-pt-text"),
    pytest.param(HEAD + BODY + "m=audio 4000 RTP/AVP 200\n", "payload type", id="m-pt-200"),
    pytest.param(HEAD + BODY + "m=audio 4000 RTP/AVP 0\nt=0 0\n", "media section", id="t-in-m"),
    pytest.param(HEAD + BODY + "m=audio 4000 RTP/AVP 0\nv=0\n", "media section", id="v-in-m"),
    pytest.param(HEAD + BODY + "o=- 1 1 IN IP4 192.0.2.1\n", "not allowed", id="o-twice"),
    pytest.param(HEAD + "t=0 0\nm=audio 4000 RTP/AVP 0\n", "no c= line", id="no-c"),
    pytest.param(HEAD + BODY + "this is not sdp\n", "has no '='", id="garbage-line"),
    pytest.param(HEAD + BODY + "a\n", "has no '='", id="no-equals"),
    pytest.param(HEAD + BODY + "xx=1\n", "bad type", id="two-letter-type"),
    pytest.param(HEAD + BODY + "A=1\n", "bad type", id="uppercase-type"),
    pytest.param(HEAD + BODY + "=1\n", "bad type", id="empty-type"),
    pytest.param(HEAD + BODY + "x=1\n", "unknown type", id="unknown-type"),
    pytest.param(HEAD + "\n" + BODY, "line 4 is empty", id="blank-line"),
    pytest.param(HEAD + BODY + "a=:x\n", "attribute name", id="empty-attr-name"),
    pytest.param(HEAD + BODY + "a=a b:c\n", "attribute name", id="spaced-attr-name"),
    pytest.param(HEAD + BODY + "b=AS\n", "bandwidth", id="bad-bandwidth"),
    pytest.param(
        HEAD + BODY + "m=audio 4000 RTP/AVP 96\na=rtpmap:96 opus\n", "rtpmap", id="rtpmap-rate"
    ),
    pytest.param(
        HEAD + BODY + "m=audio 4000 RTP/AVP 96\na=rtpmap:96 opus/0\n", "clock rate", id="rate-0"
    ),
    pytest.param(HEAD + BODY + "a=x\rb\n", "stray CR", id="stray-cr"),
    pytest.param(HEAD + BODY + "a=x\0\n", "NUL", id="nul"),
    pytest.param(HEAD.encode() + b"i=\xff\xfe\n" + BODY.encode(), "UTF-8", id="not-utf8"),
    pytest.param("v=0\no=- " + "9" * 5000 + " 1 IN IP4 a\ns=-\n" + BODY, "id", id="huge-id"),
]


@pytest.mark.parametrize(("data", "reason"), MALFORMED)
def test_malformed_input_raises_remote_protocol_error(data, reason):
    with pytest.raises(RemoteProtocolError) as info:
        parse_sdp(data)
    assert info.value.status_hint == 400
    assert info.value.reason.startswith("SDP: ")
    assert reason in info.value.reason
    assert "\n" not in info.value.reason and "\r" not in info.value.reason


def test_valid_head_and_body_parse():
    # The fixtures above are only malformed where they say so.
    assert parse_sdp(HEAD + BODY + "m=audio 4000 RTP/AVP 0\n").media[0].port == 4000


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_garbage_raises_only_remote_protocol_error(data):
    try:
        parse_sdp(data)
    except RemoteProtocolError as exc:
        assert exc.reason.startswith("SDP: ")


@settings(max_examples=300)
@given(st.data())
def test_mutated_sdp_raises_only_remote_protocol_error_or_round_trips(data):
    original = bytearray(crlf(data.draw(st.sampled_from(EXAMPLES))))
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(original) - 1))
        action = data.draw(st.sampled_from(["delete", "replace", "insert"]))
        byte = data.draw(st.sampled_from(b" :=/\r\n\x00\xff0aAzm9-"))
        if action == "delete":
            del original[index]
        elif action == "replace":
            original[index] = byte
        else:
            original.insert(index, byte)
    try:
        sd = parse_sdp(bytes(original))
    except RemoteProtocolError:
        return
    assert parse_sdp(sd.to_bytes()) == sd
    # What parses can be answered and compared without any other exception.
    answer_for(sd, address="192.0.2.99", port=10000, session_id=5)
    try:
        negotiated_codecs(sd, sd)
    except RemoteProtocolError:
        pass


# --------------------------------------------------------------------------- values

TOKEN = st.text(
    st.characters(categories=("L", "N", "P", "S"), exclude_characters=":"), min_size=1, max_size=8
)
TEXT = st.text(
    st.characters(exclude_characters="\r\n\x00", exclude_categories=("Cs",)), max_size=12
)
ATTRIBUTES = st.lists(
    st.tuples(TOKEN.filter(lambda n: n != "rtpmap"), st.none() | TEXT), max_size=3
).map(tuple)
IP4 = st.ip_addresses(v=4).map(str)
IP6 = st.ip_addresses(v=6).map(str)
CONNECTION = st.one_of(
    st.builds(ConnectionInfo, IP4, st.just("IP4")),
    st.builds(ConnectionInfo, IP6, st.just("IP6")),
    st.builds(ConnectionInfo, st.just("host.example.com"), st.sampled_from(["IP4", "IP6"])),
)
PAYLOAD_TYPES = st.integers(0, 127).map(str)
MEDIA = st.one_of(
    st.tuples(st.sampled_from(["RTP/AVP", "RTP/SAVPF"]), st.lists(PAYLOAD_TYPES, min_size=1)),
    st.tuples(st.sampled_from(["udptl", "TCP/MSRP"]), st.lists(TOKEN, min_size=1)),
).flatmap(
    lambda proto_formats: st.builds(
        MediaDescription,
        media=TOKEN,
        port=st.integers(0, 65535),
        proto=st.just(proto_formats[0]),
        formats=st.just(tuple(proto_formats[1])),
        attributes=ATTRIBUTES,
        connection=CONNECTION,
        port_count=st.none() | st.integers(1, 8),
        title=st.none() | TEXT,
        bandwidths=st.lists(st.sampled_from(["AS:64", "TIAS:64000", "CT:1"]), max_size=2),
        key=st.none() | TEXT,
    )
)
SESSION = st.builds(
    SessionDescription,
    session_id=st.integers(0, 2**63 - 1),
    session_version=st.integers(0, 2**63 - 1),
    origin_address=IP4,
    username=TOKEN,
    session_name=TEXT,
    connection=CONNECTION,
    timing=st.lists(
        st.builds(Timing, st.integers(0, 2**40), st.integers(0, 2**40), st.lists(TEXT)),
        min_size=1,
        max_size=2,
    ),
    media=st.lists(MEDIA, max_size=3),
    attributes=ATTRIBUTES,
    information=st.none() | TEXT,
    uri=st.none() | TEXT,
    emails=st.lists(TEXT, max_size=2),
    phones=st.lists(TEXT, max_size=2),
    time_zones=st.none() | TEXT,
    key=st.none() | TEXT,
)


@settings(max_examples=200)
@given(SESSION)
def test_any_valid_session_round_trips(sd):
    data = sd.to_bytes()
    assert parse_sdp(data) == sd
    assert parse_sdp(data).to_bytes() == data


def test_sequences_are_frozen_to_tuples():
    media = MediaDescription("audio", 4000, "RTP/AVP", ["0"], [("ptime", "20")])
    assert media.formats == ("0",) and media.attributes == (("ptime", "20"),)
    sd = SessionDescription(1, 1, "192.0.2.1", media=[media], connection=ConnectionInfo("x"))
    assert sd.media == (media,)
    hash(sd)


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda: ConnectionInfo("::1", "IP4"), "not an IP4"),
        (lambda: ConnectionInfo("192.0.2.1", "IP5"), "IP4 or IP6"),
        (lambda: ConnectionInfo("a b"), "address"),
        (lambda: MediaDescription("audio", 70000, "RTP/AVP", ("0",)), "out of range"),
        (lambda: MediaDescription("audio", 4000, "RTP/AVP", ()), "at least one format"),
        (lambda: MediaDescription("audio", 4000, "RTP/AVP", ("x",)), "payload type"),
        (lambda: MediaDescription("audio", 1, "RTP/AVP", ("0",), (("a:b", None),)), "name"),
        (lambda: MediaDescription("audio", 1, "RTP/AVP", ("0",), (("a", "x\r\n"),)), "CR"),
        (lambda: MediaDescription("audio", 1, "RTP/AVP", ("0",), [["a", None]]), "pair"),
        (lambda: SessionDescription(1, 1, "192.0.2.1", session_name="a\nb"), "LF"),
        (lambda: SessionDescription(1, 1, "192.0.2.1", phones=("\ud800",)), "UTF-8"),
        (lambda: SessionDescription(-1, 1, "192.0.2.1"), "session id"),
        (lambda: SessionDescription(1, 1, "192.0.2.1", timing=()), "t= line"),
        (lambda: SessionDescription(1, 1, "192.0.2.1", username=""), "username"),
        (
            lambda: SessionDescription(
                1, 1, "192.0.2.1", media=(MediaDescription("audio", 1, "RTP/AVP", ("0",)),)
            ),
            "no c= line",
        ),
        (lambda: Codec(128, "x", 8000), "payload type"),
        (lambda: Codec(96, "a/b", 8000), "encoding"),
        (lambda: Codec(96, "opus", 0), "clock rate"),
    ],
)
def test_invalid_values_raise_local_protocol_error(build, reason):
    with pytest.raises(LocalProtocolError) as info:
        build()
    assert info.value.reason.startswith("SDP: ") and reason in info.value.reason


# --------------------------------------------------------------------------- offers


def test_default_offer_ipv4():
    assert offer_for().to_bytes() == (
        b"v=0\r\n"
        b"o=- 1 1 IN IP4 192.0.2.10\r\n"
        b"s=-\r\n"
        b"c=IN IP4 192.0.2.10\r\n"
        b"t=0 0\r\n"
        b"m=audio 49170 RTP/AVP 0 8 101\r\n"
        b"a=rtpmap:0 PCMU/8000\r\n"
        b"a=rtpmap:8 PCMA/8000\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\n"
        b"a=fmtp:101 0-16\r\n"
        b"a=ptime:20\r\n"
        b"a=sendrecv\r\n"
    )
    assert offer_for().media[0].codecs() == DEFAULT_CODECS


def test_ipv6_offer():
    offer = build_offer(address="2001:db8::10", port=5004, session_id=42, direction="sendonly")
    data = offer.to_bytes()
    assert b"o=- 42 42 IN IP6 2001:db8::10\r\n" in data
    assert b"c=IN IP6 2001:db8::10\r\n" in data
    assert parse_sdp(data) == offer
    assert offer.media_direction(0) == "sendonly"
    padded = build_offer(address="2001:db8::10", port=5004, session_id=42, size=1600)
    assert len(padded.to_bytes()) == 1600
    assert padded.connection == ConnectionInfo("2001:db8::10", "IP6")


@pytest.mark.parametrize("address", ADDRESSES)
@pytest.mark.parametrize("size", [1200, 1300, 1472, 1500, 1501, 1600, 4000, 9000, 65000])
def test_sized_offer_is_exact(address, size):
    offer = offer_for(address, size=size)
    data = offer.to_bytes()
    assert len(data) == size
    assert parse_sdp(data) == offer
    assert offer_for(address, size=size).to_bytes() == data  # deterministic


@settings(max_examples=200)
@given(address=st.sampled_from(ADDRESSES), extra=st.integers(0, 3000), port=st.integers(1, 65535))
def test_any_size_from_the_minimum_is_exact_and_stable(address, extra, port):
    size = natural_size(address, port=port) + extra
    data = offer_for(address, port=port, size=size).to_bytes()
    assert len(data) == size
    assert parse_sdp(data).to_bytes() == data


def test_padding_uses_dynamic_codecs_then_pad_attributes():
    offer = offer_for(size=1600)
    audio = offer.media[0]
    assert audio.formats[:3] == ("0", "8", "101")
    extras = [int(pt) for pt in audio.formats[3:]]
    assert extras == [pt for pt in range(96, 128) if pt != 101]
    pad_lines = [
        line + b"\n" for line in offer.to_bytes().split(b"\n") if line.startswith(b"a=x-testbed")
    ]
    assert len(pad_lines) == len(audio.attribute_values("x-testbed-pad")) > 1
    assert all(17 <= len(line) <= 80 for line in pad_lines)
    assert audio.attributes[-len(pad_lines) - 1] == ("sendrecv", None)  # pads come last
    assert audio.direction == "sendrecv"
    # Padding never changes what a default answerer accepts.
    answer = answer_for(offer, address="192.0.2.20", port=5000, session_id=2)
    assert answer.media[0].codecs() == DEFAULT_CODECS


@pytest.mark.parametrize("gap", range(1, 17))
def test_gaps_too_small_for_an_attribute_lengthen_the_session_name(gap):
    plain = offer_for()
    padded = offer_for(size=natural_size() + gap)
    assert len(padded.to_bytes()) == natural_size() + gap
    assert len(padded.session_name) == 1 + gap
    assert dataclasses.replace(padded, session_name="-") == plain


def test_size_equal_to_the_minimum_is_the_plain_offer():
    assert offer_for(size=natural_size()) == offer_for()


def test_size_below_the_minimum_raises_local_protocol_error():
    minimum = natural_size()
    with pytest.raises(LocalProtocolError) as info:
        offer_for(size=minimum - 1)
    assert str(minimum) in info.value.reason
    with pytest.raises(LocalProtocolError):
        offer_for(size=0)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"address": "example.com"}, "IPv4 or IPv6"),
        ({"address": "[2001:db8::1]"}, "IPv4 or IPv6"),
        ({"port": 70000}, "out of range"),
        ({"session_id": -1}, "session id"),
        ({"codecs": ()}, "at least one codec"),
        ({"codecs": (Codec(0, "PCMU", 8000), Codec(0, "PCMA", 8000))}, "duplicate"),
        ({"direction": "both"}, "direction"),
    ],
)
def test_bad_offer_arguments_raise_local_protocol_error(kwargs, reason):
    kwargs = {"address": "192.0.2.10", "port": 4000, "session_id": 1, **kwargs}
    with pytest.raises(LocalProtocolError) as info:
        build_offer(**kwargs)
    assert reason in info.value.reason


def test_custom_codecs():
    offer = offer_for(
        codecs=(Codec(96, "opus", 48000, 2, "useinbandfec=1"), Codec(0, "PCMU", 8000))
    )
    assert offer.media[0].codecs() == (
        Codec(96, "opus", 48000, 2, "useinbandfec=1"),
        Codec(0, "PCMU", 8000),
    )
    padded = offer_for(size=3000, codecs=(Codec(96, "opus", 48000, 2),))
    assert padded.media[0].formats.count("96") == 1
    assert len(padded.to_bytes()) == 3000


# --------------------------------------------------------------------------- answers


def answer(offer, **kwargs):
    kwargs = {"address": "198.51.100.7", "port": 30000, "session_id": 77, **kwargs}
    return answer_for(offer, **kwargs)


@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        ("sendrecv", "sendrecv"),
        ("sendonly", "recvonly"),
        ("recvonly", "sendonly"),
        ("inactive", "inactive"),
    ],
)
def test_answer_direction_follows_rfc3264_6_1(offered, answered):
    result = answer(offer_for(direction=offered))
    assert result.media[0].direction == answered
    # The same with the direction given at session level only.
    audio = offer_for().media[0]
    session_level = dataclasses.replace(
        offer_for(),
        attributes=((offered, None),),
        media=(dataclasses.replace(audio, attributes=audio.attributes[:-1]),),
    )
    assert session_level.media_direction(0) == offered
    assert answer(session_level).media_direction(0) == answered


def test_answer_to_rfc3264_offer():
    offer = parse_sdp(RFC3264_OFFER)
    result = answer(offer, supported=("pcmu", "MPV"))
    assert len(result.media) == len(offer.media)
    audio, h261, mpv = result.media
    assert (audio.media, audio.port, audio.formats) == ("audio", 30000, ("0",))
    assert audio.attributes == (("rtpmap", "0 PCMU/8000"), ("sendrecv", None))
    assert (h261.media, h261.port, h261.attributes) == ("video", 0, ())
    assert (mpv.port, mpv.formats) == (30004, ("32",))
    assert result.timing == offer.timing
    assert (result.session_id, result.session_version) == (77, 77)
    assert result.connection == ConnectionInfo("198.51.100.7")
    assert negotiated_codecs(offer, result) == (
        (Codec(0, "PCMU", 8000),),
        (),
        (Codec(32, "MPV", 90000),),
    )
    assert parse_sdp(result.to_bytes()) == result


def test_answer_keeps_offer_payload_types_and_order():
    offer = parse_sdp(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
        "m=audio 4000 RTP/AVP 97 96 0 100\na=rtpmap:97 iLBC/8000\na=rtpmap:96 PCMA/8000\n"
        "a=rtpmap:100 telephone-event/8000\na=fmtp:100 0-15\na=ptime:30\n"
    )
    audio = answer(offer).media[0]
    assert audio.formats == ("96", "0", "100")
    assert audio.attributes == (
        ("rtpmap", "96 PCMA/8000"),
        ("rtpmap", "0 PCMU/8000"),
        ("rtpmap", "100 telephone-event/8000"),
        ("fmtp", "100 0-15"),
        ("ptime", "30"),
        ("sendrecv", None),
    )


@pytest.mark.parametrize(
    ("media_line", "why"),
    [
        ("m=audio 4000 RTP/AVP 18", "no supported codec"),
        ("m=audio 4000 RTP/AVP 101\na=rtpmap:101 telephone-event/8000", "only events"),
        ("m=audio 4000 RTP/AVP 0 13", "PCMU but..."),
        ("m=audio 0 RTP/AVP 0", "disabled in the offer"),
        ("m=audio 4000 RTP/SAVP 0", "secure profile"),
        ("m=image 4000 udptl t38", "not RTP"),
    ],
)
def test_answer_rejects_streams_with_port_zero(media_line, why):
    offer = parse_sdp(f"{HEAD}{BODY}m=audio 5000 RTP/AVP 8\n{media_line}\n")
    result = answer(offer)
    assert result.media[0].port == 30000 and result.media[0].formats == ("8",)
    second = result.media[1]
    if why == "PCMU but...":  # control: an ordinary stream is accepted on port + 2
        assert (second.port, second.formats) == (30002, ("0",))
        return
    assert second.port == 0, why
    assert second.media == offer.media[1].media and second.formats == offer.media[1].formats
    assert second.attributes == ()
    assert negotiated_codecs(offer, result)[1] == ()


def test_answer_with_nothing_supported_rejects_everything():
    result = answer(parse_sdp(RFC4317_OFFER), supported=())
    assert [m.port for m in result.media] == [0, 0]


def test_answer_of_ipv6_offer_from_ipv4_answerer():
    offer = build_offer(address="2001:db8::10", port=5004, session_id=3, size=2000)
    result = answer(offer)
    assert result.origin_addrtype == "IP4"
    assert parse_sdp(result.to_bytes()) == result
    result6 = answer(offer, address="2001:db8::20")
    assert result6.connection == ConnectionInfo("2001:db8::20", "IP6")


def test_answer_port_zero_is_a_local_error():
    with pytest.raises(LocalProtocolError):
        answer(offer_for(), port=0)


def test_answer_ports_past_65535_are_the_offers_fault():
    offer = parse_sdp(HEAD + BODY + "m=audio 4000 RTP/AVP 0\n" * 3)
    assert answer(offer, port=65531).media[2].port == 65535
    with pytest.raises(RemoteProtocolError) as info:
        answer(offer, port=65532)
    assert info.value.status_hint == 488


# --------------------------------------------------------------------------- negotiation


def test_negotiation_accepts_renumbered_dynamic_types_and_ignores_additions():
    offer = offer_for()
    reply = parse_sdp(
        "v=0\no=- 2 2 IN IP4 192.0.2.2\ns=-\nc=IN IP4 192.0.2.2\nt=0 0\n"
        "m=audio 6000 RTP/AVP 9 8 96\na=rtpmap:96 telephone-event/8000\n"
    )
    assert negotiated_codecs(offer, reply) == (
        (Codec(8, "PCMA", 8000), Codec(96, "telephone-event", 8000)),
    )


@pytest.mark.parametrize(
    ("offer_media", "answer_media", "reason"),
    [
        ("m=audio 4000 RTP/AVP 0\n", "", "0 m= lines"),
        ("m=audio 4000 RTP/AVP 0\n", "m=audio 1 RTP/AVP 0\nm=audio 2 RTP/AVP 0\n", "2 m= lines"),
        ("m=audio 4000 RTP/AVP 0\n", "m=video 1 RTP/AVP 0\n", "'video'"),
        ("m=audio 0 RTP/AVP 0\n", "m=audio 6000 RTP/AVP 0\n", "disabled"),
        ("m=audio 4000 RTP/AVP 0\n", "m=audio 6000 RTP/AVP 8\n", "no format from the offer"),
    ],
)
def test_answers_breaking_rfc3264_raise_remote_protocol_error(offer_media, answer_media, reason):
    offer = parse_sdp(HEAD + BODY + offer_media)
    reply = parse_sdp(HEAD + BODY + answer_media)
    with pytest.raises(RemoteProtocolError) as info:
        negotiated_codecs(offer, reply)
    assert reason in info.value.reason and "RFC 3264" in info.value.reason
