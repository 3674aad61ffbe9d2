"""Several worker processes for one load, when one core is not enough.

:func:`run_workers` splits the endpoints (and the rate and count) into ``workers``
slices (:meth:`LoadConfig.slice`: users stay distinct), starts one process per slice
(``python -m testbed.load._workers``), waits until every one is ready, starts them
together, shows their summed progress and merges their results exactly
(:func:`merge_results`: counts, histograms and intervals). The parent is plain blocking
Python (no reactor), so the CLI can use it directly and a reactor can run it in a thread.

The protocol on the worker's stdin/stdout is one JSON line at a time:

    parent → worker   {"config": {...}, "progress_interval": 1.0}    then   go
    worker → parent   {"event": "ready"}  {"event": "progress", ...}*  {"event": "result", ...}

Every worker also stops by itself: its own run is bounded by ``time_limit`` plus the
drain time, and it exits if its stdin closes before ``go``. The parent kills (by PID)
any worker still running past that bound plus a margin.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import IO, Any, cast

from twisted.internet import defer, task

from testbed.reactor import IReactor

from ._engine import run_load
from ._load_config import LoadConfig
from ._processes import LineChannel, ProcessError, stop_process, tune_gc
from ._stats import LoadResult, Progress, merge_results

START_TIMEOUT = 60.0
"""How long a worker may take to import everything and say it is ready."""
MARGIN = 30.0
"""Extra time the parent grants past a run's own bound before it kills a worker."""


def run_workers(config: LoadConfig, workers: int, *,
                progress: Callable[[Progress], None] | None = None,
                progress_interval: float = 1.0, python: str | None = None) -> LoadResult:
    """Run ``config`` split over ``workers`` processes; the merged :class:`LoadResult`."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    slices = [config.slice(i, workers) for i in range(workers)]
    python = python or sys.executable
    processes: list[subprocess.Popen[bytes]] = []
    errors: list[IO[bytes]] = []
    try:
        for index, part in enumerate(slices):
            log = tempfile.TemporaryFile()
            errors.append(log)
            process = subprocess.Popen(
                [python, "-m", "testbed.load._workers"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            processes.append(process)
            _send(process, {"config": part.to_json(), "progress_interval": progress_interval},
                  f"worker {index} did not start", log)
        channels = [LineChannel(p) for p in processes]
        for index, channel in enumerate(channels):
            ready = channel.read(START_TIMEOUT)
            if ready is None or ready.get("event") != "ready":
                raise ProcessError(f"worker {index} did not start: "
                                   f"{_reason(ready, errors[index])}")
        for index, process in enumerate(processes):
            _send(process, "go", f"worker {index} did not start", errors[index])
        bound = (min(config.duration or config.time_limit, config.time_limit)
                 + config.drain_seconds + MARGIN)
        results = _collect(channels, errors, bound, progress)
    finally:
        for process in processes:
            stop_process(process, timeout=5.0)
            if process.stdout is not None:
                process.stdout.close()
        for error_log in errors:
            error_log.close()
    merged = merge_results(results)
    merged.workers = workers
    return merged


def _collect(channels: list[LineChannel], errors: list[IO[bytes]], bound: float,
             progress: Callable[[Progress], None] | None) -> list[LoadResult]:
    deadline = time.monotonic() + bound
    selector = selectors.DefaultSelector()
    for index, channel in enumerate(channels):
        selector.register(channel.fileno(), selectors.EVENT_READ, index)
    latest: dict[int, Progress] = {}
    results: dict[int, LoadResult] = {}
    try:
        while len(results) < len(channels):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProcessError(f"workers still running after {bound:.0f} s: stopped")
            for key, _ in selector.select(min(remaining, 1.0)):
                index = key.data
                channel = channels[index]
                while True:
                    message = channel.read(remaining)
                    if message is None:
                        selector.unregister(key.fd)
                        if index not in results:
                            raise ProcessError(f"worker {index} exited without a result: "
                                               f"{_reason(None, errors[index])}")
                        break
                    _handle(index, message, latest, results, progress)
                    if not channel.has_line():
                        break
    finally:
        selector.close()
    return [results[i] for i in range(len(channels))]


def _handle(index: int, message: dict[str, Any], latest: dict[int, Progress],
            results: dict[int, LoadResult],
            progress: Callable[[Progress], None] | None) -> None:
    event = message.get("event")
    if event == "progress":
        latest[index] = Progress.from_json(message["progress"])
        if progress is not None:
            progress(Progress.total(list(latest.values())))
    elif event == "result":
        results[index] = LoadResult.from_json(message["result"])
    elif event == "error":
        raise ProcessError(f"worker {index}: {message.get('message')}")


def _send(process: subprocess.Popen[bytes], data: dict[str, Any] | str, what: str,
          log: IO[bytes]) -> None:
    line = data if isinstance(data, str) else json.dumps(data)
    assert process.stdin is not None, "started with stdin=PIPE"
    try:
        process.stdin.write(line.encode("utf-8") + b"\n")
        process.stdin.flush()
    except OSError as exc:  # it exited already
        process.wait(5)
        raise ProcessError(f"{what}: {exc.strerror or exc}; {_reason(None, log)}") from None


def _reason(message: dict[str, Any] | None, log: IO[bytes]) -> str:
    if message is not None and message.get("message"):
        return str(message["message"])
    log.seek(0)
    text = log.read().decode("utf-8", "replace").strip()
    return text.splitlines()[-1] if text else "no output"


# -- the worker process ------------------------------------------------------------------


def worker_main() -> int:
    """``python -m testbed.load._workers``: one slice of a load, driven by the parent."""
    def emit(data: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()

    line = sys.stdin.readline()
    if not line:
        return 1
    request = json.loads(line)
    try:
        config = LoadConfig.from_json(request["config"])
    except (TypeError, ValueError) as exc:
        emit({"event": "error", "message": str(exc)})
        return 1
    interval = float(request.get("progress_interval", 1.0))
    emit({"event": "ready"})
    if sys.stdin.readline().strip() != "go":
        return 1
    tune_gc()
    outcome: list[LoadResult] = []

    async def run(reactor: IReactor) -> None:
        result = await run_load(reactor, config,
                                progress=lambda p: emit({"event": "progress",
                                                         "progress": p.to_json()}),
                                progress_interval=interval)
        outcome.append(result)

    try:
        task.react(lambda reactor: defer.ensureDeferred(run(cast(IReactor, reactor))))
    except SystemExit as exit_:
        if exit_.code not in (0, None) or not outcome:
            emit({"event": "error", "message": f"worker run failed (exit {exit_.code})"})
            return 1
    emit({"event": "result", "result": outcome[0].to_json()})
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
