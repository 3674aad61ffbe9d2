"""The DNS server's packed answers: kept per query (less its ID), the ID patched in,
forgotten when the faults or the zones change; never kept for an answer a fault made."""

from __future__ import annotations

import itertools

import pytest
from dnslib import DNSRecord
from twisted.internet.task import Clock

from servers.dns import DnsServer
from testbed.dns.wire import encode_query

CLIENT = ("127.0.0.1", 40000)
ZONE = {"origin": "example.com", "records": [
    {"name": "example.com", "type": "NAPTR", "order": 10, "preference": 10, "flags": "s",
     "service": "SIP+D2U", "replacement": "_sip._udp.example.com"},
    {"name": "_sip._udp.example.com", "type": "SRV", "priority": 10, "weight": 10,
     "port": 5060, "target": "pbx.example.com"},
    {"name": "pbx.example.com", "type": "A", "address": "127.0.0.7"},
    {"name": "big.example.com", "type": "TXT", "text": "x" * 200},
]}
QUESTIONS = [("example.com", "NAPTR"), ("_sip._udp.example.com", "SRV"),
             ("pbx.example.com", "A"), ("PBX.Example.COM", "A"), ("nothing.example.com", "A"),
             ("pbx.example.com", "AAAA"), ("example.org", "A")]
ids = itertools.count(1)


def ask(server: DnsServer, name: str, rtype: str, transport: str = "udp",
        edns: int | None = None) -> bytes:
    sent: list[bytes] = []
    server.handle(encode_query(name, rtype, next(ids), edns_payload=edns), CLIENT, transport,
                  sent.append)
    assert len(sent) <= 1
    return sent[0] if sent else b""


def without_id(payload: bytes) -> bytes:
    return payload[2:]


@pytest.mark.parametrize(("name", "rtype"), QUESTIONS)
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_kept_answer_is_the_full_answer_with_the_new_id(name, rtype, transport):
    cached = DnsServer([ZONE], Clock())
    first = ask(cached, name, rtype, transport)
    query = encode_query(name, rtype, 0xBEEF)
    sent: list[bytes] = []
    cached.handle(query, CLIENT, transport, sent.append)
    fresh: list[bytes] = []
    DnsServer([ZONE], Clock()).handle(query, CLIENT, transport, fresh.append)
    assert sent == fresh and without_id(sent[0]) == without_id(first)
    assert DNSRecord.parse(sent[0]).header.id == 0xBEEF
    again, before = cached.log[-1], cached.log[-2]
    assert again.qid == 0xBEEF
    assert (again.qname, again.qtype, again.rcode, again.answer, again.size) == \
        (before.qname, before.qtype, before.rcode, before.answer, before.size)


def test_edns_and_transport_are_part_of_the_key():
    server = DnsServer([ZONE], Clock())
    plain = ask(server, "example.com", "NAPTR")
    with_edns = ask(server, "example.com", "NAPTR", edns=1232)
    assert without_id(plain) != without_id(with_edns)
    assert DNSRecord.parse(with_edns).ar  # the OPT record is answered


def test_new_faults_and_new_zones_forget_the_kept_answers():
    server = DnsServer([ZONE], Clock())
    assert DNSRecord.parse(ask(server, "pbx.example.com", "A")).header.rcode == 0
    server.set_faults([{"name": "pbx.example.com", "fault": "servfail", "times": 1}])
    assert DNSRecord.parse(ask(server, "pbx.example.com", "A")).header.rcode == 2  # SERVFAIL
    assert server.log[-1].fault == "servfail"
    # the fault ran out: the answer is kept again and stays right
    for _ in range(2):
        assert DNSRecord.parse(ask(server, "pbx.example.com", "A")).header.rcode == 0
    moved = {**ZONE, "records": [{"name": "pbx.example.com", "type": "A",
                                  "address": "127.0.0.9"}]}
    server.zones = DnsServer([moved], Clock()).zones
    (record,) = DNSRecord.parse(ask(server, "pbx.example.com", "A")).rr
    assert str(record.rdata) == "127.0.0.9"


def test_answers_shaped_by_a_fault_are_never_kept():
    server = DnsServer([ZONE], Clock(), faults=[{"name": "pbx.example.com", "fault": "timeout"}])
    assert ask(server, "pbx.example.com", "A") == b""
    assert ask(server, "pbx.example.com", "A") == b""  # still timing out
    assert [entry.note for entry in server.log] == ["not answered (timeout fault)"] * 2
