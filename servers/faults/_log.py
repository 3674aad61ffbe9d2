"""What a fault did, as data: one :class:`FaultRecord` per decision, for reports and tests."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from twisted.internet.defer import Deferred, succeed

from testbed.sip import Transport, fmt_hostport

HostPort = tuple[str, int]

#: ``policy``: what a port does for every packet (one record when the fault starts, for
#: the kinds the kernel carries out, which userland never sees packet by packet);
#: ``forwarded`` / ``delayed`` (forwarded after ``delay``) / ``dropped`` / ``rejected``
#: (the proxy refused a TCP connection it could not carry upstream); ``new-binding`` /
#: ``expired``: a NAT binding (or proxied TCP connection) made or forgotten.
ACTIONS = ("policy", "forwarded", "delayed", "dropped", "rejected", "new-binding", "expired")


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """One thing a fault did.

    ``time`` is the injected clock's; ``transport`` the carrier (UDP or TCP); ``index``
    numbers the packets of one direction of one carrier at the proxy (1 = the first).
    """

    time: float
    fault: str
    action: str
    transport: Transport
    direction: str = ""
    size: int = 0
    source: HostPort | None = None
    destination: HostPort | None = None
    detail: str = ""
    delay: float = 0.0
    index: int | None = None

    def __str__(self) -> str:
        what = f"{self.action}"
        if self.size:
            what += f" {self.size} bytes"
        if self.index is not None:
            what += f" (#{self.index} {self.direction})"
        elif self.direction:
            what += f" ({self.direction})"
        if self.delay:
            what += f" by {self.delay * 1000:.1f} ms"
        text = (f"{self.time:9.3f} {self.fault:>13} {self.transport} "
                f"{fmt_hostport(self.source)} -> {fmt_hostport(self.destination)} {what}")
        return text + (f": {self.detail}" if self.detail else "")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FAULT_LOG_LIMIT = 10_000
"""Records a :class:`FaultLog` keeps (the last ones): all of a scenario's, a bounded
record for a fault left running; subscribers see every one."""


class FaultLog:
    """The last ``limit`` records of one fault (or a composition), in order, with waiting.

    ``dropped`` counts the records that left to make room.
    """

    def __init__(self, limit: int | None = FAULT_LOG_LIMIT) -> None:
        self.records: deque[FaultRecord] = deque(maxlen=limit)
        self.dropped = 0
        self._listeners: list[Callable[[FaultRecord], None]] = []

    def append(self, record: FaultRecord) -> FaultRecord:
        records = self.records
        if len(records) == records.maxlen:
            self.dropped += 1
        records.append(record)
        for listener in list(self._listeners):
            listener(record)
        return record

    def subscribe(self, listener: Callable[[FaultRecord], None]) -> None:
        """Call ``listener`` with every record from now on (a report, a trace mirror)."""
        self._listeners.append(listener)

    def __iter__(self) -> Iterator[FaultRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> FaultRecord:
        return self.records[index]

    def of(self, action: str | None = None, *, direction: str | None = None,
           transport: str | None = None, fault: str | None = None) -> list[FaultRecord]:
        """The records matching every criterion given."""
        return [r for r in self.records
                if (action is None or r.action == action)
                and (direction is None or r.direction == direction)
                and (transport is None or r.transport == transport)
                and (fault is None or r.fault == fault)]

    def wait_for(self, predicate: Callable[[FaultRecord], bool]) -> Deferred[FaultRecord]:
        """A Deferred of the first record, past or future, satisfying ``predicate``
        (e.g. "the NAT binding expired"), so nobody has to sleep."""
        for record in self.records:
            if predicate(record):
                return succeed(record)
        waiter: Deferred[FaultRecord] = Deferred()

        def listener(record: FaultRecord) -> None:
            if not waiter.called and predicate(record):
                self._listeners.remove(listener)
                waiter.callback(record)

        self._listeners.append(listener)
        return waiter

    def as_dicts(self) -> list[dict[str, Any]]:
        return [record.as_dict() for record in self.records]

    def __str__(self) -> str:
        return "\n".join(str(record) for record in self.records)
