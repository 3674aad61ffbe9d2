"""A trace for load runs: every event counted, only the rare ones kept.

A scenario keeps every message it exchanged, for its ladder, pcap and diagnosis. A
load run exchanges hundreds of thousands: keeping them would cost memory and time for
nothing. :class:`QuietTrace` counts every event by kind (``counts``), keeps the
others (connections, failures, malformed input...) up to ``keep`` of them, and tells
the flows it does not want message events at all (``messages = False``), so they skip
describing them. A listener (``wait_for``) turns message events back on: nothing a
test waits for is ever lost.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable

from testbed.transport import Trace, TraceEvent

MESSAGE_KINDS = frozenset(("sent", "received"))


class QuietTrace(Trace):
    """A :class:`Trace` that counts message events instead of keeping them."""

    def __init__(self, clock: Callable[[], float], owner: str = "", keep: int = 1000) -> None:
        super().__init__(clock, owner, deque(maxlen=keep))  # type: ignore[arg-type]
        self.counts: Counter = Counter()

    @property
    def messages(self) -> bool:  # type: ignore[override]
        """Whether flows should describe and record each message (only for listeners)."""
        return bool(self.listeners)

    @messages.setter
    def messages(self, value: bool) -> None:
        pass  # decided by the listeners; kept assignable for Trace's own field

    def count(self, kind: str, n: int = 1) -> None:
        """Count events a flow did not record (``messages`` was False)."""
        self.counts[kind] += n

    def record(self, kind: str, transport: str, **details: object) -> TraceEvent | None:
        self.counts[kind] += 1
        if kind in MESSAGE_KINDS and not self.listeners:
            return None
        return super().record(kind, transport, **details)

    def child(self, owner: str) -> Trace:
        return self  # one owner is enough for load: the counts are what matters
