"""Delayed calls on the injected clock: one call re-armed to a deadline, and a set of
calls cancelled together.

The sans-IO pieces (transactions, NAT tables) say *when* they next need to run
(``next_deadline()``); an adapter keeps exactly one ``callLater`` for that deadline, and
re-arms it after every input (the aioquic pattern). Time comes from the injected clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IDelayedCall

from testbed.reactor import IReactorTime


class DeadlineTimer:
    """One ``callLater`` kept at an absolute deadline; ``arm`` moves it, ``cancel`` stops it."""

    def __init__(self, clock: IReactorTime, fire: Callable[[], None]) -> None:
        self.clock = clock
        self.fire = fire
        self._call: IDelayedCall | None = None
        self.deadline: float | None = None

    def arm(self, deadline: float | None) -> None:
        """Fire at ``deadline`` (absolute, the clock's time); None disarms."""
        if deadline == self.deadline and self._call is not None and self._call.active():
            return
        self.cancel()
        self.deadline = deadline
        if deadline is not None:
            delay = max(0.0, deadline - self.clock.seconds())
            self._call = self.clock.callLater(delay, self._fired)

    def cancel(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        self.deadline = None

    def _fired(self) -> None:
        self._call = None
        self.deadline = None
        self.fire()


class DelayedCalls:
    """``callLater`` calls that can all be cancelled at once (a proxy's delayed packets)."""

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self._pending: set[IDelayedCall] = set()

    def later(self, delay: float, function: Callable[..., Any], *args: object) -> None:
        def run() -> None:
            self._pending.discard(call)
            function(*args)

        call = self.clock.callLater(delay, run)
        self._pending.add(call)

    def cancel_all(self) -> None:
        for call in list(self._pending):
            if call.active():
                call.cancel()
        self._pending.clear()

    def __len__(self) -> int:
        return len(self._pending)
