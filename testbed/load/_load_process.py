"""A load over several plain processes on this machine, started together, results merged.

``python -m testbed.load._load_process CONFIG_JSON`` runs one slice of a load
(:meth:`LoadConfig.slice`: its own users, its share of the window) on its own reactor:
it prints ``{"event": "ready"}`` once imported and set up, waits for ``go`` on stdin,
runs, and prints ``{"event": "result", "result": ...}`` (:meth:`LoadResult.to_json`).
:func:`run_processes` is the parent's side: it starts the slices, tells them all to go
at once (so their runs overlap, start-up left out), and merges their results exactly
(:func:`merge_results`).

This is how the benchmark runs our client on both cores next to a peer on the same
machine. Ray workers (:func:`run_workers`) do the same for users, locally or on a
cluster, with placement, progress and live metrics; but a Ray runtime keeps threads
busy in the driver and in each worker, which a 2-core benchmark cannot spare (the
``ray`` phase of ``make bench`` measures that cost).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any, cast

from twisted.internet import defer, stdio
from twisted.protocols.basic import LineReceiver

from testbed.reactor import IReactor

from ._engine import run_load
from ._load_config import LoadConfig
from ._processes import LineChannel, ProcessError, stop_process, tune_gc
from ._stats import LoadResult, merge_results


def run_processes(config: LoadConfig, processes: int, *, timeout: float = 60.0,
                  python: str | None = None) -> LoadResult:
    """Run ``config`` split over ``processes`` local processes; their merged result.

    Blocking (a reactor runs it in a thread). A slice that fails to start, to answer or
    to finish raises :class:`ProcessError` (one line), and every slice is stopped.
    """
    children: list[tuple[subprocess.Popen[bytes], LineChannel]] = []
    try:
        for index in range(processes):
            slice_ = config.slice(index, processes) if processes > 1 else config
            process = subprocess.Popen(
                [python or sys.executable, "-m", "testbed.load._load_process",
                 json.dumps(slice_.to_json())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=tempfile.TemporaryFile(),
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
            children.append((process, LineChannel(process)))
        for _, channel in children:
            _expect(channel, "ready", timeout)
        for process, _ in children:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            process.stdin.flush()
        limit = timeout + min(config.duration or config.time_limit, config.time_limit) \
            + config.drain_seconds
        results = [LoadResult.from_json(_expect(channel, "result", limit)["result"])
                   for _, channel in children]
    finally:
        for process, channel in children:
            stop_process(process)
            channel.close()
    return merge_results(results) if len(results) > 1 else results[0]


def _expect(channel: LineChannel, event: str, timeout: float) -> dict[str, Any]:
    line = channel.read(timeout)
    if line is None or line.get("event") != event:
        message = (line or {}).get("message") or f"no {event} line"
        raise ProcessError(f"load process {channel.process.pid}: {message}")
    return line


def main(argv: list[str] | None = None) -> int:
    """One slice: ``python -m testbed.load._load_process CONFIG_JSON`` (see the module)."""
    from twisted.internet import reactor as global_reactor  # this process's own reactor

    reactor = cast(IReactor, global_reactor)
    argv = sys.argv[1:] if argv is None else argv
    config = LoadConfig.from_json(json.loads(argv[0]))
    tune_gc()

    def emit(data: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()

    async def run() -> None:
        try:
            result = await run_load(reactor, config)
            emit({"event": "result", "result": result.to_json()})
        except Exception as exc:  # one line for the parent, never a traceback on its pipe
            emit({"event": "error", "message": f"{type(exc).__name__}: {exc}"})
        finally:
            reactor.stop()

    class Commands(LineReceiver):
        delimiter = b"\n"

        def lineReceived(self, line: bytes) -> None:
            if line.strip() == b"go":
                defer.ensureDeferred(run())

        def connectionLost(self, reason: object = None) -> None:
            if reactor.running:
                reactor.stop()

    stdio.StandardIO(Commands())
    emit({"event": "ready", "pid": os.getpid()})
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
