"""Load: many endpoints registering or calling at a rate, with counts, rates and latencies.

    config = LoadConfig(registrar="sip:127.0.0.7:5060", transport="udp", endpoints=1000,
                        rate=2000, duration=10, password="secret")
    result = await run_load(reactor, config)                   # one process, one reactor
    result = run_workers(config, workers=2)                    # K processes, merged
    print(result.summary()); result.to_json()

``ServerProcess`` runs our registrar (and a DNS server for AUTO) in a process of its
own; ``testbed load`` is the command line; ``load_step`` the scenario step. The
reactor-bound parts (``LoadRunner``, ``run_load``, ``QuietTrace``, ``load_step``) are
imported on first use, so the command line starts fast.
"""

from ._cli import add_load_command, config_from_args
from ._config import CONNECTION_MODES, DEFAULT_TIME_LIMIT, MODES, OPERATIONS, LoadConfig
from ._progress import ProgressDisplay
from ._serve import ProcessError, ServerProcess, ServerSpec, rss_kib
from ._stats import PERCENTILES, LatencySummary, LoadResult, Progress, percentile
from ._workers import run_workers

_LAZY = {"LoadRunner": "._engine", "run_load": "._engine", "QuietTrace": "._trace",
         "load_step": "._scenario", "step_config": "._scenario"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module, __name__), name)


__all__ = [
    "CONNECTION_MODES", "DEFAULT_TIME_LIMIT", "MODES", "OPERATIONS", "PERCENTILES",
    "LatencySummary", "LoadConfig", "LoadResult", "LoadRunner", "ProcessError", "Progress",
    "ProgressDisplay", "QuietTrace", "ServerProcess", "ServerSpec", "add_load_command",
    "config_from_args", "load_step", "percentile", "rss_kib", "run_load", "run_workers",
    "step_config",
]
