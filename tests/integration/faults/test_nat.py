"""NAT bindings that expire: the registration still looks fine, but the registrar's
requests stop reaching the client after the idle period; keep-alives shorter than the
timeout keep the path open.

Waiting for the idle period: the NAT runs on the real reactor with a short timeout
(0.2 s) and the tests wait for the fault's own "expired" record (a Deferred, no sleep);
to show that keep-alives prevent expiry they wait for the client's n-th keep-alive,
which is also an event. One test drives a realistic 30 s NAT with an injected
``task.Clock`` instead, at no wall-time cost. The registrar's requests use T1 = 5 ms,
so a lost OPTIONS ends (Timer F) in 0.32 s.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import Clock

from testbed.sip import Response, Timers
from testbed.transport import TransactionFailed

from .conftest import AOR, QUICK, logged

NAT = {"kind": "nat", "timeout": "200ms"}
REGISTRAR = {"timers": Timers(t1=0.005, t2=0.04, t4=0.05)}  # Timer F = 0.32 s
MODES = [("udp", "UDP"), ("tcp", "TCP")]


def nth(trace, kind: str, n: int):
    """A Deferred of the n-th trace event of ``kind`` (past or future)."""
    seen: list = []

    def predicate(event) -> bool:
        if event.kind == kind:
            seen.append(event)
        return len(seen) >= n

    return trace.wait_for(predicate).addTimeout(5, reactor)


async def options_to_client(registrar):
    (result,) = await registrar.send_to_contact(AOR, "OPTIONS")
    return result


@pytest.mark.parametrize("mode, transport", MODES)
@pytest_twisted.ensureDeferred
async def test_inbound_requests_stop_arriving_after_the_binding_expires(pool, agents, mode,
                                                                         transport):
    scene = pool.scene(agents, NAT, mode, transports=(transport,), registrar_options=REGISTRAR)
    registered = await scene.agent.register()
    assert registered.ok, registered.summary
    (binding,) = scene.registrar.bindings(AOR)
    assert binding.source[0] == scene.host  # the registrar sees the proxy, not the client

    before = await options_to_client(scene.registrar)  # well within the 0.2 s
    expired = await logged(scene.fault, action="expired")
    after = await options_to_client(scene.registrar)

    assert isinstance(before, Response) and before.status == 200
    assert isinstance(after, TransactionFailed) and after.kind == "timeout"
    assert [r.method for r in scene.agent.inbound] == ["OPTIONS"]  # only the first arrived
    assert scene.agent.registration.flow is not None  # the client still thinks all is well
    assert expired.transport == transport and expired.source == scene.agent.registration.flow.local
    lost = scene.fault.log.of("dropped", direction="to-client")
    assert lost and all("no binding" in r.detail for r in lost)


@pytest_twisted.ensureDeferred
async def test_after_expiry_the_next_outbound_datagram_gets_a_new_external_port(pool, agents):
    scene = pool.scene(agents, NAT, "udp", registrar_options=REGISTRAR)
    assert (await scene.agent.register()).ok
    (first,) = scene.registrar.bindings(AOR)
    await logged(scene.fault, action="expired")

    again = await scene.agent.register()  # e.g. the next refresh
    (second,) = scene.registrar.bindings(AOR)
    reached = await options_to_client(scene.registrar)

    assert again.ok
    assert first.source != second.source and second.source[0] == scene.host
    assert isinstance(reached, Response) and reached.status == 200
    made = scene.fault.log.of("new-binding")
    assert [r.destination for r in made] == [first.source, second.source]


@pytest.mark.parametrize("mode, transport", MODES)
@pytest_twisted.ensureDeferred
async def test_keepalives_shorter_than_the_timeout_keep_the_path_open(pool, agents, mode,
                                                                       transport):
    scene = pool.scene(agents, NAT, mode, transports=(transport,), registrar_options=REGISTRAR)
    assert (await scene.agent.register()).ok
    registered_at = reactor.seconds()
    scene.agent.start_keepalives(0.05)

    await nth(scene.agent.trace, "keepalive-sent", 6)  # 0.3 s: beyond the 0.2 s timeout
    reached = await options_to_client(scene.registrar)

    assert reactor.seconds() - registered_at > 0.2
    assert isinstance(reached, Response) and reached.status == 200
    assert scene.fault.log.of("expired") == []
    assert len(scene.fault.log.of("new-binding")) == 1  # the same mapping all along
    if transport == "TCP":
        assert scene.agent.pongs >= 1  # RFC 5626 pongs came back through the NAT


@pytest_twisted.ensureDeferred
async def test_a_realistic_nat_timeout_driven_by_an_injected_clock(pool, agents):
    clock = Clock()
    registrar, bound = pool.registrar({"UDP": 0}, **REGISTRAR)
    fault = pool.fault({"kind": "nat", "timeout": 30}, ("UDP", *bound["UDP"]), clock=clock)
    agent = agents.agent("sip:{}:{}".format(*fault.address), "udp", password=None,
                         timers=QUICK)
    assert (await agent.register()).ok

    clock.advance(29.9)  # 29.9 s after the REGISTER, the last outbound datagram
    kept = await options_to_client(registrar)  # the client's 200 OK refreshes the binding
    clock.advance(29.9)
    kept_again = await options_to_client(registrar)
    clock.advance(30)
    lost = await options_to_client(registrar)

    assert isinstance(kept, Response) and isinstance(kept_again, Response)
    assert isinstance(lost, TransactionFailed) and lost.kind == "timeout"
    (expired,) = fault.log.of("expired")
    assert expired.time == pytest.approx(29.9 + 29.9 + 30)  # the NAT's clock, not the wall
    assert "idle for 30 s" in expired.detail
