"""Packet loss and latency with the real client: retransmissions visible, registration
still succeeds; a seed repeats the same losses."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import reactor

from testbed.sip import Timers

from .conftest import AOR

DIGEST = {"users": {"alice": "secret"}}
STEADY = Timers(t1=0.02, t2=0.16, t4=0.2)  # T1 = 20 ms, for runs that must not race


@pytest_twisted.ensureDeferred
async def test_dropping_the_1st_and_3rd_datagrams_costs_one_retransmission_each(pool, agents):
    scene = pool.scene(agents, {"kind": "loss", "drop": [1, 3], "direction": "to-server"},
                       registrar_options=DIGEST, password="secret")

    outcome = await scene.agent.register()

    assert outcome.ok, outcome.summary
    # REGISTER #1 lost, #2 (its retransmission) challenged; #3 (with credentials) lost,
    # #4 (its retransmission) accepted
    assert [(e.status, e.transmissions) for e in outcome.exchanges] == [(401, 2), (200, 2)]
    dropped = scene.fault.log.of("dropped")
    assert [(r.direction, r.index) for r in dropped] == [("to-server", 1), ("to-server", 3)]
    assert all("loss pattern [1, 3]" in r.detail for r in dropped)
    loss = scene.fault.stage("loss")
    assert {d: list(n) for d, n in loss.dropped.items()} == {"to-server": [1, 3],
                                                             "to-client": []}
    assert scene.registrar.bindings(AOR)


async def _lossy_registration(pool, agents, seed: int):
    scene = pool.scene(agents, {"kind": "loss", "fraction": 0.3}, seed=seed,
                       registrar_options=DIGEST, password="secret", timers=STEADY)
    outcome = await scene.agent.register()
    loss = scene.fault.stage("loss")
    return outcome, {d: list(n) for d, n in loss.dropped.items()}, dict(loss.seen)


@pytest_twisted.ensureDeferred
async def test_a_seeded_fraction_drops_the_same_datagrams_every_run(pool, agents):
    first, dropped_1, seen_1 = await _lossy_registration(pool, agents, seed=7)
    second, dropped_2, seen_2 = await _lossy_registration(pool, agents, seed=7)

    assert first.ok and second.ok, (first.summary, second.summary)
    assert dropped_1["to-server"] or dropped_1["to-client"], "seed 7 loses something"
    for direction in ("to-server", "to-client"):
        common = min(seen_1[direction], seen_2[direction])  # the runs saw this many alike
        assert [n for n in dropped_1[direction] if n <= common] == \
            [n for n in dropped_2[direction] if n <= common]
    retransmitted = [e.transmissions for e in first.exchanges]
    assert max(retransmitted) > 1  # the symptom: retransmissions
    assert retransmitted == [e.transmissions for e in second.exchanges]


@pytest_twisted.ensureDeferred
async def test_latency_above_t1_shows_as_retransmissions_over_udp(pool, agents):
    scene = pool.scene(agents, {"kind": "latency", "delay": "30ms", "jitter": "5ms"},
                       timers=STEADY)  # round trip about 60 ms, T1 = 20 ms

    started = reactor.seconds()
    outcome = await scene.agent.register()

    assert outcome.ok, outcome.summary
    assert reactor.seconds() - started >= 2 * 0.025
    assert outcome.exchanges[0].transmissions > 1  # retransmitted before the answer came
    delayed = scene.fault.log.of("delayed")
    assert {r.direction for r in delayed} == {"to-server", "to-client"}
    assert all(0.025 <= r.delay <= 0.035 for r in delayed)
    assert scene.fault.log.of("dropped") == []


@pytest_twisted.ensureDeferred
async def test_latency_over_tcp_slows_the_answer_without_retransmissions(pool, agents):
    scene = pool.scene(agents, {"kind": "latency", "delay": 0.05, "direction": "to-client"},
                       "tcp", transports=("TCP",), timers=STEADY)

    outcome = await scene.agent.register()

    assert outcome.ok, outcome.summary
    exchange = outcome.exchanges[0]
    assert exchange.transmissions == 1  # TCP: the transport retransmits, not SIP
    assert exchange.ended - exchange.started >= 0.05
    (delayed,) = scene.fault.log.of("delayed")
    assert delayed.direction == "to-client" and delayed.delay == 0.05
