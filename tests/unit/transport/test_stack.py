"""The stack's client transactions on a clock: what goes out, when, and what the caller
hears of it. No sockets: ``task.Clock`` and flows that keep what they are given."""

from __future__ import annotations

import random

import pytest
from twisted.internet import task

from testbed.sip import Address, Request, SipUri, Transport, Via, make_response, new_branch
from testbed.transport import Flow, SipStack, Trace, TransactionFailed

LOCAL, REMOTE = ("192.0.2.10", 5060), ("192.0.2.20", 5060)


class VoidFlow(Flow):
    """A flow whose every datagram or segment is lost on the way (a firewall's drop)."""

    def __init__(self, trace: Trace, transport: Transport) -> None:
        super().__init__(trace, LOCAL, REMOTE)
        self.transport = transport
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True


class NoUser:
    def request_received(self, context): ...

    def ack_received(self, ack, flow): ...

    def stray_response(self, response, flow): ...

    def flow_closed(self, flow, reason): ...


def request(method: str, transport: Transport) -> Request:
    rng = random.Random(3261)
    via = Via(transport, LOCAL[0], LOCAL[1], (("branch", new_branch(rng)), ("rport", None)))
    return Request(method, SipUri(host=REMOTE[0]), [
        ("Via", via), ("Max-Forwards", 70),
        ("From", Address(SipUri(host="example.com", user="alice")).with_param("tag", "a1")),
        ("To", Address(SipUri(host="example.com", user="bob"))),
        ("Call-ID", "transmissions@example.com"), ("CSeq", f"1 {method}"),
        ("Content-Length", 0),
    ])


def start(method: str, transport: Transport = Transport.UDP):
    clock = task.Clock()
    stack = SipStack(clock, NoUser())
    flow = VoidFlow(stack.trace, transport)
    sent: list[tuple[float, bool]] = []
    outcome: list[object] = []
    message = request(method, transport)
    result = stack.send_request(message, flow,
                                on_transmit=lambda again: sent.append((clock.seconds(), again)))
    result.addBoth(outcome.append)
    return clock, stack, flow, message, sent, outcome


# RFC 3261 §17.1.2.2: Timer E starts at T1 (0.5 s) and doubles up to T2 (4 s); Timer F
# ends the transaction at 64*T1. §17.1.1.2: Timer A doubles without a cap; Timer B at 64*T1.
NON_INVITE_RETRANSMISSIONS = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
INVITE_RETRANSMISSIONS = [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]


@pytest.mark.parametrize("method, retransmissions, timer", [
    ("OPTIONS", NON_INVITE_RETRANSMISSIONS, "F"),
    ("REGISTER", NON_INVITE_RETRANSMISSIONS, "F"),
    ("INVITE", INVITE_RETRANSMISSIONS, "B"),
])
def test_a_dropped_udp_request_is_transmitted_then_retransmitted_on_the_rfc_schedule(
        method, retransmissions, timer):
    clock, stack, flow, _, sent, outcome = start(method)
    for _ in range(70):  # 35 s in steps of T1: past 64*T1, every deadline met exactly
        clock.advance(0.5)
    assert sent == [(0.0, False)] + [(t, True) for t in retransmissions]
    assert len(flow.written) == len(sent)  # each report is a message that went out
    assert len(stack.trace.of_kind("sent")) == len(sent)
    (failure,) = outcome
    assert isinstance(failure.value, TransactionFailed)
    assert (failure.value.kind, failure.value.timer) == ("timeout", timer)
    assert clock.seconds() >= 32.0 and not clock.getDelayedCalls()


@pytest.mark.parametrize("transport", [Transport.TCP, Transport.TLS, Transport.WSS])
def test_a_request_on_a_reliable_flow_goes_out_once(transport):
    # RFC 3261 §17.1.1.2, §17.1.2.2: Timers A and E are not started on a reliable transport.
    clock, _, flow, _, sent, outcome = start("OPTIONS", transport)
    clock.pump([0.5] * 70)
    assert sent == [(0.0, False)] and len(flow.written) == 1
    assert outcome[0].value.timer == "F"


def test_the_ack_for_a_rejected_invite_is_not_a_transmission_of_the_invite():
    clock, stack, flow, invite, sent, outcome = start("INVITE")
    clock.advance(0.5)
    busy = make_response(invite, 486, to_tag="b1")
    stack.message_received(busy, flow)  # §17.1.1.3: the transaction ACKs it itself
    assert outcome[0].status == 486
    assert [data.split(b" ", 1)[0] for data in flow.written] == [b"INVITE", b"INVITE", b"ACK"]
    assert sent == [(0.0, False), (0.5, True)]


def test_a_send_that_fails_is_not_reported_and_fails_the_transaction():
    clock = task.Clock()
    stack = SipStack(clock, NoUser())
    flow = VoidFlow(stack.trace, Transport.TCP)
    flow.closed = True  # send_message refuses: ConnectionError
    sent: list[bool] = []
    outcome: list[object] = []
    stack.send_request(request("OPTIONS", Transport.TCP), flow,
                       on_transmit=sent.append).addBoth(outcome.append)
    assert sent == []
    assert outcome[0].value.kind == "transport"
