"""The ``ray`` phase: load rate on 1 and 2 local Ray workers, and Ray's start-up time.

One local Ray runtime serves the phase (its start-up, ``ray.init`` until usable, is
measured once); each run then places its workers (actors: a process and a reactor each,
the "ready" time) and runs the load against our registrar in a process of its own. The
same load in this process, without Ray, is the baseline of the same run. On a 2-core
machine the registrar and two workers share the cores: two workers show the machine's
ceiling, not twice the rate.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Protocol

from testbed import load
from testbed.load import (
    LoadConfig,
    ServerProcess,
    ServerSpec,
    WorkerPlan,
    WorkersRun,
    run_load,
    run_workers,
)
from testbed.sip import SipUri, parse_uri

WORKERS = (1, 2)


class _Bench(Protocol):
    args: Any
    reactor: Any

    def say(self, text: str) -> None: ...

    async def blocking(self, function: Any, *args: Any, **kwargs: Any) -> Any: ...


async def ray_phase(bench: _Bench, endpoints: int, window: int) -> dict[str, Any]:
    """Figures of the phase (see the module docstring)."""
    out: dict[str, Any] = {}
    spec = ServerSpec(transports=("udp",), domain="example.com")
    with ServerProcess(spec) as server:
        uri = parse_uri(server.uri("UDP"))
        assert isinstance(uri, SipUri), uri
        config = LoadConfig(registrar=uri, transport="udp", endpoints=endpoints,
                            window=window, duration=bench.args.seconds, domain="example.com",
                            drain=10.0)
        # The baseline first: once Ray runs, this process has Ray's threads too.
        rates = []
        for _ in range(bench.args.runs):
            rates.append((await run_load(bench.reactor, config)).rate_achieved)
        out["in_process"] = {"rate": statistics.median(rates), "runs": rates}
        bench.say(f"  our client in this process (no Ray) → our registrar, UDP "
                  f"{statistics.median(rates):>7,.0f}/s   runs: "
                  + ", ".join(f"{r:,.0f}" for r in rates))
        runtime = load.RayRuntime(WorkerPlan(workers=max(WORKERS)))  # imports Ray: only here
        await bench.blocking(runtime.__enter__)
        try:
            out["startup_s"] = round(runtime.startup, 3)
            bench.say(f"  Ray local runtime start-up {runtime.startup:>32.2f} s")
            for workers in WORKERS:
                out[str(workers)] = await _on_workers(bench, config, workers)
        finally:
            begun = time.monotonic()
            await bench.blocking(runtime.__exit__, None, None, None)
            out["shutdown_s"] = round(time.monotonic() - begun, 3)
    one, two = out.get("1", {}).get("rate"), out.get("2", {}).get("rate")
    out["ratio_2_to_1"] = two / one if one and two else None
    return out


async def _on_workers(bench: _Bench, config: LoadConfig, workers: int) -> dict[str, Any]:
    runs: list[WorkersRun] = []
    for _ in range(bench.args.runs):
        runs.append(await bench.blocking(run_workers, config, workers))
    rates = [r.result.rate_achieved for r in runs]
    ready = [r.ready for r in runs]
    bench.say(f"  our client on {workers} Ray worker{'s' * (workers > 1)} → our "
              f"registrar, UDP {statistics.median(rates):>10,.0f}/s   runs: "
              + ", ".join(f"{r:,.0f}" for r in rates)
              + f"   (workers ready in {statistics.median(ready):.2f} s)")
    return {"rate": statistics.median(rates), "ready_s": round(statistics.median(ready), 3),
            "runs": [{"rate": r.result.rate_achieved, "succeeded": r.result.succeeded,
                      "failed": r.result.failed, "unfinished": r.result.unfinished,
                      "lost": len(r.lost), "ready_s": round(r.ready, 3)} for r in runs]}


def ray_rows(phase: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """The table's lines for the phase: (figure, ours, reference, ratio, target)."""
    rows = []
    if "in_process" in phase:
        rows.append(("REGISTER/s in this process (no Ray), UDP",
                     f"{phase['in_process']['rate']:,.0f}", "", "", ""))
    if "startup_s" in phase:
        rows.append(("Ray local runtime start-up (s)", f"{phase['startup_s']:.2f}", "", "", ""))
    for workers in WORKERS:
        entry = phase.get(str(workers))
        if isinstance(entry, dict):
            ratio = phase.get("ratio_2_to_1") if workers == 2 else None
            rows.append((f"REGISTER/s on {workers} Ray worker{'s' * (workers > 1)}, UDP",
                         f"{entry['rate']:,.0f}", "1 worker" if ratio else "",
                         f"{ratio:.2f}x" if ratio else "", ""))
    return rows
