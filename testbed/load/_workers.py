"""Several workers for one load, on Ray: a local runtime, or a cluster by its address.

:func:`run_workers` runs the slices of a load (:meth:`LoadConfig.slice`: users stay
distinct) in Ray actors, one reactor per process, where a :class:`WorkerPlan` says, and
merges their results exactly. Ray itself is imported by the first call (``import ray``
costs a second, which a single-process run must not pay).
"""

from __future__ import annotations

from collections.abc import Callable

from ._live import LiveCounts
from ._load_config import LoadConfig
from ._plan import WorkerInfo, WorkerPlan, WorkersRun
from ._stats import Progress


def run_workers(config: LoadConfig, plan: WorkerPlan | int, *,
                progress: Callable[[Progress], None] | None = None,
                progress_interval: float = 1.0,
                live: Callable[[LiveCounts], None] | None = None,
                started: Callable[[list[WorkerInfo]], None] | None = None,
                announce: Callable[[str], None] | None = None) -> WorkersRun:
    """Run ``config`` split over Ray workers (``plan``, or a number of local workers).

    ``progress`` gets the workers' summed :class:`Progress`, ``live`` their summed
    :class:`LiveCounts` (for Prometheus), both every ``progress_interval`` seconds;
    ``started`` the workers once they are placed; ``announce`` one line about the
    runtime once it is up. Blocking: a reactor runs it in a thread. A runtime or a
    cluster that cannot be reached raises :class:`ClusterError` (one line).
    """
    if isinstance(plan, int):
        plan = WorkerPlan(workers=plan)
    from . import _ray_actors  # Ray only once a run on Ray begins; see the docstring

    with _ray_actors.RayRuntime(plan) as runtime:
        if announce is not None:
            announce(runtime.describe())
        outcome = _ray_actors.drive(config, plan, progress=progress,
                                    progress_interval=progress_interval, live=live,
                                    started=started)
        outcome.startup = runtime.startup
        outcome.runtime = runtime.describe()
    return outcome
