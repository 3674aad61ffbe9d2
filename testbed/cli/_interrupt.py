"""SIGINT and SIGTERM during a run: cancel the work in flight, remember the signal.

Twisted's own handlers stop the reactor at once, so a run would end without its
results, the scenario in flight unstopped, and an exit code of 0. While an
:class:`Interruption` is open, its handlers replace them: the first signal cancels the
Deferred being watched (the scenario in flight: its world is stopped) and is kept, so
the command reports what did not run and exits ``128 + signal`` (130 for SIGINT, 143
for SIGTERM), the shell's convention. A second signal kills the process by the
signal's default action (Ctrl-C twice stops at once).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

from twisted.internet import defer
from twisted.internet.interfaces import IReactorCore, IReactorFromThreads

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_T = TypeVar("_T")


class Interruption:
    """Which signal stopped the run (if any), and the Deferred it cancels."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._received = False
        self._reactor: IReactorFromThreads | None = None
        self._watched: defer.Deferred[Any] | None = None
        self._original: dict[int, Any] = {}

    @property
    def name(self) -> str:
        """``SIGINT``, ``SIGTERM``; empty when no signal came."""
        return signal.Signals(self.signal).name if self.signal is not None else ""

    @property
    def exit_code(self) -> int:
        """``128 + signal``: 130 for SIGINT, 143 for SIGTERM (0 when no signal came)."""
        return 128 + self.signal if self.signal is not None else 0

    def attach(self, reactor: object) -> None:
        """Handle signals through ``reactor`` from now on, and again once it runs.

        The reactor installs its own handlers while it starts; ours are put back right
        after them, in the same startup phase. Once the reactor has stopped, a signal is
        taken at once (there is nothing left in flight).
        """
        self._reactor = IReactorFromThreads(reactor)
        core = IReactorCore(reactor)
        core.addSystemEventTrigger("during", "startup", self._install)
        core.addSystemEventTrigger("after", "shutdown", self._detach)

    def watch(self, work: defer.Deferred[_T]) -> defer.Deferred[_T]:
        """Cancel ``work`` at the signal (at once if one already came); returns it."""
        self._watched = work
        work.addBoth(self._unwatch, work)
        if self.signal is not None:
            work.cancel()
        return work

    def _unwatch(self, result: object, work: defer.Deferred[Any]) -> object:
        if self._watched is work:
            self._watched = None
        return result

    def _detach(self) -> None:
        self._reactor = None

    def _install(self) -> None:
        for number in SIGNALS:
            signal.signal(number, self._handle)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self._received:
            signal.signal(number, signal.SIG_DFL)
            signal.raise_signal(number)
            return
        self._received = True
        # A signal handler runs between two bytecodes of whatever the main thread was
        # doing; the reactor does the work in its own time (as Twisted's handlers do).
        if self._reactor is None:
            self._interrupt(number)
        else:
            self._reactor.callFromThread(self._interrupt, number)

    def _interrupt(self, number: int) -> None:
        if self.signal is not None:
            return
        self.signal = number
        if self._watched is not None:
            self._watched.cancel()

    @contextmanager
    def handling(self) -> Iterator[Interruption]:
        """Handle SIGINT and SIGTERM inside the block; the original handlers after it."""
        self._original = {number: signal.getsignal(number) for number in SIGNALS}
        for number in SIGNALS:
            signal.signal(number, self._handle)
        try:
            yield self
        finally:
            for each, handler in self._original.items():
                signal.signal(each, handler)
