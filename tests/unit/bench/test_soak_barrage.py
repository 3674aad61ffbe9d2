"""The soak's and the barrage's bookkeeping without a server: the served world's scenario
is valid, checkpoints, the seeded bad input, the liveness probe, the table rows."""

import itertools
import random

from twisted.internet.defer import Deferred

from testbed.bench import _dns_barrage, rows
from testbed.bench._barrage import KINDS, _Answers, _TcpSide, bad_messages, probe, templates
from testbed.bench._registrar_cost import registrar_cost
from testbed.bench._served import ACCOUNTS, scenario_text
from testbed.bench._soak import checkpoints
from testbed.scenario import parse
from testbed.sip import RemoteProtocolError, parse_message


def test_the_served_world_is_a_valid_scenario_with_every_account():
    scenario = parse(scenario_text(0.02, accounts=ACCOUNTS), "served.yaml")
    (registrar,) = scenario.data["registrars"]
    assert len(registrar["users"]) == ACCOUNTS and registrar["users"]["alice999"] == "secret"
    assert [listener["transport"] for listener in registrar["listen"]] == ["udp", "tcp"]
    assert scenario.data["timers"] == {"t1": 0.02}  # seconds, parsed


def test_checkpoints_end_at_the_total():
    assert checkpoints(1_000_000) == [10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
                                      750_000, 1_000_000]
    assert checkpoints(20_000) == [10_000, 20_000]
    assert checkpoints(500) == [500]


def test_the_templates_are_well_formed_sip():
    for message in templates("127.0.0.9", 5060, "UDP"):
        parse_message(message)  # raises if not


def test_bad_input_is_seeded_bad_and_of_every_kind():
    def draw(seed):
        return list(itertools.islice(bad_messages(random.Random(seed), "127.0.0.9", 5060,
                                                  "TCP"), 3000))

    first = draw(1)
    assert first == draw(1) and first != draw(2)
    assert {kind for kind, _ in first} == set(KINDS)
    assert all(data for _, data in first)
    rejected = 0
    for _, data in first:
        try:
            parse_message(data)
        except RemoteProtocolError:
            rejected += 1
    assert rejected > 2000  # most of it is malformed, as meant


def test_a_liveness_answer_is_recognised_by_its_branch():
    answers = _Answers(lambda data: data.count(b"SIP/2.0 "))
    waiting = answers.waiting[b"z9hG4bKliveudp1-7;"] = Deferred()
    request = probe("127.0.0.9", 5060, "UDP", "udp1-7")
    assert parse_message(request).method == "OPTIONS"
    answers.seen(b"SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKother\r\n\r\n")
    assert not waiting.called and answers.responses == 1
    answers.seen(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKliveudp1-7"
                 b";rport=5099\r\n\r\n")
    assert waiting.called and answers.waiting == {} and answers.responses == 2


def test_soak_and_barrage_figures_in_the_table():
    data = {"phases": {
        "soak": {"t1_ms": 20.0, "rate": 1634, "samples": [
            {"requests": 10_021, "rss_kib": 92_000}, {"requests": 50_000, "rss_kib": 99_000},
            {"requests": 100_068, "rss_kib": 100_000},
            {"requests": 1_000_123, "rss_kib": 101_000}]},
        "barrage": {"runs": [{"transport": "UDP", "seed": 1, "answered": 2000,
                              "checks": 2000, "messages": 200_000, "alive": True}],
                    "dns": [{"transport": "TCP", "seed": 1, "answered": 1500,
                             "checks": 1500, "messages": 150_000, "alive": True}]},
        "hardening": {"registrar_cpu": {"on": {"min_us": 152.2}, "off": {"min_us": 140.0},
                                        "ratio_min": 1.087},
                      "our client, digest": {"UDP": {
            "on": {"rate": 2900, "cpu_us_per_request": 103.0},
            "off": {"rate": 3000, "cpu_us_per_request": 100.0},
            "ratio": 2900 / 3000, "cpu_ratio": 1.03}}}}}
    table = {row[0]: row for row in rows(data)}
    assert table["served RSS MiB after 10,021 requests (soak)"][1] == "89.8"
    assert "served RSS MiB after 100,068 requests (soak)" in table
    assert "served RSS MiB after 1,000,123 requests (soak)" in table
    assert "served RSS MiB after 50,000 requests (soak)" not in table
    assert table["requests/s against testbed serve (soak, T1 20 ms)"][1] == "1,634"
    assert table["barrage UDP seed 1: liveness answered"][1:] == (
        "2,000/2,000", "200,000 messages", "", "up")
    assert table["DNS barrage TCP seed 1: liveness answered"][1:] == (
        "1,500/1,500", "150,000 queries", "", "up")
    assert table["REGISTER/s our client, digest -> our registrar, UDP, hardening on"][1:4] == (
        "2,900", "off 3,000", "0.967x")
    assert table["server CPU µs/request, our client, digest, UDP, hardening on"][1:4] == (
        "103", "off 100", "1.030x")
    assert table["registrar CPU µs per digest registration, hardening on (in process)"][1:4] \
        == ("152", "off 140", "1.087x")


def test_bad_dns_queries_are_seeded_bad_and_of_every_kind():
    from dnslib import DNSRecord

    def draw(seed):
        return list(itertools.islice(_dns_barrage.bad_queries(random.Random(seed),
                                                              "example.com"), 3000))

    first = draw(1)
    assert first == draw(1) and first != draw(2)
    assert {kind for kind, _ in first} == set(KINDS)
    assert all(data for _, data in first)
    rejected = 0
    for _, data in first:
        try:
            DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - dnslib raises many kinds (see servers.dns)
            rejected += 1
    assert rejected > 1500  # most of it is malformed, as meant


def test_a_dns_liveness_answer_is_recognised_by_its_name_and_tcp_frames():
    from dnslib import DNSRecord

    query, label = _dns_barrage.probe("example.com", "1x7")
    assert str(DNSRecord.parse(query).q.qname) == "live1x7.example.com."
    answers = _Answers()
    waiting = answers.waiting[label] = Deferred()
    other, _ = _dns_barrage.probe("example.com", "1x8")
    side = _TcpSide(answers, _dns_barrage.deframe)
    framed = len(other).to_bytes(2, "big") + other + len(query).to_bytes(2, "big") + query
    side.dataReceived(framed[:5])
    assert answers.responses == 0
    side.dataReceived(framed[5:])
    assert waiting.called and answers.waiting == {} and answers.responses == 2
    rng = random.Random(3)
    lengths = {int.from_bytes(_dns_barrage.frame(rng, query)[:2], "big") for _ in range(400)}
    assert len(query) in lengths and len(lengths) > 1  # some lengths lie, as meant


def test_the_registrar_cost_counts_digest_registrations_on_and_off():
    cost = registrar_cost(rounds=2, per_round=20)
    assert cost["registrations"] == 40
    assert cost["on"]["min_us"] > 0 and cost["off"]["min_us"] > 0
    assert cost["ratio_min"] == cost["on"]["min_us"] / cost["off"]["min_us"]
