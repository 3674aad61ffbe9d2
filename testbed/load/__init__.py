"""Load: many endpoints registering or calling at a rate, with counts, rates and latencies.

    config = LoadConfig(registrar=uri, transport="udp", endpoints=1000, rate=2000,
                        duration=10, password="secret")
    result = await run_load(reactor, config)                   # one process, one reactor
    result = run_workers(config, workers=2)                    # K processes, merged
    print(result.summary()); result.to_json()

``load_step`` is the scenario step (the runner is handed it: ``steps={"load":
load_step}``); ``ServerProcess`` runs our registrar (and a DNS server for AUTO) in a
process of its own, for ``testbed load --server-process`` and the benchmarks. The
``testbed load`` command line lives with the other commands, in :mod:`testbed.cli`.
"""

from ._engine import LoadRunner, run_load
from ._load_config import CONNECTION_MODES, DEFAULT_TIME_LIMIT, OPERATIONS, LoadConfig
from ._processes import ProcessError, stop_process, tune_gc
from ._progress import ProgressDisplay
from ._quiet_trace import QuietTrace
from ._server_process import ServerProcess, ServerSpec, sip_zone
from ._stats import PERCENTILES, LatencySummary, LoadResult, Progress, percentile
from ._step import load_step
from ._workers import run_workers

__all__ = [
    "CONNECTION_MODES", "DEFAULT_TIME_LIMIT", "OPERATIONS", "PERCENTILES", "LatencySummary",
    "LoadConfig", "LoadResult", "LoadRunner", "ProcessError", "Progress", "ProgressDisplay",
    "QuietTrace", "ServerProcess", "ServerSpec", "load_step", "percentile", "run_load",
    "run_workers", "sip_zone", "stop_process", "tune_gc",
]
