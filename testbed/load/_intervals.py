"""A run cut into intervals on the reactor's clock (the periodic statistics).

The engine counts what happens into :attr:`IntervalClock.current`; a timer closes it at
each boundary (every ``length`` seconds from the run's start, without drift) and at the
end, and folds it into the :class:`LoadResult`. With ``task.Clock`` as the reactor the
boundaries are exact, which the unit tests use.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall

from testbed.reactor import IReactorTime

from ._histogram import LatencyHistogram
from ._stats import LoadInterval, LoadResult


class IntervalClock:
    """Intervals of ``length`` seconds folded into ``result``; ``in_flight()`` is read at
    each interval's end."""

    def __init__(self, reactor: IReactorTime, result: LoadResult, length: float,
                 in_flight: Callable[[], int]) -> None:
        self.reactor = reactor
        self.result = result
        self.length = length
        self.in_flight = in_flight
        self.current = LoadInterval(0, 0.0)
        self._started = 0.0
        self._call: IDelayedCall | None = None

    def start(self) -> None:
        """The run starts now: interval 0 begins."""
        self._started = self.reactor.seconds()
        self._call = self.reactor.callLater(self.length, self._roll)

    def stop(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()

    def close(self) -> None:
        """The run ended: fold the last interval (if it has a length or a count)."""
        self.stop()
        interval = self.current
        if interval.attempted or interval.succeeded or interval.failed \
                or interval.unfinished or interval.retransmissions \
                or self.reactor.seconds() - self._started > interval.start:
            self._fold()

    def totals(self) -> tuple[int, LatencyHistogram]:
        """Retransmissions and every transport's latencies so far (for the progress)."""
        result, current = self.result, self.current
        latency = LatencyHistogram.merged([*result.latencies.values(),
                                           *current.latencies.values()])
        return result.retransmissions + current.retransmissions, latency

    def _roll(self) -> None:
        self._fold()
        boundary = self._started + (self.current.index + 1) * self.length
        self._call = self.reactor.callLater(max(boundary - self.reactor.seconds(), 0.0),
                                            self._roll)

    def _fold(self) -> None:
        interval = self.current
        interval.duration = self.reactor.seconds() - self._started - interval.start
        interval.in_flight = self.in_flight()
        self.result.fold(interval)
        self.current = LoadInterval(interval.index + 1, interval.end)
