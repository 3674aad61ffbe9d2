"""Child processes of a load run: JSON lines with a deadline, stopping, memory, the GC.

The registrar process (:mod:`._server_process`) talks to its parent with one JSON
object per line on stdout, read here with a deadline (:class:`LineChannel`); closing
its stdin is its cue to stop (:func:`stop_process`). Load workers are Ray actors
(:mod:`._ray_actors`) or plain processes (:mod:`._load_process`); all share
:func:`tune_gc`.
"""

from __future__ import annotations

import gc
import json
import os
import selectors
import subprocess
import time
from typing import IO, Any


class ProcessError(Exception):
    """A child process failed to start, answer, or stop in time; one line."""


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size of a process, in KiB (Linux ``/proc``)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def tune_gc() -> None:
    """Tune the collector for a long-lived process holding many small objects.

    What exists moves out of the cyclic collector's way, and the young generation is
    collected less often (CPython's default of 700 allocations makes full collections
    dominate under load).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _stdout(process: subprocess.Popen[bytes]) -> IO[bytes]:
    assert process.stdout is not None, "started with stdout=PIPE"
    return process.stdout


class LineChannel:
    """Newline-delimited JSON from a child's stdout, read with a deadline."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self._buffer = b""
        self._selector = selectors.DefaultSelector()
        self._selector.register(_stdout(process), selectors.EVENT_READ)

    def read(self, timeout: float) -> dict[str, Any] | None:
        """The next JSON line, or None at EOF; :class:`ProcessError` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._selector.select(remaining):
                raise ProcessError(f"process {self.process.pid} said nothing in {timeout:g} s")
            chunk = os.read(self.fileno(), 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            message: dict[str, Any] = json.loads(line)
        except ValueError:
            return {"event": "output", "text": line.decode("utf-8", "replace")}
        return message

    def has_line(self) -> bool:
        """True when a whole line is already buffered (no select will report it)."""
        return b"\n" in self._buffer

    def fileno(self) -> int:
        return _stdout(self.process).fileno()

    def close(self) -> None:
        self._selector.close()


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Close its stdin (its cue to stop), wait, then terminate and kill it by its PID.

    ``timeout=0`` terminates at once a process that does not read its stdin.
    """
    if process.stdin is not None and not process.stdin.closed:
        try:
            process.stdin.close()
        except OSError:
            pass
    try:
        process.wait(timeout)
        return
    except subprocess.TimeoutExpired:
        pass
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
