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
"""

from __future__ import annotations

from typing import Any

from testbed.client import ClientConfig, Outcome
from testbed.scenario import World
from testbed.sip import parse_duration

from ._engine import run_load
from ._load_config import LoadConfig

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
    result = await run_load(world.reactor, config)
    ok = result.attempted > 0 and result.failed == 0 and result.unfinished == 0
    error = None if ok else (result.errors.most_common(1)[0][0] if result.errors
                             else "timeout" if result.unfinished else "error")
    transports = sorted(result.latencies)
    return Outcome("load", ok, result.summary().replace("\n", "; ").replace("  ", " "),
                   error=error, transport=transports[0] if len(transports) == 1 else None,
                   started=started, ended=world.reactor.seconds(),
                   load=result.to_json())
