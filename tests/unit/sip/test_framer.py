"""Stream framing (RFC 3261 §18.3) and CRLF keep-alives (RFC 5626 §3.5.1)."""

import pytest

from testbed.sip import (
    BadMessage,
    KeepAlivePing,
    KeepAlivePong,
    RemoteProtocolError,
    Request,
    Response,
    StreamFramer,
)

REGISTER = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP 127.0.0.1:5555;branch=z9hG4bK1\r\n"
    b"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\n"
    b"Call-ID: reg1\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
    b"Content-Length: 5\r\n\r\nhello"
)
OK = (
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5555;branch=z9hG4bK1\r\n"
    b"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>;tag=2\r\n"
    b"Call-ID: reg1\r\nCSeq: 1 REGISTER\r\nl: 0\r\n\r\n"
)


def feed_whole(framer, data):
    return framer.events(data)


def feed_bytewise(framer, data):
    out = []
    for i in range(len(data)):
        out += framer.events(data[i : i + 1])
    return out


def feed_in_two(framer, data):
    half = len(data) // 2
    return framer.events(data[:half]) + framer.events(data[half:])


FEEDERS = [feed_whole, feed_bytewise, feed_in_two]


def kinds(events):
    return [type(e).__name__ for e in events]


@pytest.mark.parametrize("feed", FEEDERS)
def test_messages_and_pings_in_one_stream(feed):
    framer = StreamFramer()
    events = feed(framer, REGISTER + b"\r\n\r\n" + OK + REGISTER)
    assert kinds(events) == ["Request", "KeepAlivePing", "Response", "Request"]
    assert events[0].body == b"hello"
    assert events[2].status == 200
    assert framer.buffered == 0


@pytest.mark.parametrize("feed", FEEDERS)
def test_trailing_partial_message_waits(feed):
    framer = StreamFramer()
    events = feed(framer, REGISTER + REGISTER[:-3])
    assert kinds(events) == ["Request"]
    assert framer.buffered == len(REGISTER) - 3
    assert kinds(framer.events(REGISTER[-3:])) == ["Request"]


def test_ping_answer_and_client_pong():
    framer = StreamFramer()
    (ping,) = framer.events(b"\r\n\r\n")
    assert isinstance(ping, KeepAlivePing) and ping.response == b"\r\n"
    client = StreamFramer(role="client")
    assert kinds(client.events(b"\r\n")) == ["KeepAlivePong"]
    assert isinstance(client.events(b"\r\n" + OK)[0], KeepAlivePong)


def test_server_waits_on_half_ping_and_ignores_stray_crlf():
    framer = StreamFramer()
    assert framer.events(b"\r\n") == []
    assert kinds(framer.events(b"\r\n")) == ["KeepAlivePing"]
    assert kinds(framer.events(b"\r\n" + REGISTER)) == ["Request"]


def test_bad_message_is_reported_and_stream_continues():
    broken = REGISTER.replace(b"CSeq: 1 REGISTER", b"CSeq: 1 INVITE")
    framer = StreamFramer()
    events = framer.events(broken + OK)
    assert isinstance(events[0], BadMessage)
    assert "does not match" in events[0].error.reason
    assert events[0].raw == broken
    assert isinstance(events[1], Response)


@pytest.mark.parametrize(
    "data, reason, status",
    [
        (REGISTER.replace(b"Content-Length: 5\r\n", b""), "Missing Content-Length", 400),
        (REGISTER.replace(b"Content-Length: 5", b"Content-Length: -5"), "Invalid Content-Length", 400),
        (REGISTER.replace(b"Content-Length: 5", b"Content-Length: 5\r\nl: 5"), "Invalid Content-Length", 400),
        (REGISTER.replace(b"Content-Length: 5", b"Content-Length: 999999"), "exceeds limit", 513),
        (b"X" * 70000, "headers too large", 513),
    ],
)
def test_framing_errors_are_fatal(data, reason, status):
    framer = StreamFramer()
    with pytest.raises(RemoteProtocolError, match=reason) as info:
        framer.events(data)
    assert info.value.status_hint == status
    with pytest.raises(RemoteProtocolError):
        framer.next_event()  # the stream cannot be resynchronised


def test_custom_limit():
    framer = StreamFramer(max_message_size=100)
    with pytest.raises(RemoteProtocolError, match="exceeds limit 100"):
        framer.events(REGISTER)
    with pytest.raises(ValueError):
        StreamFramer(role="proxy")


def test_parsed_types():
    framer = StreamFramer()
    request, response = framer.events(REGISTER + OK)
    assert isinstance(request, Request) and isinstance(response, Response)
    assert isinstance(StreamFramer(role="client").events(b"\r\n")[0], KeepAlivePong)


@pytest.mark.parametrize("prefix", [b"\n", b"\r\n", b"\n\n"])
def test_stray_line_ends_before_a_message(prefix):
    assert kinds(StreamFramer().events(prefix + REGISTER)) == ["Request"]


def test_garbage_is_a_bad_message_not_a_hang():
    framer = StreamFramer()
    events = framer.events(b"\rHELLO\r\nContent-Length: 0\r\n\r\n" + OK)
    assert kinds(events) == ["BadMessage", "Response"]


@pytest.mark.parametrize("line", [b"content-length: 5", b"CONTENT-LENGTH:5", b"l: 5",
                                  b"L :\t5", b"Content-Length  :  5"])
def test_content_length_in_any_case_and_compact_form(line):
    data = REGISTER.replace(b"Content-Length: 5", line)
    (request,) = StreamFramer().events(data)
    assert isinstance(request, Request) and request.body == b"hello"


def test_content_length_is_a_whole_header_name():
    # "Call-Info" starts with neither name; "Xl: 9" and "Accept-Content-Length" end like one
    data = REGISTER.replace(b"Max-Forwards: 70", b"Xl: 9\r\nAccept-Content-Length: 9")
    (request,) = StreamFramer().events(data)
    assert request.body == b"hello"


def test_content_length_on_the_first_line_frames_a_bad_message():
    # No start line: the head's first line is a Content-Length (found there too, as
    # before the search began at line ends), so the framer keeps its place in the stream.
    events = StreamFramer().events(b"l: 2\r\n\r\nhi" + OK)
    assert kinds(events) == ["BadMessage", "Response"]
    with pytest.raises(RemoteProtocolError, match="Invalid Content-Length"):
        StreamFramer().events(b"Content-Length: 2\r\nl: 2\r\n\r\nhi")
