"""What happened on the wire, as data: the evidence behind every report and diagnosis.

Every adapter records into a :class:`Trace`: messages sent and received (with their
bytes), connections opened, refused, closed, TLS failures, keep-alives, malformed input.
The report layer renders it (ladder, message log, pcap); the diagnosis classifies it.

A trace is a ring: it keeps the last ``limit`` events (:data:`TRACE_LIMIT` unless told)
and counts the ones it let go (:attr:`Trace.dropped`), so that a world left running
for days holds a bounded number of them. Listeners see every event as it happens,
kept or not: whatever must see everything (a live display, a file) listens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IAddress

from testbed.sip import Message, Request, Response, fmt_hostport

HostPort = tuple[str, int]


def hostport_of(address: IAddress) -> HostPort:
    """``(host, port)`` of the IPv4 or IPv6 address of a TCP or UDP socket."""
    assert isinstance(address, IPv4Address | IPv6Address), address
    return (address.host, address.port)


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One observation. ``kind`` is one of :data:`EVENT_KINDS`."""

    time: float
    kind: str
    transport: str
    local: HostPort | None = None
    remote: HostPort | None = None
    summary: str = ""
    data: bytes = b""
    detail: str = ""
    owner: str = ""

    def __str__(self) -> str:
        arrow = {"sent": "->", "received": "<-"}.get(self.kind, "..")
        where = f"{fmt_hostport(self.remote)}/{self.transport}" if self.remote else self.transport
        text = f"{self.time:9.3f} {self.owner:>10} {arrow} {where} {self.kind}: {self.summary}"
        return text + (f" ({self.detail})" if self.detail else "")


EVENT_KINDS = (
    "sent", "received", "bad-message", "connecting", "connected", "connect-failed",
    "closed", "tls-failed", "keepalive-sent", "keepalive-received", "listening",
    "send-failed", "timeout", "note",
)


def describe(message: Message) -> str:
    """A one-line summary of a message for ladders and logs."""
    cseq = message.headers.get("CSeq", "?")
    if isinstance(message, Request):
        return f"{message.method} {message.uri} (CSeq {cseq})"
    assert isinstance(message, Response)
    return f"{message.status} {message.reason} (CSeq {cseq})"


TRACE_LIMIT = 100_000
"""Events a :class:`Trace` keeps unless told otherwise: far more than any scenario
records (the catalogue's largest records a few hundred), so a scenario's report has
them all, while a runaway one stays bounded (about 1 KiB an event with its bytes)."""


class _Tally:
    """What the traces sharing one ring count together."""

    __slots__ = ("dropped",)

    def __init__(self) -> None:
        self.dropped = 0


class Trace:
    """The last ``limit`` :class:`TraceEvent` s (None: all), stamped by the reactor's clock.

    ``events`` is a ``deque`` (index it, iterate it, ``list()`` it); ``dropped`` counts
    the events that left the ring to make room, oldest first.
    """

    def __init__(self, clock: Callable[[], float], owner: str = "", *,
                 limit: int | None = TRACE_LIMIT) -> None:
        if limit is not None and limit < 0:
            raise ValueError(f"a trace keeps a non-negative number of events, not {limit}")
        self.clock = clock
        self.owner = owner
        self.limit = limit
        self.events: deque[TraceEvent] = deque(maxlen=limit)
        self.listeners: list[Callable[[TraceEvent], None]] = []
        self._tally = _Tally()

    @property
    def dropped(self) -> int:
        """Events recorded and no longer kept (the ring was full)."""
        return self._tally.dropped

    def record(self, kind: str, transport: str, **details: object) -> TraceEvent:
        """Append an event; ``details`` are :class:`TraceEvent`'s keyword fields."""
        details.setdefault("owner", self.owner)
        # ``details`` stays a plain mapping: subclasses (the load trace) pass it through.
        event = TraceEvent(self.clock(), kind, transport, **details)  # type: ignore[arg-type]
        events = self.events
        if len(events) == events.maxlen:
            self._tally.dropped += 1
        events.append(event)
        for listener in self.listeners:
            listener(event)
        return event

    def counted(self, kind: str) -> bool:
        """Count an event of ``kind`` if this trace only counts such events: True when
        it did, and the event needs no :meth:`record` (a hot path asks first, and
        composes the event's details only when they are kept). A trace that keeps
        every event answers False."""
        return False

    def child(self, owner: str) -> Trace:
        """A trace that shares this one's events but stamps another owner."""
        return _ChildTrace(self, owner)

    def of_kind(self, *kinds: str) -> list[TraceEvent]:
        return [e for e in self.events if e.kind in kinds]

    def wait_for(self, predicate: Callable[[TraceEvent], bool]) -> Deferred[TraceEvent]:
        """A Deferred of the first event, past or future, that satisfies ``predicate``.

        Lets a test or a scenario step wait for "the ACK arrived" without sleeping.
        """
        for event in self.events:
            if predicate(event):
                return succeed(event)
        waiter: Deferred[TraceEvent] = Deferred()

        def listener(event: TraceEvent) -> None:
            if not waiter.called and predicate(event):
                self.listeners.remove(listener)
                waiter.callback(event)

        self.listeners.append(listener)
        return waiter

    def received(self, method_or_status: str) -> Deferred[TraceEvent]:
        """Wait until a message whose summary starts with ``method_or_status`` is received."""
        prefix = method_or_status + " "
        return self.wait_for(lambda e: e.kind == "received" and e.summary.startswith(prefix))


class _ChildTrace(Trace):
    """Another owner's view of a trace: the same ring, listeners and tally."""

    def __init__(self, parent: Trace, owner: str) -> None:
        self.clock = parent.clock
        self.owner = owner
        self.limit = parent.limit
        self.events = parent.events
        self.listeners = parent.listeners
        self._tally = parent._tally
