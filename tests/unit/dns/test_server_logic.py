"""The DNS server's controller without sockets: bytes in, bytes out, time from a Clock.

Queries are built and answers read with the resolver's own codec (testbed.dns.wire),
so these tests also check that the two sides agree on the wire.
"""

import random

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSQuestion, DNSRecord
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock

from servers.dns import DnsServer
from testbed.dns import AddressRecord, CnameRecord, SoaRecord, SrvRecord
from testbed.dns.wire import MalformedResponse, decode_response, encode_query

CLIENT = ("127.0.0.1", 40000)

ZONE = {
    "origin": "example.com",
    "ttl": 300,
    "records": [
        {"name": "example.com", "type": "NAPTR", "order": 10, "preference": 10, "flags": "s",
         "service": "SIPS+D2T", "replacement": "_sips._tcp.example.com"},
        {"name": "example.com", "type": "NAPTR", "order": 20, "preference": 10, "flags": "s",
         "service": "SIP+D2U", "replacement": "_sip._udp.example.com"},
        {"name": "example.com", "type": "NAPTR", "order": 30, "preference": 10, "flags": "a",
         "service": "SIP+D2T", "replacement": "tcp.example.com"},
        {"name": "_sips._tcp.example.com", "type": "SRV", "priority": 10, "weight": 60,
         "port": 5061, "target": "sip1.example.com"},
        {"name": "_sip._udp.example.com", "type": "SRV", "priority": 10, "weight": 60,
         "port": 5060, "target": "sip2.example.com"},
        {"name": "_sip._udp.example.com", "type": "SRV", "priority": 20, "weight": 0,
         "port": 5060, "target": "elsewhere.example.net"},
        {"name": "sip1.example.com", "type": "A", "address": "127.0.0.7", "ttl": 60},
        {"name": "sip1.example.com", "type": "AAAA", "address": "::1", "ttl": 60},
        {"name": "sip2.example.com", "type": "A", "address": "127.0.0.8"},
        {"name": "tcp.example.com", "type": "A", "address": "127.0.0.9"},
        {"name": "www.example.com", "type": "CNAME", "target": "alias.example.com"},
        {"name": "alias.example.com", "type": "CNAME", "target": "sip1.example.com"},
        {"name": "out.example.com", "type": "CNAME", "target": "sip.example.net"},
        {"name": "loop1.example.com", "type": "CNAME", "target": "loop2.example.com"},
        {"name": "loop2.example.com", "type": "CNAME", "target": "loop1.example.com"},
        {"name": "dangling.example.com", "type": "CNAME", "target": "missing.example.com"},
        {"name": "@", "type": "SOA", "minimum": 30},
    ],
}
BIG = {
    "origin": "big.test",
    "records": [{"name": "_sip._udp.big.test", "type": "SRV", "priority": 10, "weight": i,
                 "port": 5060, "target": f"host-with-a-long-name-{i:02d}.big.test"}
                for i in range(40)]
    + [{"name": f"host-with-a-long-name-{i:02d}.big.test", "type": "A",
        "address": f"127.0.1.{i}"} for i in range(40)],
}


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def server(clock):
    return DnsServer([ZONE, BIG], reactor=clock)


def ask(server, name, rtype, transport="udp", qid=4242, edns=None):
    sent = []
    server.handle(encode_query(name, rtype, qid, edns_payload=edns), CLIENT, transport,
                  sent.append)
    assert len(sent) <= 1
    return (decode_response(sent[0], qid, name, rtype), sent[0]) if sent else (None, None)


def test_answer_is_authoritative_with_ttls_as_given(server):
    answer, _ = ask(server, "sip1.example.com", "A")
    assert answer.rcode == "NOERROR" and answer.authoritative
    assert answer.records == (AddressRecord("127.0.0.7", "sip1.example.com", 60),)


def test_nxdomain_and_nodata_both_carry_the_soa(server):
    nx, _ = ask(server, "nothing.example.com", "A")
    nodata, _ = ask(server, "sip2.example.com", "AAAA")
    empty_non_terminal, _ = ask(server, "_udp.example.com", "SRV")
    assert (nx.rcode, nodata.rcode, empty_non_terminal.rcode) == ("NXDOMAIN", "NOERROR",
                                                                  "NOERROR")
    for answer in (nx, nodata, empty_non_terminal):
        assert answer.authoritative and answer.records == ()
        (soa,) = answer.authority
        assert isinstance(soa, SoaRecord) and soa.name == "example.com"
        assert soa.ttl == 30 and answer.negative_ttl == 30  # min(SOA TTL, minimum)


def test_names_outside_every_zone_are_refused(server):
    answer, _ = ask(server, "example.org", "A")
    assert answer.rcode == "REFUSED" and not answer.authoritative


def test_srv_additional_section_has_the_target_addresses(server):
    answer, _ = ask(server, "_sips._tcp.example.com", "SRV")
    assert answer.records == (SrvRecord(10, 60, 5061, "sip1.example.com",
                                        "_sips._tcp.example.com", 300),)
    assert {str(r) for r in answer.additional} == {"127.0.0.7", "::1"}


def test_naptr_additional_section_has_srv_and_addresses(server):
    answer, _ = ask(server, "example.com", "NAPTR")
    assert [r.service for r in answer.records] == ["SIPS+D2T", "SIP+D2U", "SIP+D2T"]
    assert [f"{r.type} {r.name}" for r in answer.additional] == [
        "SRV _sips._tcp.example.com", "SRV _sip._udp.example.com", "SRV _sip._udp.example.com",
        "A sip1.example.com", "AAAA sip1.example.com", "A sip2.example.com",
        "A tcp.example.com",  # flag "a": the replacement's address
    ]


def test_cname_is_chased_within_the_zone(server):
    answer, _ = ask(server, "www.example.com", "A")
    assert answer.records == (
        CnameRecord("www.example.com", "alias.example.com", 300),
        CnameRecord("alias.example.com", "sip1.example.com", 300),
        AddressRecord("127.0.0.7", "sip1.example.com", 60),
    )
    assert answer.canonical_name == "sip1.example.com"
    cname, _ = ask(server, "www.example.com", "CNAME")
    assert cname.records == (CnameRecord("www.example.com", "alias.example.com", 300),)


@pytest.mark.parametrize(
    "name, rcode, count",
    [("out.example.com", "NOERROR", 1),        # target in no zone of ours: stop there
     ("loop1.example.com", "NOERROR", 2),      # a loop: stop
     ("dangling.example.com", "NXDOMAIN", 1)],  # the chain ends nowhere (RFC 6604)
)
def test_cname_chains_that_end_outside_or_loop(server, name, rcode, count):
    answer, _ = ask(server, name, "A")
    assert answer.rcode == rcode
    assert [r.type for r in answer.records] == ["CNAME"] * count


def test_any_returns_every_record_of_the_name(server):
    answer, _ = ask(server, "sip1.example.com", "NS")  # NODATA, then ANY via dnslib
    assert answer.records == ()
    sent = []
    server.handle(DNSRecord(q=DNSQuestion("sip1.example.com", QTYPE.ANY)).pack(), CLIENT,
                  "udp", sent.append)
    assert len(DNSRecord.parse(sent[0]).rr) == 2


def test_udp_answers_over_512_bytes_are_truncated_and_tcp_is_not(server):
    udp, data = ask(server, "_sip._udp.big.test", "SRV")
    assert udp.truncated and len(data) <= 512
    assert 0 < len(udp.records) < 40 and udp.additional == ()
    tcp, _ = ask(server, "_sip._udp.big.test", "SRV", transport="tcp")
    assert not tcp.truncated and len(tcp.records) == 40 and len(tcp.additional) == 40
    assert server.log[0].truncated and not server.log[1].truncated


def test_edns_payload_size_raises_the_udp_limit(server):
    answer, data = ask(server, "_sip._udp.big.test", "SRV", edns=4096)
    assert not answer.truncated and len(answer.records) == 40 and len(data) > 512
    medium, data = ask(server, "_sip._udp.big.test", "SRV", edns=3000)  # answers: ~2200
    assert len(data) <= 3000
    # additional records are dropped first, without TC (RFC 2181 §9)
    assert len(medium.records) == 40 and not medium.truncated
    tiny, data = ask(server, "_sip._udp.big.test", "SRV", edns=100)  # below 512: 512
    assert tiny.truncated and len(data) <= 512


def test_the_response_carries_an_opt_record_when_the_query_did(server):
    _, data = ask(server, "sip1.example.com", "A", edns=1232)
    assert [rr.rtype for rr in DNSRecord.parse(data).ar] == [QTYPE.OPT]
    _, data = ask(server, "sip1.example.com", "A")
    assert DNSRecord.parse(data).ar == []


# -- faults ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind, rcode", [("servfail", "SERVFAIL"), ("refused", "REFUSED")])
def test_rcode_faults(clock, kind, rcode):
    server = DnsServer([ZONE], clock, faults=[{"name": "sip1.example.com", "type": "A",
                                               "fault": kind}])
    answer, _ = ask(server, "sip1.example.com", "A")
    assert answer.rcode == rcode and answer.records == () and not answer.authoritative
    assert server.log[-1].fault == kind
    other, _ = ask(server, "sip1.example.com", "AAAA")  # the type limits the fault
    assert other.rcode == "NOERROR" and server.log[-1].fault is None


def test_timeout_fault_never_answers_but_logs(clock):
    server = DnsServer([ZONE], clock, faults=[{"name": "example.com", "fault": "timeout"}])
    answer, _ = ask(server, "example.com", "NAPTR")
    assert answer is None
    clock.advance(3600)
    entry = server.log[-1]
    assert entry.rcode is None and entry.fault == "timeout"
    assert "no answer" in entry.summary()


def test_delay_fault_answers_after_the_delay_on_the_clock(clock):
    server = DnsServer([ZONE], clock, faults=[{"name": "*.example.com", "fault": "delay",
                                               "seconds": 1.5}])
    sent = []
    server.handle(encode_query("sip1.example.com", "A", 7), CLIENT, "udp", sent.append)
    assert sent == []
    clock.advance(1.4)
    assert sent == []
    clock.advance(0.1)
    assert decode_response(sent[0], 7, "sip1.example.com", "A").rcode == "NOERROR"
    assert server.log[-1].fault == "delay 1.5s" and server.log[-1].time == 0.0


def test_fault_times_then_normal_answers(clock):
    server = DnsServer([ZONE], clock, faults=[{"name": "sip1.example.com",
                                               "fault": "servfail", "times": 2}])
    rcodes = [ask(server, "sip1.example.com", "A")[0].rcode for _ in range(3)]
    assert rcodes == ["SERVFAIL", "SERVFAIL", "NOERROR"]


def test_stop_cancels_delayed_answers(clock):
    server = DnsServer([ZONE], clock, faults=[{"name": "sip1.example.com", "fault": "delay",
                                               "seconds": 5}])
    sent = []
    server.handle(encode_query("sip1.example.com", "A", 7), CLIENT, "udp", sent.append)
    server.stop()
    clock.advance(10)
    assert sent == [] and clock.getDelayedCalls() == []


def test_set_faults_replaces_them(clock):
    server = DnsServer([ZONE], clock, faults=[{"name": "sip1.example.com", "fault": "refused"}])
    server.set_faults([])
    assert ask(server, "sip1.example.com", "A")[0].rcode == "NOERROR"


# -- the query log -----------------------------------------------------------------------


def test_every_query_is_logged_with_time_client_and_answer(clock):
    seen = []
    server = DnsServer([ZONE], clock, on_query=seen.append)
    clock.advance(12.5)
    ask(server, "_sips._tcp.example.com", "SRV", transport="tcp")
    (entry,) = server.log
    assert seen == [entry]
    assert (entry.time, entry.client, entry.transport, entry.qname, entry.qtype, entry.rcode) == (
        12.5, CLIENT, "tcp", "_sips._tcp.example.com", "SRV", "NOERROR")
    assert entry.answer == ("_sips._tcp.example.com. 300 SRV 10 60 5061 sip1.example.com.",)
    assert entry.authoritative and entry.qid == 4242 and entry.size > 0
    assert entry.summary() == ("12.500 127.0.0.1:40000 tcp SRV _sips._tcp.example.com → "
                               "NOERROR (1 answer)")


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, rcode, note",
    [
        (b"\x00\x07" + b"\x00" * 10, "FORMERR", "0 questions"),
        (b"\x00\x07\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www", "FORMERR", "malformed query"),
        (b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"\xff" * 30, "FORMERR",
         "malformed query"),
        (encode_query("a.example.com", "A", 7)[:2] + b"\x28\x00"
         + encode_query("a.example.com", "A", 7)[4:], "NOTIMP", "opcode UPDATE"),
    ],
)
def test_malformed_queries_get_an_error_rcode(server, data, rcode, note):
    sent = []
    server.handle(data, CLIENT, "udp", sent.append)
    reply = DNSRecord.parse(sent[0])
    assert reply.header.id == 7 and reply.header.qr == 1
    assert RCODE.get(reply.header.rcode) == rcode
    assert server.log[-1].rcode == rcode and note in server.log[-1].note


@pytest.mark.parametrize(
    "data, note",
    [(b"", "dropped 0 bytes"), (b"\x01\x02\x03", "dropped 3 bytes"),
     (bytes(DNSRecord.question("example.com").reply().pack()), "QR set")],
)
def test_short_datagrams_and_responses_are_dropped(server, data, note):
    sent = []
    server.handle(data, CLIENT, "udp", sent.append)
    assert sent == [] and note in server.log[-1].note and server.log[-1].rcode is None


def test_two_questions_or_two_opt_records_are_formerr(server):
    two = DNSRecord(q=DNSQuestion("example.com"))
    two.add_question(DNSQuestion("example.com", QTYPE.SRV))
    opts = DNSRecord.question("example.com")
    opts.add_ar(EDNS0(udp_len=1232), EDNS0(udp_len=1232))
    for message in (two, opts):
        sent = []
        server.handle(message.pack(), CLIENT, "udp", sent.append)
        assert RCODE.get(DNSRecord.parse(sent[0]).header.rcode) == "FORMERR"


def test_other_classes_are_refused(server):
    sent = []
    server.handle(DNSRecord.question("version.bind", "TXT", "CH").pack(), CLIENT, "udp",
                  sent.append)
    assert RCODE.get(DNSRecord.parse(sent[0]).header.rcode) == "REFUSED"


@given(st.binary(max_size=600))
def test_garbage_never_escapes_the_server(data):
    """The fuzz invariant: any bytes give a logged outcome, never an internal error."""
    server = DnsServer([ZONE], Clock())
    sent = []
    server.handle(data, CLIENT, "udp", sent.append)
    assert len(server.log) == 1
    assert not server.log[0].note.startswith("internal error")
    assert len(sent) <= 1


def test_mutated_queries_never_escape_the_server():
    server = DnsServer([ZONE], Clock())
    rng = random.Random(20)
    base = bytearray(encode_query("_sips._tcp.example.com", "SRV", 9, edns_payload=1232))
    for _ in range(3000):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        server.handle(bytes(data[: rng.randint(12, len(data))]), CLIENT, "udp", lambda b: None)
    assert not any(e.note.startswith("internal error") for e in server.log)
    assert ask(server, "sip1.example.com", "A")[0].rcode == "NOERROR"


# -- the resolver's codec ----------------------------------------------------------------


def test_decode_response_rejects_what_is_not_our_answer(server):
    _, data = ask(server, "sip1.example.com", "A", qid=5)
    with pytest.raises(MalformedResponse, match="does not match query id"):
        decode_response(data, 6, "sip1.example.com", "A")
    with pytest.raises(MalformedResponse, match="not sip2.example.com A"):
        decode_response(data, 5, "sip2.example.com", "A")
    with pytest.raises(MalformedResponse, match="unparsable"):
        decode_response(data[:20], 5, "sip1.example.com", "A")
    with pytest.raises(MalformedResponse, match="QR clear"):
        decode_response(encode_query("sip1.example.com", "A", 5), 5, "sip1.example.com", "A")


def test_encode_query_is_a_plain_question():
    message = DNSRecord.parse(encode_query("Example.com", "NAPTR", 99, edns_payload=1232))
    assert message.header.id == 99 and message.header.rd == 0 and message.header.qr == 0
    assert str(message.q.qname) == "Example.com." and QTYPE.get(message.q.qtype) == "NAPTR"
    assert message.ar[0].rclass == 1232
