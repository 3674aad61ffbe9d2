"""The load engine's REGISTER fast path: the bytes it writes, its light client
transaction (RFC 3261 §17.1.2) on a Clock, and the answers it takes or leaves."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from testbed.load import QuietTrace
from testbed.load._fast_client import FastRegister, register_bytes
from testbed.sip import Request, Response, Timers, Transport, make_response, parse_message
from testbed.transport import SipStack, TransactionFailed, UdpEndpoint


class NoUser:
    def request_received(self, context): ...
    def ack_received(self, ack, flow): ...
    def stray_response(self, response, flow): ...
    def flow_closed(self, flow, reason): ...


class Wire:
    """The one method of a UDP transport the endpoint writes with."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def write(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append(data)


class Waiter:
    """Records how each request ended (what the load engine's DriveNow hears)."""

    def __init__(self) -> None:
        self.got: list[Response] = []
        self.failures: list[TransactionFailed] = []

    def answered(self, response: Response) -> None:
        self.got.append(response)

    def failed(self, failure: TransactionFailed) -> None:
        self.failures.append(failure)


def setup(timers: Timers | None = None):
    clock = Clock()
    trace = QuietTrace(clock.seconds, "load")
    stack = SipStack(clock, NoUser(), timers=timers or Timers(), trace=trace)  # type: ignore[arg-type]
    stack.udp = UdpEndpoint(stack, trace)
    stack.udp.local = ("127.0.0.1", 5070)
    wire = Wire()
    stack.udp.transport = wire  # type: ignore[assignment]  # a recording fake
    flow = stack.udp_flow("127.0.0.9", 5060)
    return clock, stack, FastRegister(clock, stack, trace), flow, wire, trace


HEADERS = [("Contact", "<sip:alice@127.0.0.1:5070>"), ("Expires", "3600"),
           ("Authorization", 'Digest username="alice", realm="x", nonce="n", uri="sip:x", '
                             'response="0123"')]


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_register_bytes_are_what_request_to_bytes_writes(transport):
    _, stack, _, flow, _, _ = setup()
    flow.transport = Transport(transport)  # the same text for either transport's flow
    data = register_bytes("sip:example.com", flow, "z9hG4bKabc", "<sip:alice@example.com>;tag=1",
                          "<sip:alice@example.com>", "c1@load", 7, "ua/1", HEADERS)
    request = Request("REGISTER", "sip:example.com", [
        ("Via", f"SIP/2.0/{transport} 127.0.0.1:5070;branch=z9hG4bKabc;rport"),
        ("Max-Forwards", "70"), ("From", "<sip:alice@example.com>;tag=1"),
        ("To", "<sip:alice@example.com>"), ("Call-ID", "c1@load"), ("CSeq", "7 REGISTER"),
        ("User-Agent", "ua/1"), *HEADERS])
    assert data == request.to_bytes()


def request(branch: str = "z9hG4bKabc") -> bytes:
    return register_bytes("sip:example.com", setup()[3], branch, "<sip:a@example.com>;tag=1",
                          "<sip:a@example.com>", "c1@load", 1, "ua/1", HEADERS[:2])


def answer(data: bytes, status: int, *, vias: int = 1) -> bytes:
    message = parse_message(data)
    assert isinstance(message, Request)
    response = make_response(message, status, to_tag="t1", headers=[("Contact", HEADERS[0][1])])
    if vias > 1:  # a response the scanner leaves to the full parser
        response.headers.add("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKother")
    return response.to_bytes()


def test_udp_retransmits_at_t1_doubling_to_t2_then_timer_f_fails_it():
    timers = Timers.scaled(0.5)
    clock, _, fast, flow, wire, trace = setup(timers)
    waiter = Waiter()
    failures = waiter.failures
    fast.send(flow, request(), "z9hG4bKabc", waiter)
    times = []
    while not failures and clock.seconds() < 100:
        before = len(wire.sent)
        clock.advance(0.25)
        if len(wire.sent) > before:
            times.append(clock.seconds())
    assert times[:4] == [0.5, 1.5, 3.5, 7.5]  # T1, 2T1, 4T1, then every T2 = 4 s
    assert all(b - a == 4.0 for a, b in zip(times[3:], times[4:], strict=False))
    assert failures[0].kind == "timeout" and failures[0].timer == "F"
    assert clock.seconds() == timers.timer_f
    assert trace.counts["timeout"] == 1


@pytest.mark.parametrize("vias", [1, 2])
def test_a_final_answer_ends_it_and_its_retransmissions_are_absorbed(vias):
    clock, stack, fast, flow, wire, trace = setup()
    waiter = Waiter()
    got = waiter.got
    data = request()
    fast.send(flow, data, "z9hG4bKabc", waiter)
    assert stack.fast_path_taken(answer(data, 100), flow)  # proceeding: still waiting
    assert not got
    final = answer(data, 200, vias=vias)
    assert stack.fast_path_taken(final, flow)
    assert got == [parse_message(final)]
    assert stack.fast_path_taken(final, flow)  # Timer K absorbs the retransmission
    clock.advance(stack.timers.timer_k + 0.1)
    assert not stack.fast_path_taken(final, flow)  # then it is a stray, for the stack
    clock.advance(10)
    assert len(wire.sent) == 1  # nothing retransmitted after the answer
    assert (trace.counts["sent"], trace.counts["received"]) == (1, 3)


def test_answers_to_others_are_left_to_the_stack():
    _, stack, fast, flow, _, _ = setup()
    fast.send(flow, request(), "z9hG4bKabc", Waiter())
    assert not stack.fast_path_taken(answer(request("z9hG4bKzzz"), 200), flow)
    assert not stack.fast_path_taken(b"SIP/2.0 200 OK\r\n\r\n", flow)


def test_a_lost_flow_or_an_icmp_error_fails_it_at_once():
    _, stack, fast, flow, _, _ = setup()
    waiter = Waiter()
    failures = waiter.failures
    fast.send(flow, request(), "z9hG4bKabc", waiter)
    fast.send(flow, request("z9hG4bKdef"), "z9hG4bKdef", waiter)
    stack.flow_unreachable(flow, "refused", "ICMP port unreachable")
    fast.flow_closed(flow, "reset")
    assert [(f.kind, f.reason) for f in failures] == [("refused", "ICMP port unreachable")] * 2


def test_transactions_share_one_timer_yet_each_keeps_its_own_times():
    """Three requests sent at different times, one answered: the other two retransmit
    at their own T1, 2T1, ... (one reactor timer serves them all), the answered one
    never does, and nothing is left armed once every one has ended."""
    timers = Timers.scaled(0.5)
    clock, stack, fast, flow, wire, _ = setup(timers)
    sent_at: dict[bytes, list[float]] = {}
    waiter = Waiter()
    failures = waiter.failures
    datas = [request(f"z9hG4bK{n}") for n in "abc"]
    for n, data in enumerate(datas):
        fast.send(flow, data, f"z9hG4bK{'abc'[n]}", waiter)
        clock.advance(0.125)
    assert stack.fast_path_taken(answer(datas[1], 200), flow)
    while len(failures) < 2 and clock.seconds() < 100:
        before = len(wire.sent)
        clock.advance(0.125)
        for data in wire.sent[before:]:
            sent_at.setdefault(data, []).append(clock.seconds())
    assert sent_at[datas[0]][:3] == [0.5, 1.5, 3.5]
    assert sent_at[datas[2]][:3] == [0.75, 1.75, 3.75]
    assert datas[1] not in sent_at
    assert [f.timer for f in failures] == ["F", "F"]
    assert clock.getDelayedCalls() == [] or all(not c.active() for c in clock.getDelayedCalls())


def test_timer_f_alone_over_tcp_on_the_shared_timer():
    timers = Timers.scaled(0.5)
    clock, _, fast, flow, wire, _ = setup(timers)
    flow.transport = Transport.TCP  # reliable: no retransmission, Timer F only (§17.1.2.2)
    waiter = Waiter()
    failures = waiter.failures
    fast.send(flow, request(), "z9hG4bKabc", waiter)
    clock.advance(timers.timer_f - 0.001)
    assert not failures and len(wire.sent) == 1
    clock.advance(0.001)
    assert [f.timer for f in failures] == ["F"]


def test_answered_transactions_leave_no_pile_of_timer_entries():
    """Timer F (64*T1) entries of answered TCP requests are dropped well before they
    come due, and the live one still fires on time."""
    timers = Timers.scaled(0.5)
    clock, stack, fast, flow, _, _ = setup(timers)
    flow.transport = Transport.TCP
    waiter = Waiter()
    failures = waiter.failures
    fast.send(flow, request("z9hG4bKlive"), "z9hG4bKlive", waiter)
    for n in range(5000):
        data = request(f"z9hG4bK{n}")
        fast.send(flow, data, f"z9hG4bK{n}", Waiter())
        assert stack.fast_path_taken(answer(data, 200), flow)
    assert len(fast._timers) <= 2 * len(fast._pending) + 1025
    clock.advance(timers.timer_f)
    assert [f.timer for f in failures] == ["F"]
