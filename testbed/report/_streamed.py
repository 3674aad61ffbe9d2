"""A file written while a world serves: buffered, flushed soon after a write, and never
the cause of a stopped server (``testbed serve``'s capture and message log).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from testbed.reactor import IReactorTime

FLUSH_INTERVAL = 1.0
"""Seconds what a streamed file was given may wait in its write buffer."""

_log = Logger()


class StreamedFile:
    """``file``, open: :meth:`flush_soon` after writes (the flush comes at most
    :data:`FLUSH_INTERVAL` later on ``clock``; at once without one), :meth:`close` at the
    end. A write or flush error (a full disk) closes it with one logged line, kept in
    :attr:`error` as ``"{label}: {reason}; {stopped}"``; whatever writes to it goes on
    (:attr:`file` is None from then on).
    """

    def __init__(self, file: IO[Any], *, label: str, stopped: str,
                 clock: IReactorTime | None = None) -> None:
        self.file: IO[Any] | None = file
        self.label = label
        self.stopped = stopped
        self.clock = clock
        self.error: str | None = None
        self._flush_call: IDelayedCall | None = None

    def flush_soon(self) -> None:
        """Flush within :data:`FLUSH_INTERVAL` (at once without a clock)."""
        if self.clock is None:
            self.flush()
        elif self._flush_call is None and self.file is not None:
            self._flush_call = self.clock.callLater(FLUSH_INTERVAL, self.flush)

    def flush(self) -> None:
        self._flush_call = None
        if self.file is None:
            return
        try:
            self.file.flush()
        except OSError as exc:
            self.fail(exc)

    def close(self, last: Callable[[], None] | None = None) -> None:
        """Write ``last`` (if still open), flush and close; an error is noted, not
        raised."""
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        file, self.file = self.file, None
        if file is None:
            return
        try:
            if last is not None:
                last()
            file.close()
        except OSError as exc:
            self.error = self.error or f"{self.label}: {exc.strerror}"

    def fail(self, exc: OSError) -> None:
        """A write failed: note it in one logged line and stop writing."""
        self.error = f"{self.label}: {exc.strerror}; {self.stopped}"
        _log.error("{error}", error=self.error)
        self.close()  # a second error closing it keeps the first
