"""The ``load`` step of a scenario: the world's client, many times over.

The step takes the scenario client's settings (registrar URI, transport mode, trust,
DNS, hosts, password, timers) and runs a load with ``endpoints`` users
``{user_prefix}0..`` on the world's reactor. When the client has a password, those
users are added to the target registrar with it, so digest works for every endpoint.
The step's :class:`Outcome` is ok when every operation succeeded; its ``load``
is the result as JSON data, for reports. Scenario loads are meant to be small (the
world's trace keeps every message for the ladder and the pcap): big loads belong to
``testbed load``. The scenario runner does not know this step by itself: the command
line and the pytest plugin hand it over, ``run(..., steps={"load": load_step})``.

``workers: K`` runs the load on K workers of a local Ray runtime, ``cluster: ADDRESS``
on a Ray cluster (``workers`` per node, default 1), in a thread of the world's reactor
(:func:`run_workers`); the registrar stays in the world. A lost worker makes the step
fail, with the reason.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet import threads

from testbed.client import ClientConfig, Outcome
from testbed.scenario import World
from testbed.sip import parse_duration

from ._engine import run_load
from ._load_config import LoadConfig
from ._plan import WorkerPlan
from ._processes import ProcessError
from ._stats import LoadResult
from ._workers import run_workers

SCENARIO_TIME_LIMIT = 60.0


def step_config(client: ClientConfig, body: dict[str, Any]) -> LoadConfig:
    """The :class:`LoadConfig` of a ``load`` step for the world's client configuration."""
    duration = parse_duration(body["duration"]) if "duration" in body else None
    return LoadConfig(
        registrar=client.registrar, transport=client.transport, endpoints=body["endpoints"],
        rate=body.get("rate"), duration=duration,
        count=body.get("count"), operation=body.get("operation", "register"),
        user_prefix=body.get("user_prefix", "alice"), domain=client.aor.host,
        password=client.password, expires=client.expires, window=body.get("window"),
        connections=body.get("connections", "shared"), timers=client.timers,
        time_limit=SCENARIO_TIME_LIMIT if duration is None else min(duration, SCENARIO_TIME_LIMIT),
        ca_file=client.ca_file, ca_pem=client.ca_pem, insecure=client.insecure,
        server_name=client.server_name, ws_path=client.ws_path, dns=list(client.dns),
        hosts=dict(client.hosts), local_host=client.local_host,
        connect_timeout=client.connect_timeout, seed=client.seed)


async def load_step(world: World, body: dict[str, Any]) -> Outcome:
    """Run a scenario's ``load`` step on ``world``; an :class:`Outcome` named "load"."""
    assert world.agent is not None, "the world starts its client"
    config = step_config(world.agent.config, body)
    names = list(world.registrars)
    registrar = world.registrars[body.get("registrar") or names[0]]
    if config.password is not None:
        for index in range(config.endpoints):
            registrar.add_account(config.user(index), config.password)
    started = world.reactor.seconds()
    lost: list[str] = []
    if "workers" in body or "cluster" in body:
        try:
            result = await _on_ray(world, config, body, lost)
        except ProcessError as exc:  # the runtime or cluster is not there: one line
            return Outcome("load", False, f"load on Ray: {exc}", error="error",
                           started=started, ended=world.reactor.seconds())
    else:
        result = await run_load(world.reactor, config)
    ok = result.attempted > 0 and result.failed == 0 and result.unfinished == 0 and not lost
    error = None if ok else (result.errors.most_common(1)[0][0] if result.errors
                             else "error" if lost else "timeout" if result.unfinished
                             else "error")
    transports = sorted(result.latencies)
    summary = "; ".join([result.summary().replace("\n", "; ").replace("  ", " "), *lost])
    return Outcome("load", ok, summary,
                   error=error, transport=transports[0] if len(transports) == 1 else None,
                   started=started, ended=world.reactor.seconds(),
                   load=result.to_json())


async def _on_ray(world: World, config: LoadConfig, body: dict[str, Any],
                  lost: list[str]) -> LoadResult:
    """The step's load on Ray workers, driven from a thread of the world's reactor."""
    cluster = body.get("cluster")
    workers = body.get("workers", 1)
    plan = (WorkerPlan(workers=workers) if cluster is None
            else WorkerPlan(cluster=cluster, workers_per_node=workers))
    reactor: Any = cast(Any, world.reactor)  # a running reactor: it has a thread pool
    outcome = await threads.deferToThreadPool(reactor, reactor.getThreadPool(), run_workers,
                                              config, plan)
    lost.extend(f"worker {w.index} lost: {w.reason}" for w in outcome.lost)
    return outcome.result
