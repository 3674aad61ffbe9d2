"""The rejection log: one line per refused input, rate-limited per source and in all.

Time is a Clock: a second of flood costs nothing.
"""

from __future__ import annotations

import logging

import pytest
from twisted.internet.task import Clock

from testbed.sip import RemoteProtocolError, Transport, parse_message
from testbed.transport import Flow, RejectionLog, Trace
from testbed.transport._flows import reject_bad_input

NAME = "testbed.rejected"


class Lines:
    """The lines logged so far (``caplog.messages`` is a new list on each read)."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def __len__(self) -> int:
        return len(self.caplog.messages)

    def __getitem__(self, index: int) -> str:
        return self.caplog.messages[index]

    def __eq__(self, other: object) -> bool:
        return self.caplog.messages == other

    def __iter__(self):
        return iter(self.caplog.messages)


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Lines:
    caplog.set_level(logging.WARNING, logger=NAME)
    return Lines(caplog)


def flood(log: RejectionLog, clock: Clock, sources: list[str], count: int) -> None:
    for i in range(count):
        log.rejected("UDP", (sources[i % len(sources)], 5060 + i), "400 Malformed Via (answered)")
        clock.advance(0.001)


def test_one_line_per_rejection_with_where_and_what(lines: Lines) -> None:
    log = RejectionLog(Clock().seconds)
    log.rejected("TCP", ("192.0.2.1", 5060), "400 Missing Via header (answered)")
    assert lines == ["rejected TCP 192.0.2.1:5060: 400 Missing Via header (answered)"]


def test_a_flood_from_one_source_is_cut_then_summed_up(lines: Lines) -> None:
    clock = Clock()
    log = RejectionLog(clock.seconds, per_source=5, window=1.0)
    flood(log, clock, ["192.0.2.1"], 500)  # half a second
    assert len(lines) == 5
    clock.advance(1.0)
    log.rejected("UDP", ("192.0.2.1", 5060), "400 Malformed Via (answered)")
    assert lines[5] == "495 more rejected input(s) from 192.0.2.1 not logged in 1.5 s"
    assert len(lines) == 7


def test_sources_are_limited_apart_and_together(lines: Lines) -> None:
    clock = Clock()
    log = RejectionLog(clock.seconds, per_source=2, total=10, window=1.0)
    flood(log, clock, [f"192.0.2.{i}" for i in range(100)], 1000)
    assert len(lines) == 10  # the total caps what many sources get
    clock.advance(1.0)
    log.rejected("UDP", ("198.51.100.1", 5060), "400 Malformed Via (answered)")
    assert lines[10].startswith("990 more rejected input(s) not logged in")
    assert lines[11] == "rejected UDP 198.51.100.1:5060: 400 Malformed Via (answered)"


def test_the_sources_it_remembers_are_bounded(lines: Lines) -> None:
    clock = Clock()
    log = RejectionLog(clock.seconds, per_source=1, total=10_000, max_sources=16)
    flood(log, clock, [f"10.0.{i // 256}.{i % 256}" for i in range(5000)], 5000)
    assert len(log._sources) == 16
    assert len(lines) == 5000  # each new source gets its line


def test_a_line_stays_one_line_whatever_the_peer_wrote(lines: Lines) -> None:
    log = RejectionLog(Clock().seconds)
    log.rejected("UDP", ("192.0.2.1", 5060), "400 Bad\r\nInjected: yes" + "x" * 1000)
    (line,) = lines
    assert "\n" not in line and "\r" not in line and len(line) <= 300


# -- reject_bad_input: every outcome of answering malformed input --------------------------


class ScriptedFlow(Flow):
    """A UDP flow whose writes are recorded, or fail as told."""

    transport = Transport.UDP

    def __init__(self, *, closed: bool = False, fails: bool = False) -> None:
        super().__init__(Trace(Clock().seconds), ("127.0.0.1", 5060), ("192.0.2.1", 5070))
        self.closed = closed
        self.fails = fails
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        if self.fails:
            raise OSError("Network is unreachable")
        self.written.append(data)

    def close(self) -> None:
        self.closed = True


class RecordingSink:
    """The one method of a FlowSink that ``reject_bad_input`` calls."""

    def __init__(self) -> None:
        self.rejected: list[str] = []

    def input_rejected(self, flow: Flow, what: str) -> None:
        self.rejected.append(what)


REQUEST = (b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1\r\n"
           b"Max-Forwards: many\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\n"
           b"CSeq: 1 OPTIONS\r\n\r\n")
RESPONSE = b"SIP/2.0 200 OK\r\n" + REQUEST.split(b"\r\n", 1)[1]


@pytest.mark.parametrize(("raw", "flow", "outcome", "answers"), [
    (REQUEST, ScriptedFlow(), "answered", 1),
    (RESPONSE, ScriptedFlow(), "dropped", 0),               # §18.1.2: never answered
    (b"\x16\x03\x01garbage", ScriptedFlow(), "dropped", 0),  # not even a request line
    (REQUEST, ScriptedFlow(closed=True), "dropped", 0),     # nothing goes on a closed flow
    (REQUEST, ScriptedFlow(fails=True), "answer not sent: Network is unreachable", 0),
], ids=["request", "response", "garbage", "closed", "send fails"])
def test_reject_bad_input_answers_or_drops_and_reports_once(raw, flow, outcome, answers):
    sink = RecordingSink()
    try:
        parse_message(raw)
    except RemoteProtocolError as error:
        reject_bad_input(sink, flow, raw, error)  # type: ignore[arg-type]  # one method
    (what,) = sink.rejected
    assert what.endswith(f"({outcome})") and what.startswith("400 ")
    assert len(flow.written) == answers
    kinds = [event.kind for event in flow.trace.events]
    assert kinds == ["bad-message"] + ["sent"] * answers
