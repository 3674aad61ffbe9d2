"""The socket-level capture: dedupe of what both ends see, the recording wrapper, and
zero cost without a capture. No reactor: a counter clock and Twisted's StringTransport."""

import pytest
from twisted.internet import error, protocol
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from testbed.transport import Capture, CapturedSegment, SipStack

CLIENT, SERVER, PROXY = ("127.0.0.1", 40000), ("127.0.0.7", 5060), ("127.0.0.9", 5060)


class Ticks:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


def capture():
    return Capture(Ticks())


def summary(cap):
    return [(s.transport, s.src, s.dst, s.data, s.flags) for s in cap]


# -- UDP ---------------------------------------------------------------------------------


def test_a_datagram_seen_by_both_ends_is_kept_once():
    cap = capture()
    cap.datagram(CLIENT, SERVER, b"REGISTER", sent=True)
    cap.datagram(CLIENT, SERVER, b"REGISTER", sent=False)
    cap.datagram(SERVER, CLIENT, b"401", sent=True)
    cap.datagram(SERVER, CLIENT, b"401", sent=False)
    assert summary(cap) == [("UDP", CLIENT, SERVER, b"REGISTER", ""),
                            ("UDP", SERVER, CLIENT, b"401", "")]
    assert [s.time for s in cap] == [1.0, 2.0]


def test_retransmissions_are_separate_packets_each_matched_once():
    cap = capture()
    for _ in range(3):
        cap.datagram(CLIENT, SERVER, b"REGISTER", sent=True)
    for _ in range(2):  # one copy was lost
        cap.datagram(CLIENT, SERVER, b"REGISTER", sent=False)
    assert len(cap) == 3
    for _ in range(2):  # the lost one was not, and another nobody recorded sending came
        cap.datagram(CLIENT, SERVER, b"REGISTER", sent=False)
    assert len(cap) == 4


def test_a_datagram_from_an_unattached_sender_is_recorded_on_receipt():
    cap = capture()
    cap.datagram(("127.0.0.1", 53000), ("127.0.0.53", 53), b"query", sent=False)
    cap.datagram(("127.0.0.53", 53), ("127.0.0.1", 53000), b"answer", sent=True)
    assert [s.data for s in cap] == [b"query", b"answer"]


def test_both_legs_through_a_proxy_appear():
    cap = capture()
    cap.datagram(CLIENT, PROXY, b"INVITE", sent=True)
    cap.datagram(CLIENT, PROXY, b"INVITE", sent=False)
    cap.datagram(PROXY, SERVER, b"INVITE", sent=True)
    cap.datagram(PROXY, SERVER, b"INVITE", sent=False)
    assert [(s.src, s.dst) for s in cap] == [(CLIENT, PROXY), (PROXY, SERVER)]


# -- TCP ---------------------------------------------------------------------------------


def test_a_stream_seen_by_both_ends_is_recorded_once_whatever_the_chunking():
    cap = capture()
    cap.stream_opened(CLIENT, SERVER, client=True)
    cap.stream_opened(SERVER, CLIENT, client=False)
    cap.stream_data(CLIENT, SERVER, 0, b"0123456789")  # the client's write
    cap.stream_data(CLIENT, SERVER, 0, b"0123")  # the server reads it in two chunks
    cap.stream_data(CLIENT, SERVER, 4, b"456789")
    cap.stream_data(CLIENT, SERVER, 4, b"456789AB")  # overlapping: only AB is new
    cap.stream_data(SERVER, CLIENT, 0, b"reply")
    cap.stream_closed(CLIENT, SERVER, clean=True)
    cap.stream_closed(SERVER, CLIENT, clean=True)
    assert summary(cap) == [
        ("TCP", CLIENT, SERVER, b"", "SYN"),
        ("TCP", CLIENT, SERVER, b"0123456789", ""),
        ("TCP", CLIENT, SERVER, b"AB", ""),
        ("TCP", SERVER, CLIENT, b"reply", ""),
        ("TCP", CLIENT, SERVER, b"", "FIN"),
    ]


def test_the_server_may_see_the_connection_first_the_client_is_still_the_source_of_syn():
    cap = capture()
    cap.stream_opened(SERVER, CLIENT, client=False)
    cap.stream_opened(CLIENT, SERVER, client=True)
    assert summary(cap) == [("TCP", CLIENT, SERVER, b"", "SYN")]


def test_an_unclean_end_is_a_reset_and_the_four_tuple_can_be_used_again():
    cap = capture()
    cap.stream_opened(CLIENT, SERVER, client=True)
    cap.stream_data(CLIENT, SERVER, 0, b"abc")
    cap.stream_closed(CLIENT, SERVER, clean=False)
    cap.stream_opened(CLIENT, SERVER, client=True)
    cap.stream_data(CLIENT, SERVER, 0, b"abc")  # offset 0 of a new connection: new bytes
    assert [s.flags or s.data for s in cap] == ["SYN", b"abc", "RST", "SYN", b"abc"]


@pytest.mark.parametrize("reason, flags", [
    (error.ConnectionRefusedError(), ["REFUSED"]),
    (error.TimeoutError(), ["UNANSWERED"]),
    (error.NoRouteError(), []),
])
def test_failed_connection_attempts(reason, flags):
    cap = capture()
    cap.connect_failed(SERVER, Failure(reason))
    assert [s.flags for s in cap] == flags
    assert all(s.src == ("127.0.0.1", 0) and s.dst == SERVER for s in cap)


def test_segment_values_are_checked():
    with pytest.raises(ValueError, match="UDP or TCP"):
        CapturedSegment(0.0, "TLS", CLIENT, SERVER)
    with pytest.raises(ValueError, match="flags"):
        CapturedSegment(0.0, "TCP", CLIENT, SERVER, flags="PSH")


# -- the recording wrapper -----------------------------------------------------------------


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(b"echo:" + data)


class Recorder(protocol.Protocol):
    def __init__(self):
        self.received = []
        self.lost = None

    def dataReceived(self, data):
        self.received.append(data)

    def connectionLost(self, reason):
        self.lost = reason


def connected(cap, role, inner_factory, local=SERVER, peer=CLIENT):
    factory = cap.wrap_factory(inner_factory, role)
    proto = factory.buildProtocol(IPv4Address("TCP", *peer))
    transport = StringTransport(IPv4Address("TCP", *local), IPv4Address("TCP", *peer))
    proto.makeConnection(transport)
    return proto, transport


def test_the_wrapper_records_what_crosses_the_socket_and_passes_it_on():
    cap = capture()
    proto, transport = connected(cap, "server", protocol.Factory.forProtocol(Echo))
    proto.dataReceived(b"ping")
    proto.writeSequence([b"a", b"b"])
    proto.connectionLost(Failure(error.ConnectionDone()))
    assert transport.value() == b"echo:pingab"
    assert summary(cap) == [
        ("TCP", CLIENT, SERVER, b"", "SYN"),
        ("TCP", CLIENT, SERVER, b"ping", ""),
        ("TCP", SERVER, CLIENT, b"echo:ping", ""),
        ("TCP", SERVER, CLIENT, b"ab", ""),
        ("TCP", SERVER, CLIENT, b"", "FIN"),
    ]


def test_the_wrapped_protocol_sees_everything_and_the_client_role_connects():
    cap = capture()
    inner = Recorder()
    factory = protocol.Factory.forProtocol(lambda: inner)
    proto, _ = connected(cap, "client", factory, local=CLIENT, peer=SERVER)
    proto.dataReceived(b"x")
    proto.connectionLost(Failure(error.ConnectionLost()))
    assert inner.received == [b"x"] and inner.lost.check(error.ConnectionLost)
    assert [(s.src, s.flags) for s in cap] == [(CLIENT, "SYN"), (SERVER, ""), (CLIENT, "RST")]


def test_a_refused_client_connection_is_recorded_and_passed_on():
    class Failing(protocol.ClientFactory):
        reason = None

        def clientConnectionFailed(self, connector, reason):
            self.reason = reason

    class Connector:
        def getDestination(self):
            return IPv4Address("TCP", *SERVER)

    cap, inner = capture(), Failing()
    factory = cap.wrap_factory(inner, "client")
    factory.clientConnectionFailed(Connector(), Failure(error.ConnectionRefusedError()))
    assert inner.reason.check(error.ConnectionRefusedError)
    assert [s.flags for s in cap] == ["REFUSED"]


def test_wrap_factory_wants_a_role():
    with pytest.raises(ValueError, match="role"):
        capture().wrap_factory(protocol.Factory(), "peer")


# -- the stack -------------------------------------------------------------------------------


class NoUser:
    pass


class FakeReactor:
    def seconds(self):
        return 0.0


def test_a_stack_without_capture_wraps_nothing():
    stack = SipStack(FakeReactor(), NoUser())
    factory = protocol.Factory()
    assert stack.capture is None and stack.captured(factory, "server") is factory


def test_a_stack_capture_reaches_its_udp_socket_when_set_late():
    from testbed.transport import UdpEndpoint

    stack = SipStack(FakeReactor(), NoUser())
    stack.udp = UdpEndpoint(stack, stack.trace)
    cap = capture()
    stack.capture = cap
    assert stack.udp.capture is cap
    assert stack.captured(protocol.Factory(), "client").capture is cap
