"""Running a scenario: build its world, run its steps, compare expectations, tear down.

``await run(scenario, reactor)`` returns a :class:`ScenarioResult`; it never raises for
anything a scenario can cause (a world that cannot be built is a failed result with
one clear line). The same function serves ``testbed run``, ``make run`` and pytest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.internet import defer, task

from testbed.client import Outcome
from testbed.diagnosis import Diagnosis, diagnose
from testbed.sip import Response
from testbed.transport import TransactionFailed

from ._expect import check_diagnosis, check_outcome
from ._model import Scenario
from ._world import World, WorldError, seconds


@dataclass
class StepResult:
    """One step, what came of it, and the expectations it failed."""

    index: int
    kind: str
    outcome: Outcome | None
    failures: list[str] = field(default_factory=list)


@dataclass
class ScenarioResult:
    """Everything a report needs about one run."""

    scenario: Scenario
    passed: bool
    steps: list[StepResult]
    diagnosis: Diagnosis | None
    failures: list[str]
    duration: float
    error: str | None = None
    trace_events: list = field(default_factory=list)
    capture: object = None
    names: dict = field(default_factory=dict)
    dns_log: list = field(default_factory=list)
    fault_log: list = field(default_factory=list)
    endpoints: list = field(default_factory=list)

    @property
    def outcomes(self) -> list[Outcome]:
        return [s.outcome for s in self.steps if s.outcome is not None]


def _step_kind(step: object) -> tuple[str, dict | object]:
    if isinstance(step, str):
        return step, {}
    assert isinstance(step, dict)
    ((kind, body),) = step.items()
    return kind, body if body is not None else {}


async def run(scenario: Scenario, reactor: object, *,
              keylog_path: str | None = None) -> ScenarioResult:
    """Run ``scenario`` on ``reactor`` and judge it."""
    world = World(scenario, reactor, keylog_path=keylog_path)
    started = reactor.seconds()
    steps: list[StepResult] = []
    try:
        world.start()
    except WorldError as exc:
        await world.stop()
        return ScenarioResult(scenario, False, [], None, [f"world: {exc}"],
                              reactor.seconds() - started, error=str(exc),
                              endpoints=world.endpoints)
    try:
        for index, step in enumerate(scenario.data["steps"]):
            steps.append(await _run_step(world, index, step))
    finally:
        await world.stop()
    outcomes = [s.outcome for s in steps if s.outcome is not None]
    agent_config = world.agent.config if world.agent else None
    limit = (agent_config.path_mtu - 200) if agent_config and agent_config.path_mtu else 1300
    diagnosis = diagnose(outcomes, mode=scenario.mode, large_limit=limit)
    failures = [f for s in steps for f in s.failures]
    expected = scenario.data.get("expect", {}).get("diagnosis")
    if expected:
        failures += check_diagnosis(expected, diagnosis)
    return ScenarioResult(scenario, not failures, steps, diagnosis, failures,
                          reactor.seconds() - started, trace_events=list(world.trace.events),
                          dns_log=world.dns_log, fault_log=world.fault_log,
                          endpoints=world.endpoints, capture=world.capture, names=world.names)


async def _run_step(world: World, index: int, step: object) -> StepResult:
    kind, body = _step_kind(step)
    agent = world.agent
    assert agent is not None
    outcome: Outcome | None = None
    if kind == "register":
        outcome = await agent.register(body.get("expires") if isinstance(body, dict) else None)
        if outcome.ok and agent.config.keepalive_interval and not agent.keepalives_running:
            agent.start_keepalives()
    elif kind == "unregister":
        outcome = await agent.unregister()
    elif kind == "options":
        outcome = await agent.options()
    elif kind == "keepalive":
        interval = seconds(body.get("interval")) if isinstance(body, dict) and body.get(
            "interval") else (agent.config.keepalive_interval or world.timers.t1 * 10)
        agent.start_keepalives(interval)
    elif kind == "wait":
        await task.deferLater(world.reactor, seconds(body), lambda: None)
    elif kind == "call":
        outcome = await _call(world, body)
    elif kind == "inbound":
        outcome = await _inbound(world, body)
    elif kind == "load":
        from testbed.load import load_step

        outcome = await load_step(world, body)
    result = StepResult(index, kind, outcome)
    if outcome is not None and isinstance(body, dict) and "expect" in body:
        result.failures = [f"steps[{index}].{kind}.expect.{failure}"
                           for failure in check_outcome(body["expect"], outcome)]
    return result


async def _call(world: World, body: dict) -> Outcome:
    from testbed.sip import SipUri, parse_uri

    from ._world import substitute

    agent = world.agent
    assert agent is not None
    target = body.get("to") or f"sip:bob@{agent.config.registrar.host}"
    uri = parse_uri(str(substitute(target, world.public)))
    assert isinstance(uri, SipUri)
    outcome = await agent.call(uri, body.get("sdp_size"))
    if outcome.ok and body.get("hangup", True):
        assert outcome.call is not None and outcome.call.dialog is not None
        bye = await agent.hangup(outcome.call.dialog)
        outcome.call.bye = bye.summary
    return outcome


async def _inbound(world: World, body: dict) -> Outcome:
    """The registrar sends a request to the client's binding (NAT and keep-alive cases)."""
    agent = world.agent
    assert agent is not None
    method = body.get("method", "OPTIONS")
    name = body.get("from") or world.scenario.data["registrars"][0]["name"]
    registrar = world.registrars[name]
    aor = f"sip:{agent.config.aor.user}@{agent.config.aor.host}"
    before = len([r for r in agent.inbound if r.method == method])
    started = world.reactor.seconds()
    results = await registrar.send_to_contact(aor, method)
    await _settle(world)
    received = len([r for r in agent.inbound if r.method == method]) > before
    ended = world.reactor.seconds()
    if not results:
        return Outcome("inbound", False, f"inbound {method} not sent: {aor} has no binding",
                       error="rejected", started=started, ended=ended,
                       received=received)
    result = results[0]
    if isinstance(result, Response):
        ok = result.status < 300
        summary = (f"inbound {method} from registrar {name} reached the client: "
                   f"{result.status} {result.reason}")
        return Outcome("inbound", ok, summary, status=result.status, reason=result.reason,
                       error=None if ok else "rejected", started=started, ended=ended,
                       received=received)
    assert isinstance(result, TransactionFailed)
    binding = registrar.bindings(aor)
    where = binding[0].source if binding else None
    summary = (f"inbound {method} from registrar {name} to the client's binding "
               f"{where[0]}:{where[1] if where else ''} got no answer ({result.reason})"
               if where else f"inbound {method} failed: {result.reason}")
    return Outcome("inbound", False, summary,
                   error="timeout" if result.kind == "timeout" else "transport",
                   started=started, ended=ended, received=received)


async def _settle(world: World) -> None:
    """Let in-flight datagrams land before judging what the client received."""
    await task.deferLater(world.reactor, 0, lambda: None)
    await defer.succeed(None)
