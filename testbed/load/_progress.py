"""The live progress line of a load run.

On a terminal one line is rewritten in place (carriage return) a few times a second;
into a file or a pipe (CI logs) a full line is printed every ``interval`` seconds, so
the log shows the run's pace without flooding.
"""

from __future__ import annotations

import sys
from typing import TextIO

from ._stats import Progress


class ProgressDisplay:
    """A callable for :class:`LoadRunner`'s ``progress``: prints :class:`Progress` snapshots.

    ``rate`` is the successful operations per second since the previous snapshot.
    """

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None,
                 interval: float = 5.0, label: str = "load") -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self.label = label
        self.lines = 0
        self._width = 0
        self._last: Progress | None = None
        self._last_printed = -1e9

    @property
    def refresh(self) -> float:
        """How often the runner should call: often on a terminal, at the interval otherwise."""
        return 0.5 if self.tty else self.interval

    def line(self, progress: Progress) -> str:
        last = self._last
        if last is None or progress.elapsed <= last.elapsed:
            rate = progress.succeeded / progress.elapsed if progress.elapsed > 0 else 0.0
        else:
            rate = (progress.succeeded - last.succeeded) / (progress.elapsed - last.elapsed)
        return (f"{self.label} {progress.elapsed:7.1f} s  {progress.attempted:>9,} started  "
                f"{progress.succeeded:>9,} ok  {progress.failed:>7,} failed  "
                f"{progress.in_flight:>6,} in flight  {rate:>9,.0f}/s"
                + ("  done" if progress.done else ""))

    def __call__(self, progress: Progress) -> None:
        text = self.line(progress)
        self._last = progress
        if self.tty:
            self._width = max(self._width, len(text))
            self.stream.write("\r" + text.ljust(self._width))
            if progress.done:
                self.stream.write("\n")
            self.stream.flush()
            self.lines += 1
        elif progress.done or progress.elapsed - self._last_printed >= self.interval - 1e-9:
            self._last_printed = progress.elapsed
            self.stream.write(text + "\n")
            self.stream.flush()
            self.lines += 1
