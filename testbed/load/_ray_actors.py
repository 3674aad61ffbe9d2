"""The Ray side of :func:`run_workers`: the runtime, the worker actor, the driver's loop.

:class:`RayRuntime` starts a local Ray runtime (no dashboard unless asked, Ray's own
logs kept out of the terminal, usage statistics off, every Ray address on loopback) or
connects to a cluster after checking, in seconds, that its address answers. It reuses
a runtime this process already has (tests share one per module) and shuts down only
what it started.

:class:`LoadWorker` is the actor: it owns one Twisted reactor in its own process (run
in a thread of the actor, without signal handlers) and runs one slice. The driver
(:func:`drive`) places the workers (spread over the nodes with a hard node affinity),
waits until all are ready, starts them together, then polls them every progress
interval: their :class:`Progress` and :class:`LiveCounts` go to the display and the
metrics, their results are merged once all have one. A worker whose process, node or
connection is lost is given up with the reason Ray gives.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from twisted.internet import defer

from testbed.reactor import IReactor

from ._engine import LoadRunner
from ._live import LiveCounts, LiveTracker
from ._load_config import LoadConfig
from ._plan import (
    MARGIN,
    START_TIMEOUT,
    ClusterError,
    LostWorker,
    WorkerInfo,
    WorkerPlan,
    WorkersRun,
    lost_result,
    probe,
)
from ._processes import tune_gc
from ._stats import LoadInterval, LoadResult, Progress, merge_results

LOCAL_NODE_ADDRESS = "127.0.0.2"
"""The local runtime's node address. Ray swaps 127.0.0.1 for the machine's address;
another loopback address keeps every Ray connection of a local runtime on loopback."""
LOCAL_OBJECT_STORE = 128 * 1024 * 1024
"""Bytes of shared memory a local runtime reserves for Ray's object store: the workers
only pass progress and results, and containers often have a small ``/dev/shm``."""
POLL_TIMEOUT = 10.0
"""The driver looks at the time at least this often while no worker answers."""

CLIENT_ATTEMPTS = 2
"""Connections tried through Ray Client (``ray://``): its server forks a server per
client, and that fork can fail at once ("SpecificServer startup failed" in Ray's log,
"Initialization failure from server" here); the next connection gets a new one."""


class RayRuntime:
    """A Ray runtime for one run: started here (and stopped after), or already there."""

    def __init__(self, plan: WorkerPlan) -> None:
        self.plan = plan
        self.startup = 0.0
        self.owned = False
        self.address = ""

    def __enter__(self) -> RayRuntime:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no report leaves the machine
        begun = time.monotonic()
        if ray.is_initialized():
            self.address = "this process's Ray runtime"
            return self
        quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
        try:
            if self.plan.cluster is None:
                if self.plan.dashboard:
                    _check_dashboard()
                ray.init(address="local", num_cpus=max(self.plan.workers, os.cpu_count() or 1),
                         include_dashboard=self.plan.dashboard,
                         object_store_memory=LOCAL_OBJECT_STORE,
                         _node_ip_address=LOCAL_NODE_ADDRESS, **quiet)
                self.address = "local Ray runtime"
            else:
                address = probe(self.plan.cluster)
                _connect(address, quiet)
                self.address = f"Ray cluster {address}"
        except ClusterError:
            raise
        except (ConnectionError, RuntimeError, ValueError, RayError) as exc:
            what = self.plan.cluster or "a local runtime"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ClusterError(f"Ray ({what}) did not start: {first}") from None
        self.owned = True
        self.startup = time.monotonic() - begun
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self.owned:
            ray.shutdown()

    def describe(self) -> str:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        started = f", started in {self.startup:.2f} s" if self.owned else ""
        return f"{self.address}: {len(nodes)} node{'s' * (len(nodes) != 1)}{started}"


def _connect(address: str, options: dict[str, Any]) -> None:
    """``ray.init`` to a cluster; through Ray Client, once more if its server failed to
    start ours (:data:`CLIENT_ATTEMPTS`)."""
    attempts = CLIENT_ATTEMPTS if address.startswith("ray://") else 1
    for attempt in range(1, attempts + 1):
        try:
            ray.init(address=address, **options)
            return
        except ConnectionAbortedError:
            if attempt == attempts:
                raise
            ray.shutdown()  # whatever the failed connection left behind


def _check_dashboard() -> None:
    """Ray's dashboard needs ``ray[default]``; without it Ray fails with a traceback."""
    try:
        import ray.dashboard.optional_deps  # noqa: F401
    except ImportError as exc:
        raise ClusterError(f"--dashboard needs Ray's dashboard packages ({exc.name} is "
                           "missing): pip install 'ray[default]'") from None


@dataclass(frozen=True)
class WorkerStatus:
    """What a poll of a worker answers; ``version`` counts the worker's updates,
    ``intervals`` are the statistics intervals closed since the poller's last look."""

    version: int
    progress: Progress | None
    live: LiveCounts | None
    result: LoadResult | None
    error: str | None
    intervals: tuple[LoadInterval, ...] = ()


class LoadWorker:
    """One slice of a load in a Ray actor: its own process, its own reactor.

    The reactor runs in a thread of the actor; :meth:`poll` answers from other threads
    as soon as the run has news (a progress snapshot, its result, its failure).
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._status = WorkerStatus(0, None, None, None, None)
        self._thread: threading.Thread | None = None
        self._closed: list[LoadInterval] = []  # the run's result.intervals (closed ones)

    def info(self) -> tuple[str, str, int]:
        """Where this worker runs: node id, node address, process id."""
        context = ray.get_runtime_context()
        return context.get_node_id(), ray.util.get_node_ip_address(), os.getpid()

    def start(self, config: LoadConfig, interval: float) -> None:
        """Start the slice on a reactor of this process's own; returns at once."""
        if self._thread is not None:
            raise RuntimeError("a worker runs one load")
        self._thread = threading.Thread(target=self._run, args=(config, interval),
                                        name="load-reactor", daemon=True)
        self._thread.start()

    def poll(self, seen: int, have: int, wait: float) -> WorkerStatus:
        """The status once it is newer than version ``seen`` (or after ``wait`` s), with
        the intervals closed after the first ``have``."""
        with self._changed:
            self._changed.wait_for(lambda: self._status.version > seen, timeout=wait)
            status = self._status
        # Closed intervals are never changed again; the list only grows.
        return dataclasses.replace(status, intervals=tuple(self._closed[have:]))

    def _update(self, **changes: Any) -> None:
        with self._changed:
            self._status = dataclasses.replace(self._status, version=self._status.version + 1,
                                               **changes)
            self._changed.notify_all()

    def _run(self, config: LoadConfig, interval: float) -> None:
        from twisted.internet import reactor as global_reactor  # this process's one reactor

        reactor = cast(IReactor, global_reactor)
        tune_gc()
        runner = LoadRunner(reactor, config, progress_interval=interval)
        self._closed = runner.result.intervals
        tracker = LiveTracker(runner)
        runner.progress = lambda snapshot: self._update(progress=snapshot,
                                                        live=tracker.snapshot())

        async def go() -> None:
            try:
                result = await runner.run()
            finally:
                await runner.stop()
            self._update(live=tracker.snapshot(), result=result)

        def failed(failure: Any) -> None:
            self._update(error=f"its run failed: {failure.getErrorMessage()}")

        d = defer.ensureDeferred(go())
        d.addErrback(failed)
        d.addBoth(lambda _: reactor.stop())
        reactor.run(installSignalHandlers=False)  # type: ignore[call-arg]


RemoteWorker: Any = ray.remote(max_concurrency=4)(LoadWorker)  # type: ignore[call-overload]


def _placements(plan: WorkerPlan) -> list[dict[str, Any]]:
    """Ray options of each worker: any CPU locally; pinned to its node on a cluster."""
    if plan.cluster is None:
        return [{"num_cpus": 1} for _ in range(plan.workers)]
    nodes = sorted((n for n in ray.nodes() if n.get("Alive")
                    and n.get("Resources", {}).get("CPU", 0) > 0),
                   key=lambda n: (n["NodeManagerAddress"], n["NodeID"]))
    if not nodes:
        raise ClusterError("the Ray cluster has no node with CPUs to run workers on")
    return [{"num_cpus": 0, "scheduling_strategy":
             NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)}
            for node in nodes for _ in range(plan.workers_per_node)]


def drive(config: LoadConfig, plan: WorkerPlan, *,
          progress: Callable[[Progress], None] | None, progress_interval: float,
          live: Callable[[LiveCounts], None] | None,
          started: Callable[[list[WorkerInfo]], None] | None) -> WorkersRun:
    """Place, start, follow and merge the workers of one run (see the module docstring)."""
    begun = time.monotonic()
    placements = _placements(plan)
    total = len(placements)
    if total > config.endpoints:
        raise ClusterError(f"{total} workers for {config.endpoints} endpoints: give each "
                           "worker at least one endpoint")
    actors = [RemoteWorker.options(**options).remote()
              for options in placements]
    try:
        where = ray.get([actor.info.remote() for actor in actors], timeout=START_TIMEOUT)
    except GetTimeoutError:
        _kill(actors)
        raise ClusterError(f"the {total} workers were not ready within {START_TIMEOUT:g} s "
                           "(not enough resources on the cluster?)") from None
    except RayError as exc:
        _kill(actors)
        raise ClusterError(f"a worker did not start: {_reason(exc)}") from None
    parts = []
    infos = []
    for index, (node, address, pid) in enumerate(where):
        part = config.slice(index, total)
        if not plan.local:  # each worker sources its traffic from its node's address
            part = dataclasses.replace(part, local_host=address)
        parts.append(part)
        infos.append(WorkerInfo(index, part.user(0), part.user(part.endpoints - 1),
                                part.endpoints, node, address, pid))
    ready = time.monotonic() - begun
    if started is not None:
        started(infos)
    try:
        starts = [actor.start.remote(part, progress_interval)
                  for actor, part in zip(actors, parts, strict=True)]
        failed = {}
        for index, ref in enumerate(starts):  # a worker may be lost before it starts
            try:
                ray.get(ref, timeout=START_TIMEOUT)
            except RayError as exc:
                failed[index] = _reason(exc)
        bound = (min(config.duration or config.time_limit, config.time_limit)
                 + config.drain_seconds + MARGIN)
        results, lost = _follow(actors, parts, bound, progress_interval, progress, live,
                                failed)
    finally:
        _kill(actors)
    merged = merge_results(results)
    merged.workers = total
    return WorkersRun(merged, infos, lost, ready=ready, parts=results)


def _follow(actors: list[Any], parts: list[LoadConfig], bound: float, interval: float,
            progress: Callable[[Progress], None] | None,
            live: Callable[[LiveCounts], None] | None, failed: dict[int, str],
            ) -> tuple[list[LoadResult], list[LostWorker]]:
    """Follow every worker until each has a result or is lost; their results in order.

    ``failed`` are the workers lost before they started, with the reason.

    Each worker has one poll outstanding, answered as soon as it has news; the display
    and the metrics get the sums at every answer.
    """
    begun = time.monotonic()
    deadline = begun + bound
    latest: dict[int, Progress] = {}
    counts: dict[int, LiveCounts] = {}
    results: dict[int, LoadResult] = {}
    lost: dict[int, LostWorker] = {}
    received: dict[int, list[LoadInterval]] = {i: [] for i in range(len(actors))}
    wait = max(interval * 2, 1.0)
    pending = {actor.poll.remote(0, 0, wait): index for index, actor in enumerate(actors)
               if index not in failed}

    def lose(index: int, reason: str) -> None:
        after = time.monotonic() - begun
        lost[index] = LostWorker(index, reason, after)
        gone = lost_result(parts[index], index, latest.get(index), reason, received[index])
        results[index] = gone
        latest[index] = Progress(after, gone.attempted, gone.succeeded, gone.failed, 0,
                                 done=True)
        counts[index] = dataclasses.replace(counts.get(index, LiveCounts()), in_flight=0,
                                            lost=1, unfinished=gone.unfinished)

    for index, reason in failed.items():
        lose(index, reason)
    while pending:
        timeout = min(POLL_TIMEOUT, max(deadline - time.monotonic(), 0.0))
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=timeout)
        if not ready:
            if time.monotonic() >= deadline:
                for index in sorted(pending.values()):
                    lose(index, f"still running after {bound:.0f} s")
                pending.clear()
            continue
        for ref in ready:
            index = pending.pop(ref)
            try:
                status: WorkerStatus = ray.get(ref)
            except RayError as exc:
                lose(index, _reason(exc))
                continue
            received[index].extend(status.intervals)
            if status.progress is not None:
                latest[index] = status.progress
            if status.live is not None:
                counts[index] = status.live
            if status.result is not None:
                results[index] = status.result
            elif status.error is not None:
                lose(index, status.error)
            else:
                pending[actors[index].poll.remote(status.version, len(received[index]),
                                                  wait)] = index
        if progress is not None and latest:
            progress(Progress.total([_final(latest.get(i), i in results)
                                     for i in range(len(actors))]))
        if live is not None:
            live(LiveCounts.total(list(counts.values())))
    return [results[i] for i in range(len(actors))], [lost[i] for i in sorted(lost)]


def _final(progress: Progress | None, finished: bool) -> Progress:
    """A worker's last progress, done once its result is in (or it is lost)."""
    if progress is None:
        return Progress(0.0, 0, 0, 0, 0, done=finished)
    return dataclasses.replace(progress, done=finished,
                               in_flight=0 if finished else progress.in_flight)


def _kill(actors: list[Any]) -> None:
    for actor in actors:
        try:
            ray.kill(actor)
        except RayError:
            pass


def _reason(exc: BaseException) -> str:
    """Ray's explanation in one line (its messages run over many)."""
    if isinstance(exc, RayActorError):
        text = str(exc)
        for marker in ("The actor died", "The actor is dead", "died because",
                       "The node", "The worker"):
            at = text.find(marker)
            if at >= 0:
                return text[at:].splitlines()[0].strip()
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
