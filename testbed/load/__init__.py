"""Load: many endpoints registering or calling at a rate, with counts, rates and latencies.

    config = LoadConfig(registrar=uri, transport="udp", endpoints=1000, rate=2000,
                        duration=10, password="secret")
    result = await run_load(reactor, config)                   # one process, one reactor
    run = run_workers(config, WorkerPlan(workers=2))           # K Ray workers, merged
    run = run_workers(config, WorkerPlan(cluster="ray://head:10001"))   # a Ray cluster
    result = run_processes(config, 2)        # 2 plain local processes, merged (the bench)
    run.result, run.lost, run.startup
    print(result.summary()); result.to_json()
    result.intervals                  # LoadInterval per config.stats_interval seconds
    merged = merge_results([a, b])    # exact: counts, statuses, histograms, intervals
    write_stats_csv(result, "stats.csv")   # one row per interval, like SIPp's -trace_stat

``load_step`` is the scenario step (the runner is handed it: ``steps={"load":
load_step}``); ``ServerProcess`` runs our registrar (and a DNS server for AUTO) in a
process of its own, for ``testbed load --server-process`` and the benchmarks. Ray is
imported only when :func:`run_workers` runs (never by a single-process run);
:class:`LoadMetrics` serves live counts to Prometheus. The
``testbed load`` command line lives with the other commands, in :mod:`testbed.cli`.
"""

from typing import TYPE_CHECKING, Any

from ._engine import LoadRunner, run_load
from ._histogram import BUCKETS_PER_DECADE, LatencyHistogram
from ._live import BUCKETS, LiveCounts, LiveTracker, cumulative
from ._load_config import (
    CONNECTION_MODES,
    DEFAULT_TIME_LIMIT,
    MIN_STATS_INTERVAL,
    OPERATIONS,
    LoadConfig,
)
from ._load_process import run_processes
from ._plan import ClusterError, LostWorker, WorkerInfo, WorkerPlan, WorkersRun, cluster_endpoint
from ._processes import ProcessError, rss_kib, stop_process, tune_gc
from ._progress import ProgressDisplay
from ._quiet_trace import QuietTrace
from ._server_process import ServerProcess, ServerSpec, sip_zone
from ._stats import (
    PERCENTILES,
    LatencySummary,
    LoadInterval,
    LoadResult,
    Progress,
    merge_results,
    percentile,
)
from ._stats_csv import stats_csv_columns, stats_csv_rows, write_stats_csv
from ._step import load_step
from ._workers import run_workers

__all__ = [
    "BUCKETS", "BUCKETS_PER_DECADE", "CONNECTION_MODES", "ClusterError", "DEFAULT_TIME_LIMIT",
    "LatencyHistogram", "LatencySummary", "LiveCounts", "LiveTracker", "LoadConfig",
    "LoadInterval", "LoadMetrics", "LoadResult", "LoadRunner", "LostWorker",
    "MIN_STATS_INTERVAL", "OPERATIONS", "PERCENTILES", "ProcessError", "Progress",
    "ProgressDisplay", "QuietTrace", "RayRuntime", "ServerProcess", "ServerSpec", "WorkerInfo",
    "WorkerPlan", "WorkersRun", "cluster_endpoint", "cumulative", "load_step", "merge_results",
    "percentile", "rss_kib", "run_load", "run_processes", "run_workers", "sip_zone",
    "stats_csv_columns", "stats_csv_rows", "stop_process", "tune_gc", "write_stats_csv",
]

if TYPE_CHECKING:
    from ._metrics import LoadMetrics
    from ._ray_actors import RayRuntime


def __getattr__(name: str) -> Any:
    """:class:`LoadMetrics` imports prometheus-client (only ``--prometheus`` needs it),
    :class:`RayRuntime` imports Ray (only runs on Ray need it): both on first use."""
    if name == "LoadMetrics":
        from ._metrics import LoadMetrics

        return LoadMetrics
    if name == "RayRuntime":
        from ._ray_actors import RayRuntime

        return RayRuntime
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
