"""Property tests: serialise(parse(x)) is stable, and garbage only ever raises
RemoteProtocolError (the invariant of h11's fuzz/afl-server.py)."""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.sip import (
    Address,
    RemoteProtocolError,
    Request,
    Response,
    SipUri,
    StreamFramer,
    Via,
    parse_message,
)

TOKEN = string.ascii_letters + string.digits + "-.!%*_+`'~"
tokens = st.text(TOKEN, min_size=1, max_size=12)
labels = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=10)
hostnames = st.lists(labels, min_size=1, max_size=4).map(".".join)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ipv6 = st.sampled_from(["::1", "2001:db8::1", "fe80::1:2:3", "2001:db8:0:0:1:0:0:1"])
hosts = st.one_of(hostnames, ipv4, ipv6)
ports = st.one_of(st.none(), st.integers(1, 65535))
users = st.text(string.ascii_letters + string.digits + "-_.!~*'()&=+$,;?/", min_size=1, max_size=12)
uri_params = st.lists(st.tuples(st.text(string.ascii_lowercase, min_size=1, max_size=8),
                                st.one_of(st.none(), tokens)), max_size=3).map(tuple)
sip_uris = st.builds(
    SipUri, host=hosts, user=st.one_of(st.none(), users), port=ports, params=uri_params,
    scheme=st.sampled_from(["sip", "sips"]),
)
display_names = st.one_of(st.none(), st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), max_size=20))
header_params = st.lists(st.tuples(st.text(string.ascii_lowercase, min_size=1, max_size=8),
                                   st.one_of(st.none(), tokens)), max_size=3).map(tuple)
addresses = st.builds(Address, uri=sip_uris, display_name=display_names, params=header_params)
vias = st.builds(
    Via, transport=st.sampled_from(["UDP", "TCP", "TLS", "WSS", "SCTP"]), host=hosts, port=ports,
    params=st.tuples(tokens.map(lambda b: ("branch", "z9hG4bK" + b))),
)
bodies = st.binary(max_size=300)


@st.composite
def requests(draw):
    method = draw(tokens)
    headers = [("Via", v) for v in draw(st.lists(vias, min_size=1, max_size=3))]
    headers += [
        ("From", draw(addresses)),
        ("To", draw(addresses)),
        ("Call-ID", draw(tokens) + "@" + draw(hostnames)),
        ("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}"),
        ("Max-Forwards", draw(st.integers(0, 255))),
    ]
    headers += [("Contact", a) for a in draw(st.lists(addresses, max_size=2))]
    headers += [(draw(tokens.map(lambda t: "X-" + t)), draw(st.text(string.printable.strip(), max_size=30)))
                for _ in range(draw(st.integers(0, 2)))]
    return Request(method, draw(sip_uris), headers, draw(bodies))


@st.composite
def responses(draw):
    request = draw(requests())
    response = Response(draw(st.integers(100, 699)), draw(st.text(string.ascii_letters + " ", max_size=20)),
                        body=draw(bodies))
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        for value in request.headers.get_all(name):
            response.headers.add(name, value)
    return response


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(requests(), responses()))
def test_round_trip_is_stable(message):
    data = bytes(message)
    parsed = parse_message(data)
    assert parsed == message
    assert bytes(parsed) == data
    # every typed view parses back to what was built
    assert [str(v) for v in parsed.via] == [str(v) for v in message.via]
    assert parsed.from_ == message.from_ and parsed.to == message.to
    assert parsed.cseq == message.cseq


@settings()
@given(st.one_of(requests(), responses()), st.data())
def test_stream_framing_of_any_split(message, data):
    wire = bytes(message) * 2
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=5)))
    framer = StreamFramer()
    events = []
    last = 0
    for cut in cuts + [len(wire)]:
        events += framer.events(wire[last:cut])
        last = cut
    assert events == [message, message]


def _only_remote_errors(data: bytes) -> None:
    try:
        message = parse_message(data)
    except RemoteProtocolError:
        return
    # whatever parsed must serialise and re-parse
    bytes(message)
    message.via, message.from_, message.to, message.cseq, message.contacts  # noqa: B018


@settings()
@given(st.binary(max_size=400))
def test_garbage_raises_only_remote_protocol_error(data):
    _only_remote_errors(data)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.data())
def test_mutated_messages_raise_only_remote_protocol_error(message, data):
    wire = bytearray(bytes(message))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(0, len(wire) - 1))
        if op == "flip":
            wire[pos] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del wire[pos : pos + data.draw(st.integers(1, 20))]
        else:
            wire[pos:pos] = data.draw(st.sampled_from(
                [b"\r\n", b" ", b";", b",", b"<", b'"', b"\\", b":", b"\x00", b"\xff", b"%"]))
        if not wire:
            break
    _only_remote_errors(bytes(wire))
    framer = StreamFramer()
    try:
        framer.events(bytes(wire))
    except RemoteProtocolError:
        pass
