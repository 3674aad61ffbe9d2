"""The scenario ``load`` step (testbed.load.load_step) on a scenario's world."""

import pytest_twisted
from twisted.internet import reactor

from testbed.load import load_step
from testbed.scenario import World, parse

SCENARIO = """
name: load-step
troubleshooting: healthy
timers: {t1: 20ms}
registrars:
  - name: pbx
    listen: [{transport: tcp, port: 0}]
    users: {alice: secret}
client:
  transport: tcp
  registrar: sip:${pbx}:PORT;transport=tcp
  user: alice
  password: secret
steps: [register]
"""


@pytest_twisted.ensureDeferred
async def test_load_step_uses_the_worlds_client_and_registrar():
    # The registrar's port is only known once listening: bind first, then point at it.
    scenario = parse(SCENARIO.replace("port: 0", "port: 45871").replace("PORT", "45871"),
                     "load-step.yaml")
    world = World(scenario, reactor)
    world.start()
    try:
        outcome = await load_step(world, {"endpoints": 10, "count": 30})
    finally:
        await world.stop()
    assert outcome.ok, outcome.summary
    assert outcome.operation == "load" and outcome.transport == "TCP"
    data = outcome.load
    assert (data["attempted"], data["succeeded"], data["failed"]) == (30, 30, 0)
    registrar = world.registrars["pbx"]
    assert "alice9" in registrar.config.users  # the step added its users
    assert len(registrar.location.bindings) == 10
