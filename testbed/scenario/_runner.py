"""Running a scenario: build its world, run its steps, compare expectations, tear down.

``await run(scenario, reactor)`` returns a :class:`ScenarioResult`; it never raises for
anything a scenario can cause (a world that cannot be built is a failed result with
one clear line). The same function serves ``testbed run``, ``make run`` and pytest.

Each step kind has a handler, ``await handler(world, body)``, which returns the
:class:`Outcome` to judge (or None for a step with nothing to judge, such as ``wait``).
The client's own operations are built in; layers above this one add theirs through
``run(..., steps={"load": load_step})``, so the runner never imports them.

A run can be cancelled (``testbed run`` does so at SIGINT/SIGTERM): cancelling the
Deferred of ``ensureDeferred(run(...))`` cancels the step in flight, stops the world
(every socket and timer it opened) and then fails with ``CancelledError``; there is
no result, since the scenario did not run to its end.

A real client program under test that is not installed makes a ``skipped`` result
with the install command, or a failed one when ``CI`` is set; one that exits at once
or during a step ends the scenario: one line and the program's output tail.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet import defer, task
from twisted.python.failure import Failure

from servers.dns import QueryLogEntry
from servers.faults import FaultRecord
from testbed.client import Outcome, UserAgent
from testbed.diagnosis import Diagnosis, diagnose
from testbed.reactor import IReactor
from testbed.sip import Response, SipUri, fmt_hostport, parse_duration, parse_uri
from testbed.transport import Capture, TraceEvent, TransactionFailed

from ._expect import check_diagnosis, check_outcome
from ._loader import Scenario
from ._program_client import ClientGone, ProgramClient
from ._validation import substitute
from ._world import ClientMissing, Endpoint, World, WorldError

CI_VARIABLE = "CI"
"""Set in the environment (as CI sets it), a missing client program fails the scenario
instead of skipping it."""

StepHandler = Callable[[World, Any], Awaitable[Outcome | None]]
"""Runs one kind of step on a world: ``await handler(world, body)``; the outcome, if any."""


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
    skipped: str | None = None  # why it did not run (a client program not installed)
    trace_events: list[TraceEvent] = field(default_factory=list)
    capture: Capture | None = None
    names: dict[str | tuple[str, int], str] = field(default_factory=dict)
    dns_log: list[QueryLogEntry] = field(default_factory=list)
    fault_log: list[FaultRecord] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)

    @property
    def outcomes(self) -> list[Outcome]:
        return [s.outcome for s in self.steps if s.outcome is not None]


def _step_kind(step: str | dict[str, Any]) -> tuple[str, Any]:
    if isinstance(step, str):
        return step, {}
    ((kind, body),) = step.items()
    return kind, body if body is not None else {}


async def run(scenario: Scenario, reactor: IReactor, *, keylog_path: str | None = None,
              workdir: Path | None = None,
              steps: Mapping[str, StepHandler] | None = None) -> ScenarioResult:
    """Run ``scenario`` on ``reactor`` and judge it.

    ``steps`` adds (or replaces) step handlers by kind; ``keylog_path`` and ``workdir``
    are handed to the :class:`World`.
    """
    handlers = {**BUILT_IN_STEPS, **(steps or {})}
    world = World(scenario, reactor, keylog_path=keylog_path, workdir=workdir)
    started = reactor.seconds()
    results: list[StepResult] = []
    try:
        world.start()
    except WorldError as exc:
        await _stop_world(world)
        took = reactor.seconds() - started
        if isinstance(exc, ClientMissing) and not os.environ.get(CI_VARIABLE):
            return ScenarioResult(scenario, False, [], None, [], took,
                                  skipped=f"{exc} (skipped)", endpoints=world.endpoints)
        lines = [str(exc)] + ([f"  | {line}" for line in exc.tail.splitlines()]
                              if exc.tail else [])
        if isinstance(exc, ClientMissing):
            lines[0] += " (CI is set: a missing client program fails)"
        return ScenarioResult(scenario, False, [], None, [f"world: {lines[0]}", *lines[1:]],
                              took, error=lines[0], endpoints=world.endpoints)
    gone: ClientGone | None = None
    try:
        for index, step in enumerate(scenario.data["steps"]):
            try:
                results.append(await _run_step(world, handlers, index, step))
            except ClientGone as exc:
                gone = exc
                break
    finally:
        await _stop_world(world)
    if gone is None and world.program is not None and world.program.exited_by_itself:
        gone = ClientGone(world.program.exited_by_itself, world.program.tail())
    outcomes = [s.outcome for s in results if s.outcome is not None]
    agent_config = world.agent.config if world.agent else None
    limit = (agent_config.path_mtu - 200) if agent_config and agent_config.path_mtu else 1300
    diagnosis = None if gone is not None else diagnose(outcomes, mode=scenario.mode,
                                                        large_limit=limit)
    failures = [f for s in results for f in s.failures]
    expected = scenario.data.get("expect", {}).get("diagnosis")
    if gone is not None:
        failures = [*gone.lines(), *failures]
    elif expected and diagnosis is not None:
        failures += check_diagnosis(expected, diagnosis)
    return ScenarioResult(scenario, not failures, results, diagnosis, failures,
                          reactor.seconds() - started, trace_events=list(world.trace.events),
                          error=gone.reason if gone is not None else None,
                          dns_log=world.dns_log, fault_log=world.fault_log,
                          endpoints=world.endpoints, capture=world.capture, names=world.names)


async def _stop_world(world: World) -> None:
    """Stop ``world`` to its end, even when the run is cancelled while it stops.

    A cancellation that arrives during the stop would otherwise cut it halfway and
    leave the rest of the world listening; it is raised once the world has stopped.
    """
    stopped: list[object] = []
    waiting: list[defer.Deferred[None]] = []

    def done(result: object) -> None:
        stopped.append(result)
        for waiter in waiting:
            if not waiter.called:
                waiter.callback(None)

    defer.ensureDeferred(world.stop()).addBoth(done)
    cancelled = False
    while not stopped:
        waiter: defer.Deferred[None] = defer.Deferred()
        waiting.append(waiter)
        try:
            await waiter
        except defer.CancelledError:
            cancelled = True
    if isinstance(stopped[0], Failure):
        stopped[0].raiseException()
    if cancelled:
        raise defer.CancelledError()


async def _run_step(world: World, handlers: Mapping[str, StepHandler], index: int,
                    step: str | dict[str, Any]) -> StepResult:
    kind, body = _step_kind(step)
    handler = handlers.get(kind)
    if handler is None:
        return StepResult(index, kind, None, [
            f"steps[{index}].{kind}: this runner was not given a {kind!r} step "
            f"(testbed run and the pytest plugin give every kind)"])
    outcome = await handler(world, body)
    result = StepResult(index, kind, outcome)
    if outcome is not None and isinstance(body, dict) and "expect" in body:
        result.failures = [f"steps[{index}].{kind}.expect.{failure}"
                           for failure in check_outcome(body["expect"], outcome)]
    return result


def _agent(world: World) -> UserAgent:
    assert world.agent is not None, "the world starts its client"
    return world.agent


async def _register(world: World, body: dict[str, Any]) -> Outcome:
    agent = _agent(world)
    outcome: Outcome = await agent.register(body.get("expires"))
    if outcome.ok and agent.config.keepalive_interval and not agent.keepalives_running:
        agent.start_keepalives()
    return outcome


async def _unregister(world: World, body: dict[str, Any]) -> Outcome:
    outcome: Outcome = await _agent(world).unregister()
    return outcome


async def _options(world: World, body: dict[str, Any]) -> Outcome:
    outcome: Outcome = await _agent(world).options()
    return outcome


async def _keepalive(world: World, body: dict[str, Any]) -> None:
    agent = _agent(world)
    interval = (parse_duration(body["interval"]) if body.get("interval")
                else agent.config.keepalive_interval or world.timers.t1 * 10)
    agent.start_keepalives(interval)


async def _wait(world: World, body: float | str) -> None:
    await task.deferLater(world.reactor, parse_duration(body), lambda: None)


async def _call(world: World, body: dict[str, Any]) -> Outcome:
    agent = _agent(world)
    target = body.get("to") or f"sip:bob@{agent.config.registrar.host}"
    uri = parse_uri(substitute(str(target), world.public))
    assert isinstance(uri, SipUri)
    outcome: Outcome = await agent.call(uri, body.get("sdp_size"))
    if outcome.ok and body.get("hangup", True):
        assert outcome.call is not None and outcome.call.dialog is not None
        bye = await agent.hangup(outcome.call.dialog)
        outcome.call.bye = bye.summary
    return outcome


async def _inbound(world: World, body: dict[str, Any]) -> Outcome:
    """The registrar sends a request to the client's binding (NAT and keep-alive cases)."""
    agent = _agent(world)
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
               f"{fmt_hostport(where)} got no answer ({result.reason})"
               if where else f"inbound {method} failed: {result.reason}")
    return Outcome("inbound", False, summary,
                   error="timeout" if result.kind == "timeout" else "transport",
                   started=started, ended=ended, received=received)


def _program(world: World) -> ProgramClient:
    assert world.program is not None, "validation allows these steps only with a program"
    return world.program


async def _await_register(world: World, body: dict[str, Any]) -> Outcome:
    """Wait for the client program to register, judged from what our side saw."""
    return await _program(world).await_register(body or {})


async def _call_client(world: World, body: dict[str, Any]) -> Outcome:
    """Our registrar INVITEs the client program's binding over its registered flow."""
    return await _program(world).call_client(body or {})


async def _settle(world: World) -> None:
    """Let in-flight datagrams land before judging what the client received."""
    await task.deferLater(world.reactor, 0, lambda: None)
    await defer.succeed(None)


BUILT_IN_STEPS: Mapping[str, StepHandler] = {
    "register": _register, "unregister": _unregister, "options": _options,
    "keepalive": _keepalive, "wait": _wait, "call": _call, "inbound": _inbound,
    "await_register": _await_register, "call_client": _call_client,
}
"""The step kinds the runner knows by itself: the client's operations and waiting."""
