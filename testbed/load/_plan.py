"""Where and how the workers of a load run on Ray; what is left of a lost one.

:func:`run_workers` (:mod:`._workers`) splits the endpoints (and the rate and count) into slices
(:meth:`LoadConfig.slice`: users stay distinct) and runs each slice in a Ray actor that
owns one reactor in a process of its own (:mod:`._ray_actors`). The driver (this
process) waits until every worker is ready, starts them together, sums their progress
for the live display and their live counts for Prometheus, and merges their results
exactly. A :class:`WorkerPlan` says where: ``cluster=None`` starts a local Ray runtime
with ``workers`` workers; ``cluster="auto"``, ``"HOST:PORT"`` (a head's GCS) or
``"ray://HOST:10001"`` (Ray Client) runs ``workers_per_node`` workers on every node
with CPUs, each sourcing its traffic from its node's own address.

A worker or node lost mid-run does not lose the run: its slice is counted as
unfinished (:func:`lost_result`), the reason goes into the result's notes and into
:attr:`WorkersRun.lost`, and the others' results still merge. An address is checked
here (:func:`probe`) before Ray is given it. Nothing here imports Ray.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._load_config import LoadConfig
from ._processes import ProcessError
from ._stats import LoadInterval, LoadResult, Progress

START_TIMEOUT = 60.0
"""How long the workers may take to be placed, import everything and say they are ready."""
MARGIN = 30.0
"""Extra time the driver grants past a run's own bound before it gives a worker up."""
PROBE_TIMEOUT = 3.0
"""How long a cluster address may take to accept a TCP connection."""
RAY_CLIENT_PORT = 10001
_ADDRESS = re.compile(r"^(?:ray://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$")


class ClusterError(ProcessError):
    """The Ray runtime or cluster could not be started or reached; one line."""


@dataclass(frozen=True)
class WorkerPlan:
    """Where the workers of a load run.

    ``cluster`` None: a local Ray runtime with ``workers`` workers (``dashboard`` asks
    for Ray's dashboard, off by default). Otherwise a Ray address (``auto``,
    ``HOST:PORT``, ``ray://HOST[:10001]``) and ``workers_per_node`` workers on each
    node that has CPUs.
    """

    workers: int = 2
    cluster: str | None = None
    workers_per_node: int = 1
    dashboard: bool = False

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.workers_per_node < 1:
            raise ValueError("workers per node must be at least 1")
        if self.cluster is not None:
            cluster_endpoint(self.cluster)  # raises ValueError for a malformed address

    @property
    def local(self) -> bool:
        return self.cluster is None


def cluster_endpoint(address: str) -> tuple[str, int] | None:
    """The ``(host, port)`` a Ray address connects to; None for ``auto`` (found later).

    ``ray://HOST`` defaults to the Ray Client port 10001; a GCS address needs its port.
    """
    if address == "auto":
        return None
    match = _ADDRESS.match(address.strip())
    if match is None or (match.group(2) is None and not address.startswith("ray://")):
        raise ValueError(f"cluster address must be auto, HOST:PORT or ray://HOST[:PORT], "
                         f"not {address!r}")
    port = int(match.group(2) or RAY_CLIENT_PORT)
    if not 0 < port < 65536:
        raise ValueError(f"cluster address port must be 1..65535, not {port}")
    return match.group(1).strip("[]"), port


def auto_address(temp_dir: str = "/tmp/ray") -> str:
    """What Ray's ``auto`` means: ``RAY_ADDRESS``, else the cluster started on this machine."""
    given = os.environ.get("RAY_ADDRESS")
    if given and given != "auto":
        return given
    try:
        return (Path(temp_dir) / "ray_current_cluster").read_text(encoding="ascii").strip()
    except OSError:
        raise ClusterError("--cluster auto: no Ray cluster on this machine (start one with "
                           "`ray start --head`, or give its address)") from None


def probe(address: str, timeout: float = PROBE_TIMEOUT) -> str:
    """Check that ``address`` accepts a TCP connection; the address to give Ray.

    Ray itself retries an unreachable address for a minute or more: this fails in
    ``timeout`` seconds with one line instead.
    """
    resolved = auto_address() if address == "auto" else address
    try:
        endpoint = cluster_endpoint(resolved)
    except ValueError as exc:
        raise ClusterError(str(exc)) from None
    assert endpoint is not None, "auto was resolved"
    host, port = endpoint
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ClusterError(f"Ray cluster {resolved} cannot be reached: {why} "
                           f"(within {timeout:g} s)") from None
    return resolved


@dataclass(frozen=True)
class WorkerInfo:
    """A worker once placed: its slice, where it runs, the address it sources from."""

    index: int
    first_user: str
    last_user: str
    endpoints: int
    node: str
    address: str
    pid: int

    def describe(self) -> str:
        return (f"worker {self.index}: {self.first_user}..{self.last_user} on "
                f"{self.address} (pid {self.pid}, node {self.node[:8]})")


@dataclass(frozen=True)
class LostWorker:
    """A worker that gave no result: which, after how long, why."""

    index: int
    reason: str
    after: float


@dataclass
class WorkersRun:
    """What :func:`run_workers` gives: the merged result and how the workers fared.

    ``parts`` are the workers' own results (a lost worker's from :func:`lost_result`),
    ``startup`` the time to start (or connect to) the Ray runtime, ``ready`` the time
    from then until every worker was placed and ready to start.
    """

    result: LoadResult
    workers: list[WorkerInfo] = field(default_factory=list)
    lost: list[LostWorker] = field(default_factory=list)
    parts: list[LoadResult] = field(default_factory=list)
    startup: float = 0.0
    ready: float = 0.0
    runtime: str = ""

    @property
    def ok(self) -> bool:
        """True when every worker gave its result."""
        return not self.lost


def lost_result(part: LoadConfig, index: int, last: Progress | None, reason: str,
                intervals: Sequence[LoadInterval] = ()) -> LoadResult:
    """The result of a slice whose worker was lost.

    What the worker reported in whole ``intervals`` before it was lost is kept; every
    other operation of the slice is unfinished, in one more interval: with a count, the
    rest of the slice's count (the merged count stays the count asked for); with a
    duration only, the rest of what it had started when last heard from.
    """
    result = LoadResult(part.operation, part.transport, part.endpoints,
                        rate_requested=part.rate)
    for interval in intervals:
        result.fold(interval)
        result.attempted += interval.attempted
        result.succeeded += interval.succeeded
        result.failed += interval.failed
    started = max(last.attempted if last is not None else 0, result.attempted)
    attempted = max(part.count, started) if part.count is not None else started
    elapsed = max(last.elapsed if last is not None else 0.0,
                  intervals[-1].end if intervals else 0.0)
    rest = LoadInterval(len(intervals), intervals[-1].end if intervals else 0.0)
    rest.duration = elapsed - rest.start
    rest.attempted = attempted - result.attempted
    rest.unfinished = attempted - result.succeeded - result.failed - result.unfinished
    result.fold(rest)
    result.attempted = attempted
    result.elapsed = result.issuing = elapsed
    result.notes.append(f"worker {index} ({part.user(0)}..{part.user(part.endpoints - 1)}) "
                        f"lost: {reason}; {rest.unfinished} of its {attempted} operations "
                        "are counted as unfinished")
    return result
