"""The mock DNS server and the resolver adapter over real UDP and TCP on 127.0.0.1."""

import os
import random
import shutil

import pytest
import pytest_twisted
from dnslib import RCODE, DNSRecord
from twisted.internet import reactor, utils
from twisted.internet.error import CannotListenError
from twisted.internet.task import Clock

from servers.dns import DnsServer
from testbed.dns import (
    AddressRecord,
    CnameRecord,
    NaptrRecord,
    NsRecord,
    SoaRecord,
    SrvRecord,
    Target,
    TxtRecord,
)
from testbed.dns.client import DnsTimeout, DnsUnreachable
from testbed.dns.wire import encode_query

SEED_ZONE = {
    "origin": "sip.example.com",
    "ttl": 300,
    "records": [
        {"name": "sip.example.com", "type": "NAPTR", "order": 10, "preference": 10,
         "flags": "s", "service": "SIPS+D2T", "regexp": "",
         "replacement": "_sips._tcp.sip.example.com"},
        {"name": "sip.example.com", "type": "NAPTR", "order": 20, "preference": 10,
         "flags": "s", "service": "SIP+D2T", "regexp": "",
         "replacement": "_sip._tcp.sip.example.com"},
        {"name": "sip.example.com", "type": "NAPTR", "order": 30, "preference": 10,
         "flags": "s", "service": "SIP+D2U", "regexp": "",
         "replacement": "_sip._udp.sip.example.com"},
        {"name": "_sips._tcp.sip.example.com", "type": "SRV", "priority": 10, "weight": 60,
         "port": 5061, "target": "pbx1.sip.example.com"},
        {"name": "_sip._tcp.sip.example.com", "type": "SRV", "priority": 10, "weight": 60,
         "port": 5060, "target": "pbx1.sip.example.com"},
        {"name": "_sip._udp.sip.example.com", "type": "SRV", "priority": 10, "weight": 60,
         "port": 5060, "target": "pbx1.sip.example.com"},
        {"name": "pbx1.sip.example.com", "type": "A", "address": "127.0.0.7", "ttl": 60},
        {"name": "pbx1.sip.example.com", "type": "AAAA", "address": "::1", "ttl": 60},
        {"name": "sip.example.com", "type": "A", "address": "127.0.0.8"},
        {"name": "www.sip.example.com", "type": "CNAME", "target": "pbx1.sip.example.com"},
        {"name": "sip.example.com", "type": "TXT", "text": ["testbed", "zone"]},
        {"name": "sip.example.com", "type": "NS", "target": "ns.sip.example.com"},
        {"name": "ns.sip.example.com", "type": "A", "address": "127.0.0.53"},
        {"name": "sip.example.com", "type": "SOA", "mname": "ns.sip.example.com",
         "rname": "admin.sip.example.com", "serial": 2024, "minimum": 20},
    ],
}
A_ONLY_ZONE = {"origin": "sip.example.com", "records": [
    {"name": "sip.example.com", "type": "A", "address": "127.0.0.8"}]}
BIG_ZONE = {
    "origin": "big.test",
    "records": [{"name": "big.test", "type": "SRV", "priority": 10, "weight": i, "port": 5060,
                 "target": f"a-rather-long-host-name-{i:02d}.big.test"} for i in range(30)],
}
TRANSPORTS = pytest.mark.parametrize("tcp_only", [False, True], ids=["udp", "tcp"])


@pytest_twisted.ensureDeferred
@TRANSPORTS
async def test_every_record_type(world, tcp_only):
    server = world.server([SEED_ZONE])
    client = world.client(server, tcp_only=tcp_only)
    expected = {
        ("sip.example.com", "NAPTR"): NaptrRecord(10, 10, "s", "SIPS+D2T", "",
                                                  "_sips._tcp.sip.example.com",
                                                  "sip.example.com", 300),
        ("_sip._udp.sip.example.com", "SRV"): SrvRecord(10, 60, 5060, "pbx1.sip.example.com",
                                                        "_sip._udp.sip.example.com", 300),
        ("pbx1.sip.example.com", "A"): AddressRecord("127.0.0.7", "pbx1.sip.example.com", 60),
        ("pbx1.sip.example.com", "AAAA"): AddressRecord("::1", "pbx1.sip.example.com", 60),
        ("www.sip.example.com", "CNAME"): CnameRecord("www.sip.example.com",
                                                      "pbx1.sip.example.com", 300),
        ("sip.example.com", "TXT"): TxtRecord(("testbed", "zone"), "sip.example.com", 300),
        ("sip.example.com", "NS"): NsRecord("ns.sip.example.com", "sip.example.com", 300),
        ("sip.example.com", "SOA"): SoaRecord("ns.sip.example.com", "admin.sip.example.com",
                                              2024, 3600, 600, 86400, 20, "sip.example.com",
                                              300),
    }
    for (name, rtype), record in expected.items():
        answer = await client.query(name, rtype)
        assert answer.rcode == "NOERROR" and answer.authoritative
        assert answer.of_type(rtype)[0] == record
        assert answer.transport == ("tcp" if tcp_only else "udp")
    assert {e.transport for e in server.log} == {"tcp" if tcp_only else "udp"}
    assert len(server.log) == len(expected)


@pytest_twisted.ensureDeferred
@TRANSPORTS
async def test_nxdomain_and_nodata_carry_the_soa(world, tcp_only):
    server = world.server([SEED_ZONE])
    client = world.client(server, tcp_only=tcp_only)
    nx = await client.query("nothing.sip.example.com", "A")
    nodata = await client.query("www.sip.example.com", "SRV")  # a CNAME, no SRV: CNAME only
    nodata2 = await client.query("sip.example.com", "AAAA")
    assert nx.rcode == "NXDOMAIN" and nx.authoritative and nx.records == ()
    assert nodata2.rcode == "NOERROR" and nodata2.records == ()
    assert [r.type for r in nodata.records] == ["CNAME"]
    for answer in (nx, nodata2):
        assert [r.type for r in answer.authority] == ["SOA"]
        assert answer.negative_ttl == 20
    refused = await client.query("example.org", "A")
    assert refused.rcode == "REFUSED" and not refused.authoritative


@pytest_twisted.ensureDeferred
async def test_cname_is_chased(world):
    server = world.server([SEED_ZONE])
    client = world.client(server)
    answer = await client.query("www.sip.example.com", "A")
    assert answer.canonical_name == "pbx1.sip.example.com"
    assert [str(r) for r in answer.of_type("A")] == ["127.0.0.7"]
    assert await client.resolve_host("www.sip.example.com") == ["127.0.0.7", "::1"]


@pytest_twisted.ensureDeferred
async def test_truncated_udp_answer_is_retried_over_tcp(world):
    server = world.server([BIG_ZONE])
    client = world.client(server)
    answer = await client.query("big.test", "SRV")
    assert answer.transport == "tcp" and not answer.truncated
    assert len(answer.records) == 30
    assert [(e.transport, e.truncated) for e in server.log] == [("udp", True), ("tcp", False)]
    assert [q.transport for q in client.log] == ["udp", "tcp"]
    assert "truncated (TC): retrying over TCP" in str(client.log[0])


@pytest_twisted.ensureDeferred
async def test_edns_payload_avoids_truncation(world):
    server = world.server([BIG_ZONE])
    client = world.client(server, edns_payload=4096)
    answer = await client.query("big.test", "SRV")
    assert answer.transport == "udp" and len(answer.records) == 30


@pytest_twisted.ensureDeferred
async def test_several_queries_on_one_tcp_connection(world):
    server = world.server([SEED_ZONE])
    peer = await world.tcp_peer(server.port)
    queries = [encode_query(name, "A", qid) for qid, name in enumerate(
        ["pbx1.sip.example.com", "sip.example.com", "nothing.sip.example.com"], start=1)]
    first = len(queries[0]).to_bytes(2, "big") + queries[0]
    for i in range(len(first)):  # the first one byte at a time
        peer.transport.write(first[i:i + 1])
    peer.send(queries[1])
    peer.send(queries[2])
    replies = [DNSRecord.parse(await peer.messages.get()) for _ in queries]
    assert [r.header.id for r in replies] == [1, 2, 3]
    assert [RCODE.get(r.header.rcode) for r in replies] == ["NOERROR", "NOERROR", "NXDOMAIN"]
    assert len({e.client for e in server.log}) == 1


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_garbage_gets_formerr_and_the_server_keeps_serving(world, transport):
    server = world.server([SEED_ZONE])
    if transport == "udp":
        peer = await world.udp_peer(server.port)
        send = peer.transport.write
    else:
        peer = await world.tcp_peer(server.port)
        send = peer.send
    send(b"\xbe\xef" + b"\x00\x00\x00\x05" + b"\xff" * 40)
    reply = DNSRecord.parse(await peer.messages.get())
    assert reply.header.id == 0xBEEF and RCODE.get(reply.header.rcode) == "FORMERR"
    send(b"\x01\x02\x03")  # too short even for a header: dropped, logged
    send(encode_query("pbx1.sip.example.com", "A", 77))
    reply = DNSRecord.parse(await peer.messages.get())
    assert reply.header.id == 77 and str(reply.rr[0].rdata) == "127.0.0.7"
    assert [e.rcode for e in server.log] == ["FORMERR", None, "NOERROR"]
    assert "malformed query" in server.log[0].note


@pytest_twisted.ensureDeferred
@TRANSPORTS
async def test_ipv6_loopback(world, tcp_only):
    server = DnsServer([SEED_ZONE], reactor)
    try:
        listening = server.listen("::1", 0)
    except CannotListenError:
        pytest.skip("no IPv6 loopback on this machine")
    world.servers.append(server)
    client = world.client(f"[::1]:{listening.port}", tcp_only=tcp_only)
    answer = await client.query("pbx1.sip.example.com", "AAAA")
    assert [str(r) for r in answer.records] == ["::1"]
    assert server.log[0].client[0] == "::1"


# -- faults ---------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("kind, rcode", [("servfail", "SERVFAIL"), ("refused", "REFUSED")])
async def test_rcode_faults(world, kind, rcode):
    server = world.server([SEED_ZONE], faults=[{"name": "sip.example.com", "type": "NAPTR",
                                                "fault": kind}])
    client = world.client(server)
    answer = await client.query("sip.example.com", "NAPTR")
    assert answer.rcode == rcode
    assert server.log[-1].fault == kind


@pytest_twisted.ensureDeferred
async def test_timeout_fault_gives_an_adapter_timeout_driven_by_a_clock(world):
    server = world.server([SEED_ZONE], faults=[{"name": "sip.example.com", "fault": "timeout"}])
    clock = Clock()
    client = world.client(server, clock=clock, timeout=2.0, attempts=2)
    pending = client.query("sip.example.com", "NAPTR")
    await world.logged(server, 1)
    clock.advance(2.0)  # first attempt expires: the query is sent again
    await world.logged(server, 2)
    assert not pending.called
    clock.advance(2.0)
    with pytest.raises(DnsTimeout, match="after 2 attempt"):
        await pending
    assert [e.fault for e in server.log] == ["timeout", "timeout"]
    assert client.log[-1].outcome == "TIMEOUT" and client.log[-1].attempts == 2


@pytest_twisted.ensureDeferred
async def test_delay_fault_is_driven_by_the_server_clock(world):
    server_clock = Clock()
    server = world.server([SEED_ZONE], clock=server_clock,
                          faults=[{"name": "pbx1.sip.example.com", "fault": "delay",
                                   "seconds": 3}])
    client = world.client(server, clock=Clock(), timeout=10)
    pending = client.query("pbx1.sip.example.com", "A")
    await world.logged(server, 1)
    server_clock.advance(2.9)
    assert not pending.called
    server_clock.advance(0.1)
    answer = await pending
    assert [str(r) for r in answer.records] == ["127.0.0.7"]
    assert server.log[0].fault == "delay 3s"


@pytest_twisted.ensureDeferred
async def test_the_next_server_is_tried_after_a_timeout_or_an_error(world):
    silent = world.server([SEED_ZONE], faults=[{"name": "*.sip.example.com", "fault": "timeout"}])
    broken = world.server([SEED_ZONE], faults=[{"name": "pbx1.sip.example.com",
                                                "fault": "servfail"}])
    good = world.server([SEED_ZONE])
    clock = Clock()
    client = world.client(silent, broken, good, clock=clock, timeout=1, attempts=1)
    pending = client.query("pbx1.sip.example.com", "A")
    await world.logged(silent, 1)
    clock.advance(1)
    answer = await pending
    assert answer.rcode == "NOERROR" and answer.server == f"127.0.0.1:{good.port}"
    assert [q.outcome for q in client.log] == ["TIMEOUT", "SERVFAIL", "NOERROR"]


@pytest_twisted.ensureDeferred
async def test_nothing_listening_is_reported_as_unreachable(world):
    probe = world.server([SEED_ZONE])
    port = probe.port
    await probe.stop()
    world.servers.remove(probe)
    client = world.client(f"127.0.0.1:{port}", clock=Clock())
    with pytest.raises(DnsUnreachable, match="no DNS server listening"):
        await client.query("sip.example.com", "NAPTR")


# -- cache -----------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_answers_are_cached_for_their_ttl_by_the_clock(world):
    server = world.server([SEED_ZONE])
    clock = Clock()
    client = world.client(server, clock=clock)
    await client.query("pbx1.sip.example.com", "A")  # TTL 60
    await client.query("nothing.sip.example.com", "A")  # NXDOMAIN: SOA minimum 20
    clock.advance(19)
    cached = await client.query("pbx1.sip.example.com", "A")
    assert cached.transport == "cache" and [str(r) for r in cached.records] == ["127.0.0.7"]
    assert (await client.query("nothing.sip.example.com", "A")).transport == "cache"
    assert len(server.log) == 2
    clock.advance(1)  # 20 s: the negative answer expires, the positive one not yet
    assert (await client.query("nothing.sip.example.com", "A")).transport == "udp"
    assert (await client.query("pbx1.sip.example.com", "A")).transport == "cache"
    clock.advance(40)  # 60 s
    assert (await client.query("pbx1.sip.example.com", "A")).transport == "udp"
    assert len(server.log) == 4
    assert [q.transport for q in client.log] == ["udp", "udp", "cache", "cache", "udp",
                                                 "cache", "udp"]


@pytest_twisted.ensureDeferred
async def test_errors_are_not_cached(world):
    server = world.server([SEED_ZONE], faults=[{"name": "sip.example.com", "fault": "servfail",
                                                "times": 1}])
    client = world.client(server, clock=Clock())
    assert (await client.query("sip.example.com", "NAPTR")).rcode == "SERVFAIL"
    assert (await client.query("sip.example.com", "NAPTR")).rcode == "NOERROR"


# -- RFC 3263 end to end ---------------------------------------------------------------


SEED_TARGETS = [Target("TLS", "pbx1.sip.example.com", 5061, "127.0.0.7"),
                Target("TLS", "pbx1.sip.example.com", 5061, "::1"),
                Target("TCP", "pbx1.sip.example.com", 5060, "127.0.0.7"),
                Target("TCP", "pbx1.sip.example.com", 5060, "::1"),
                Target("UDP", "pbx1.sip.example.com", 5060, "127.0.0.7"),
                Target("UDP", "pbx1.sip.example.com", 5060, "::1")]


@pytest_twisted.ensureDeferred
@TRANSPORTS
async def test_auto_resolves_the_seed_zone_tls_then_tcp_then_udp(world, tcp_only):
    server = world.server([SEED_ZONE])
    client = world.client(server, tcp_only=tcp_only)
    resolution = await client.resolve("sip:alice@sip.example.com:5080", "AUTO",
                                      ("TLS", "TCP", "UDP"), random.Random(1))
    assert list(resolution.targets) == SEED_TARGETS
    text = resolution.describe()
    assert "AUTO ignored explicit port 5080" in text
    assert "NAPTR sip.example.com → 3 records" in text
    assert [f"{q.type} {q.name}" for q in resolution.queries][:2] == [
        "NAPTR sip.example.com", "SRV _sips._tcp.sip.example.com"]
    assert [f"{e.qtype} {e.qname}" for e in server.log] == [
        f"{q.type} {q.name}" for q in resolution.queries]


@pytest_twisted.ensureDeferred
async def test_auto_without_naptr_or_srv_falls_back_to_udp_5060(world):
    server = world.server([A_ONLY_ZONE])
    client = world.client(server)
    resolution = await client.resolve("sip:sip.example.com", "AUTO", ("TLS", "TCP", "UDP"),
                                      random.Random(1))
    assert list(resolution.targets) == [Target("UDP", "sip.example.com", 5060, "127.0.0.8")]
    assert "fell back to A sip.example.com → UDP 5060 (RFC 3263 §4.2 default)" in (
        resolution.describe())


@pytest_twisted.ensureDeferred
async def test_a_timed_out_naptr_is_in_the_trace_and_srv_is_tried(world):
    server = world.server([SEED_ZONE], faults=[{"name": "sip.example.com", "type": "NAPTR",
                                                "fault": "timeout"}])
    clock = Clock()
    client = world.client(server, clock=clock, timeout=1, attempts=1)
    pending = client.resolve("sip:sip.example.com", "AUTO", ("UDP",), random.Random(1))
    await world.logged(server, 1)
    clock.advance(1)
    resolution = await pending
    assert list(resolution.targets) == SEED_TARGETS[4:]
    assert "NAPTR lookup failed (TIMEOUT): treated as no NAPTR" in resolution.describe()


@pytest_twisted.ensureDeferred
async def test_resolving_again_uses_the_cache_until_the_ttl_runs_out(world):
    server = world.server([SEED_ZONE])
    clock = Clock()
    client = world.client(server, clock=clock)
    first = await client.resolve("sips:sip.example.com", "AUTO", ("TLS",), random.Random(1))
    asked = len(server.log)
    second = await client.resolve("sips:sip.example.com", "AUTO", ("TLS",), random.Random(1))
    assert second.targets == first.targets and len(server.log) == asked
    assert {q.transport for q in second.queries} == {"cache"}
    clock.advance(60)  # the address records (TTL 60) expire, the rest (300) not
    third = await client.resolve("sips:sip.example.com", "AUTO", ("TLS",), random.Random(1))
    assert [q.transport for q in third.queries] == ["cache", "cache", "udp", "udp"]


# -- dig ---------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_dig_shows_the_naptr_records(world, tcp):
    dig = shutil.which("dig") or shutil.which("kdig")
    if dig is None:
        if os.environ.get("CI"):
            pytest.fail("dig/kdig not found: apt-get install dnsutils")
        pytest.skip("apt-get install dnsutils")
    server = world.server([SEED_ZONE])
    args = ["@127.0.0.1", "-p", str(server.port), "NAPTR", "sip.example.com", "+norecurse",
            "+time=5", "+tries=1"] + (["+tcp"] if tcp else [])
    out, err, code = await utils.getProcessOutputAndValue(dig, args, env=os.environ,
                                                           reactor=reactor)
    text = out.decode()
    assert code == 0, err.decode()
    assert "status: NOERROR" in text and " aa" in text.split("flags:")[1].split(";")[0]
    for service in ("SIPS+D2T", "SIP+D2T", "SIP+D2U"):
        assert f'"{service}"' in text
    assert "_sips._tcp.sip.example.com." in text
    assert server.log[0].transport == ("tcp" if tcp else "udp")
