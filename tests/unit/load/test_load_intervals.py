"""The load engine's intervals on ``task.Clock``: operations, retransmissions, failures
and unfinished operations counted in the interval where they happened.

The engine and its SIP stack are the real ones; the reactor is a Clock with a recording
fake of the UDP port (``write`` / ``getHost``), and the test answers the datagrams the
engine sends, at the times it chooses. No wall time passes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.python import failure

from testbed.load import LoadConfig, Progress, run_load
from testbed.sip import Request, Timers, make_response, parse_message

PEER = ("192.0.2.9", 5060)
# (REGISTER's From user, CSeq, transmission) -> answer after seconds with status; or drop
Answer = Callable[[str, int, int], tuple[float, int] | None]


class UdpPort:
    """What the stack needs from a listening UDP port; what it writes goes to ``peer``."""

    def __init__(self, protocol, peer: Callable[[bytes], None]) -> None:
        self.protocol, self.peer = protocol, peer
        protocol.makeConnection(self)

    def write(self, data: bytes, address: tuple) -> None:
        assert address == PEER
        self.peer(data)

    def getHost(self) -> IPv4Address:
        return IPv4Address("UDP", "127.0.0.1", 40000)

    def stopListening(self) -> None:
        pass


class ClockWorld(Clock):
    """A Clock that also listens on UDP; ``answer`` scripts the registrar's replies."""

    def __init__(self, answer: Answer) -> None:
        super().__init__()
        self.answer = answer
        self.port: UdpPort | None = None
        self.transmissions: Counter[tuple[str, int]] = Counter()

    def listenUDP(self, port, protocol, interface="", maxPacketSize=8192):  # noqa: N802
        self.port = UdpPort(protocol, self.received)
        return self.port

    def received(self, data: bytes) -> None:
        request = parse_message(data)
        assert isinstance(request, Request)
        user, cseq = request.from_.uri.user, request.cseq.seq
        self.transmissions[user, cseq] += 1
        decision = self.answer(user, cseq, self.transmissions[user, cseq])
        if decision is not None:
            delay, status = decision
            response = make_response(request, status, to_tag="t" if status >= 200 else None)
            self.callLater(delay, self.port.protocol.datagramReceived, response.to_bytes(),
                           PEER)


def run(world: ClockWorld, seconds: float, **config) -> tuple:
    config = LoadConfig(registrar="sip:192.0.2.9:5060", transport="udp",
                        timers=Timers(t1=0.5), stats_interval=1.0, **config)
    snapshots: list[Progress] = []
    d = defer.ensureDeferred(run_load(world, config, progress=snapshots.append,
                                      progress_interval=1.0))
    outcome: list = []
    d.addBoth(outcome.append)
    while not outcome and world.seconds() < seconds:  # from one timer to the next, exactly
        world.advance(min(c.getTime() for c in world.getDelayedCalls()) - world.seconds())
    assert outcome, "the run ended"
    if isinstance(outcome[0], failure.Failure):
        outcome[0].raiseException()
    return outcome[0], snapshots


def test_each_figure_is_counted_in_the_interval_where_it_happened():
    def answer(user: str, cseq: int, transmission: int) -> tuple[float, int] | None:
        if user == "alice0":  # 0.3 s: ok; 2.5 s: 403 (Timer E at 0.8 and 1.8 s before)
            return (0.3, 200) if cseq == 1 else (2.2, 403) if transmission == 1 else None
        if cseq == 1 and transmission == 1:
            return None                                       # lost: Timer E at 0.5 s
        return (0.7, 200) if cseq == 1 else (0.2, 200)        # 1.2 s: ok; 1.4 s: ok

    result, snapshots = run(ClockWorld(answer), 5, endpoints=2, count=4)

    assert result.check() == []
    rows = [(i.index, i.start, round(i.duration, 9), i.attempted, i.succeeded, i.failed,
             i.retransmissions, i.in_flight) for i in result.intervals]
    assert rows == [(0, 0.0, 1.0, 3, 1, 0, 2, 2),
                    (1, 1.0, 1.0, 1, 2, 0, 1, 1),
                    (2, 2.0, 0.5, 0, 0, 1, 0, 0)]
    assert [dict(i.statuses) for i in result.intervals] == [{200: 1}, {200: 2}, {403: 1}]
    assert result.intervals[2].errors == Counter({"rejected": 1})
    assert result.intervals[1].latencies["UDP"].count == 2
    assert (result.retransmissions, result.statuses, result.errors) == (
        3, Counter({200: 3, 403: 1}), Counter({"rejected": 1}))
    assert result.latencies["UDP"].min == pytest.approx(0.2)
    assert result.latencies["UDP"].max == pytest.approx(1.2)
    cumulative = result.cumulative()
    assert [(c.attempted, c.succeeded, c.failed) for c in cumulative] == [
        (3, 1, 0), (4, 3, 0), (4, 3, 1)]
    # the live snapshots: cumulative, with the latencies and retransmissions so far
    assert [(s.elapsed, s.attempted, s.succeeded, s.retransmissions) for s in snapshots] == [
        (1.0, 3, 1, 2), (2.0, 4, 3, 3), (2.5, 4, 3, 3)]
    assert snapshots[1].latency is not None and snapshots[1].latency.count == 3
    assert snapshots[-1].done


def test_retransmissions_over_time_and_unfinished_at_the_end():
    result, _ = run(ClockWorld(lambda user, cseq, n: None), 5, endpoints=1, count=1,
                    drain=3.8)

    assert result.check() == []
    # Timer E: 0.5 s, then 1 s and 2 s later (RFC 3261 §17.1.2.2)
    assert [i.retransmissions for i in result.intervals] == [1, 1, 0, 1]
    assert [i.unfinished for i in result.intervals] == [0, 0, 0, 1]
    assert [i.in_flight for i in result.intervals] == [1, 1, 1, 0]
    assert result.intervals[-1].duration == pytest.approx(0.8)
    assert (result.attempted, result.unfinished, result.retransmissions) == (1, 1, 3)
