"""A trace for load runs: every event counted, only the rare ones kept.

A scenario keeps every message it exchanged, for its ladder, pcap and diagnosis. A
load run exchanges hundreds of thousands: keeping them would cost memory and time for
nothing. :class:`QuietTrace` counts every event by kind (``counts``) and keeps the
others (connections, failures, malformed input...), up to ``keep`` of them. With a
listener (``wait_for``) it keeps message events too: nothing a test waits for is lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from testbed.transport import Trace, TraceEvent

MESSAGE_KINDS = frozenset(("sent", "received"))


class QuietTrace(Trace):
    """A :class:`Trace` that counts message events instead of keeping them."""

    def __init__(self, clock: Callable[[], float], owner: str = "", keep: int = 1000) -> None:
        super().__init__(clock, owner, limit=keep)
        self.counts: Counter[str] = Counter()

    def count(self, kind: str, n: int = 1) -> None:
        """Count an event that has no record of its own (a stray response...)."""
        self.counts[kind] += n

    # No caller uses what record() returns; a message event that is only counted has none.
    def record(  # type: ignore[override]
            self, kind: str, transport: str, **details: object) -> TraceEvent | None:
        self.counts[kind] += 1
        if kind in MESSAGE_KINDS and not self.listeners:
            return None
        return super().record(kind, transport, **details)

    def counted(self, kind: str) -> bool:
        if kind in MESSAGE_KINDS and not self.listeners:
            self.counts[kind] += 1
            return True
        return False

    def child(self, owner: str) -> Trace:
        return self  # one owner is enough for load: the counts are what matters
