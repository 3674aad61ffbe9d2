"""The decisions, without sockets: loss patterns and seeds, the MTU rule, latency and
jitter, the order of stages, NAT binding expiry. Time is a number passed in."""

from __future__ import annotations

import pytest

from servers.faults import (
    Latency,
    Loss,
    MtuLimit,
    NatTable,
    Pipeline,
    parse_fault,
    stage_for,
)


def loss(seed: int = 1, **fields) -> Loss:
    return Loss(parse_fault({"kind": "loss", **fields}), seed)


def decisions(stage, direction: str, count: int) -> list[int]:
    """The numbers (from 1) of the datagrams ``stage`` drops among ``count``."""
    return [n for n in range(1, count + 1) if stage.judge(direction, 100)[0] is not None]


# -- loss ---------------------------------------------------------------------------------


def test_a_pattern_drops_exactly_those_datagrams_counted_per_direction():
    stage = loss(drop=[1, 3], direction="both")
    assert decisions(stage, "to-server", 5) == [1, 3]
    assert decisions(stage, "to-client", 4) == [1, 3]  # its own count
    assert {d: list(n) for d, n in stage.dropped.items()} == {"to-server": [1, 3],
                                                            "to-client": [1, 3]}
    assert loss(drop=[2]).judge("to-server", 10) == (None, 0.0)


def test_the_pattern_reason_names_the_datagram():
    stage = loss(drop=[1])
    reason, delay = stage.judge("to-server", 500)
    assert reason == "loss pattern [1]: datagram #1 to-server" and delay == 0


def test_a_seeded_fraction_repeats_for_the_same_seed_and_differs_for_another():
    runs = [decisions(loss(seed, fraction=0.3), "to-server", 200) for seed in (7, 7, 8)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert 40 <= len(runs[0]) <= 80  # about 30 % of 200


def test_the_two_directions_do_not_disturb_each_other():
    alone = loss(5, fraction=0.5)
    alone_server = decisions(alone, "to-server", 50)
    mixed = loss(5, fraction=0.5)
    server = []
    for n in range(1, 51):  # interleave: a client datagram after every server one
        mixed.judge("to-client", 100)
        if mixed.judge("to-server", 100)[0] is not None:
            server.append(n)
    assert server == alone_server


@pytest.mark.parametrize("fraction, expected", [(0.0, 0), (1.0, 30)])
def test_fraction_bounds(fraction, expected):
    assert len(decisions(loss(fraction=fraction), "to-server", 30)) == expected


# -- MTU ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mtu, ip_version, largest", [
    (1500, 4, 1472),   # 1500 - 20 (IPv4) - 8 (UDP)
    (1500, 6, 1452),   # 1500 - 40 (IPv6) - 8 (UDP)
    (576, 4, 548),
])
def test_the_largest_payload_that_passes_is_mtu_minus_the_headers(mtu, ip_version, largest):
    stage = MtuLimit(parse_fault({"kind": "mtu", "mtu": mtu}), ip_version)
    assert stage.judge("to-server", largest) == (None, 0.0)
    reason, _ = stage.judge("to-server", largest + 1)
    assert reason == (f"larger than the path MTU: {largest + 1} bytes of UDP payload + "
                      f"{mtu - largest} bytes of UDP/IPv{ip_version} headers = {mtu + 1} > {mtu}")


# -- latency ------------------------------------------------------------------------------


def test_latency_without_jitter_is_exact():
    stage = Latency(parse_fault({"kind": "latency", "delay": "40ms"}), 1)
    assert [stage.judge("to-server", 10)[1] for _ in range(3)] == [0.04] * 3


def test_jitter_stays_in_bounds_and_repeats_per_seed_and_direction():
    spec = parse_fault({"kind": "latency", "delay": 0.05, "jitter": 0.02})
    first, second, other = Latency(spec, 3), Latency(spec, 3), Latency(spec, 4)
    delays = [first.judge("to-server", 10)[1] for _ in range(100)]
    assert all(0.03 <= d <= 0.07 for d in delays)
    assert len(set(delays)) > 50
    assert delays == [second.judge("to-server", 10)[1] for _ in range(100)]
    assert delays != [other.judge("to-server", 10)[1] for _ in range(100)]
    fresh = Latency(spec, 3)  # the other direction draws from a stream of its own
    assert [fresh.judge("to-client", 10)[1] for _ in range(10)] != delays[:10]


def test_stages_act_only_on_their_direction_and_transports():
    pipeline = Pipeline([
        stage_for(parse_fault({"kind": "latency", "delay": 0.1, "direction": "to-client"}), 1),
        stage_for(parse_fault({"kind": "loss", "drop": [1], "direction": "to-server"}), 1),
    ])
    assert pipeline.judge("UDP", "to-client", 10).delay == 0.1
    assert pipeline.judge("UDP", "to-server", 10).dropped is not None
    assert pipeline.judge("UDP", "to-server", 10).dropped is None  # #2 passes
    assert pipeline.judge("TCP", "to-server", 10).dropped is None  # loss is UDP-only


def test_the_first_drop_wins_and_later_stages_do_not_count_the_packet():
    mtu = stage_for(parse_fault({"kind": "mtu", "mtu": 1000}), 1)
    lossy = stage_for(parse_fault({"kind": "loss", "drop": [2]}), 1)
    pipeline = Pipeline([mtu, lossy])
    big = pipeline.judge("UDP", "to-server", 2000)
    assert big.dropped and big.by == "mtu"
    assert pipeline.judge("UDP", "to-server", 100).dropped is None  # loss's #1
    second = pipeline.judge("UDP", "to-server", 100)  # loss's #2
    assert second.by == "loss" and lossy.seen["to-server"] == 2


def test_delays_of_several_stages_add_up():
    pipeline = Pipeline([
        stage_for(parse_fault({"kind": "latency", "delay": 0.1, "name": "wan"}), 1),
        stage_for(parse_fault({"kind": "latency", "delay": 0.02, "name": "wifi"}), 1),
    ])
    verdict = pipeline.judge("TCP", "to-server", 10)
    assert verdict.delay == pytest.approx(0.12) and verdict.delayed_by == "wan+wifi"


# -- NAT bindings -------------------------------------------------------------------------

CLIENT, OTHER = ("10.0.0.2", 5060), ("10.0.0.3", 5060)


def test_a_binding_expires_timeout_after_the_last_outbound_packet():
    nat = NatTable(timeout=30)
    binding = nat.add(CLIENT, ("203.0.113.1", 40001), now=0)
    assert nat.next_deadline() == 30
    assert nat.outbound(CLIENT, now=20) is binding  # refreshed
    assert nat.next_deadline() == 50
    assert nat.expire(49.9) == []
    assert nat.inbound(("203.0.113.1", 40001), now=49.9) is binding
    assert nat.expire(50) == [binding]
    assert binding.expired_at == 50 and not binding.live
    assert nat.live(CLIENT) is None and nat.outbound(CLIENT, now=51) is None
    assert nat.next_deadline() is None


def test_inbound_packets_do_not_refresh_unless_asked():
    outbound_only = NatTable(timeout=10)
    both = NatTable(timeout=10, refresh="both")
    for nat in (outbound_only, both):
        nat.add(CLIENT, ("203.0.113.1", 40001), now=0)
        nat.inbound(("203.0.113.1", 40001), now=8)
    assert outbound_only.next_deadline() == 10
    assert both.next_deadline() == 18


def test_an_expired_binding_is_still_known_and_a_new_one_is_numbered_anew():
    nat = NatTable(timeout=5)
    old = nat.add(CLIENT, ("203.0.113.1", 40001), now=0)
    nat.expire(5)
    assert nat.inbound(("203.0.113.1", 40001), now=6) is None  # dropped: no binding
    assert nat.known(("203.0.113.1", 40001)) is old
    new = nat.add(CLIENT, ("203.0.113.1", 40002), now=6)
    assert new.number == 2 and nat.live(CLIENT) is new
    assert nat.inbound(("203.0.113.1", 40002), now=7) is new


def test_bindings_expire_independently_and_the_deadline_is_the_earliest():
    nat = NatTable(timeout=10)
    first = nat.add(CLIENT, ("203.0.113.1", 40001), now=0)
    second = nat.add(OTHER, ("203.0.113.1", 40002), now=4)
    assert nat.next_deadline() == 10
    assert nat.expire(10) == [first]
    assert nat.next_deadline() == 14
    assert nat.expire(14) == [second]


def test_without_a_timeout_nothing_expires():
    nat = NatTable()
    nat.add(CLIENT, ("203.0.113.1", 40001), now=0)
    assert nat.expire(10**9) == [] and nat.next_deadline() is None
