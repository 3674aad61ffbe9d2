"""Traces and captures are rings: the last N kept, the rest counted and handed to whoever
listens. A counter clock; no reactor."""

import pytest
from twisted.internet import error, protocol
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from testbed.transport import CAPTURE_LIMIT, TRACE_LIMIT, Capture, Trace

CLIENT, SERVER = ("127.0.0.1", 40000), ("127.0.0.7", 5060)


class Ticks:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


# -- traces ------------------------------------------------------------------------------


def test_a_trace_of_100000_events_keeps_the_last_n_and_counts_the_others():
    trace = Trace(Ticks(), "registrar", limit=1000)
    seen = []
    trace.listeners.append(seen.append)
    for n in range(100_000):
        trace.record("received", "UDP", summary=f"OPTIONS {n}")
    assert len(trace.events) == 1000 and trace.dropped == 99_000
    assert [e.summary for e in (trace.events[0], trace.events[-1])] == [
        "OPTIONS 99000", "OPTIONS 99999"]
    assert len(seen) == 100_000  # a listener sees every one, kept or not


def test_children_share_the_ring_and_its_count():
    trace = Trace(Ticks(), limit=3)
    client, server = trace.child("client"), trace.child("registrar")
    for n in range(4):
        (client if n % 2 else server).record("sent", "UDP", summary=str(n))
    assert [(e.owner, e.summary) for e in trace.events] == [
        ("client", "1"), ("registrar", "2"), ("client", "3")]
    assert trace.dropped == client.dropped == server.dropped == 1
    assert client.events is trace.events and client.limit == 3


def test_by_default_a_trace_keeps_all_of_a_scenario_and_none_means_unbounded():
    assert Trace(Ticks()).limit == TRACE_LIMIT >= 10_000
    unbounded = Trace(Ticks(), limit=None)
    for _ in range(5):
        unbounded.record("note", "UDP")
    assert len(unbounded.events) == 5 and unbounded.dropped == 0
    with pytest.raises(ValueError, match="non-negative"):
        Trace(Ticks(), limit=-1)


def test_waiting_sees_kept_events_and_future_ones():
    trace = Trace(Ticks(), limit=2)
    for name in ("OPTIONS", "REGISTER", "INVITE"):
        trace.record("received", "UDP", summary=f"{name} sip:x")
    assert trace.received("INVITE").called
    assert not trace.received("OPTIONS").called  # it left the ring
    waiting = trace.received("BYE")
    trace.record("received", "UDP", summary="BYE sip:x")
    assert waiting.called


# -- captures ----------------------------------------------------------------------------


def test_a_capture_keeps_the_last_n_segments_and_a_subscriber_gets_them_all():
    capture = Capture(Ticks(), limit=10)
    streamed = []
    capture.subscribe(streamed.append)
    for n in range(10_000):
        capture.datagram(CLIENT, SERVER, b"OPTIONS %d" % n, sent=True)
    assert len(capture) == 10 and capture.dropped == 9_990
    assert capture.segments[0].data == b"OPTIONS 9990"
    assert [s.data for s in streamed] == [b"OPTIONS %d" % n for n in range(10_000)]
    capture.unsubscribe(streamed.append)
    capture.datagram(SERVER, CLIENT, b"200", sent=True)
    assert len(streamed) == 10_000


def test_a_capture_with_limit_zero_keeps_nothing_but_hands_everything_on():
    capture = Capture(Ticks(), limit=0)
    streamed = []
    capture.subscribe(streamed.append)
    capture.stream_opened(CLIENT, SERVER, client=True)
    capture.stream_data(CLIENT, SERVER, 0, b"REGISTER")
    capture.stream_closed(CLIENT, SERVER, clean=True)
    assert list(capture) == [] and capture.dropped == 3
    assert [(s.flags, s.data) for s in streamed] == [("SYN", b""), ("", b"REGISTER"),
                                                     ("FIN", b"")]
    assert capture._connections == {}  # a closed connection leaves no bookkeeping


def test_the_default_limit_holds_a_whole_scenario():
    assert Capture(Ticks()).limit == CAPTURE_LIMIT >= 10_000


def test_nothing_written_after_the_connection_is_lost_is_recorded():
    """TLS may try to send close_notify once the socket is gone: recording it would
    reopen the connection in the capture (a packet after the FIN, an entry never freed)."""
    capture = Capture(Ticks())
    stack_factory = protocol.Factory.forProtocol(protocol.Protocol)
    factory = capture.wrap_factory(stack_factory, "server")
    wrapper = factory.buildProtocol(IPv4Address("TCP", *CLIENT))
    wrapper.makeConnection(StringTransport(hostAddress=IPv4Address("TCP", *SERVER),
                                           peerAddress=IPv4Address("TCP", *CLIENT)))
    wrapper.write(b"200 OK")
    wrapper.connectionLost(Failure(error.ConnectionDone()))
    wrapper.write(b"close_notify")
    assert [(s.flags, s.data) for s in capture] == [("SYN", b""), ("", b"200 OK"),
                                                    ("FIN", b"")]
    assert capture._connections == {}
