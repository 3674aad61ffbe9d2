"""Zone and fault data: what is accepted, and the errors (path + message) for the rest."""

import pytest
from dnslib import QTYPE

from servers.dns import DnsConfigError, DnsServer, Fault, FaultTable, Zone, parse_faults


def zone(*records, origin="example.com", ttl=300):
    return Zone.from_data({"origin": origin, "ttl": ttl, "records": list(records)})


ALL_TYPES = [
    {"name": "example.com", "type": "NAPTR", "order": 10, "preference": 10, "flags": "s",
     "service": "SIPS+D2T", "regexp": "", "replacement": "_sips._tcp.example.com"},
    {"name": "_sips._tcp.example.com", "type": "SRV", "priority": 10, "weight": 60,
     "port": 5061, "target": "sip1.example.com"},
    {"name": "sip1.example.com", "type": "A", "address": "127.0.0.7", "ttl": 60},
    {"name": "sip1.example.com", "type": "AAAA", "address": "::1"},
    {"name": "www.example.com", "type": "CNAME", "target": "sip1.example.com."},
    {"name": "@", "type": "NS", "target": "ns1.example.com"},
    {"name": "example.com.", "type": "TXT", "text": ["v=1", "hello world"]},
    {"name": "Example.COM", "type": "SOA", "mname": "ns1.example.com",
     "rname": "admin.example.com", "serial": 7, "minimum": 30},
]


def test_every_record_type_is_accepted():
    z = zone(*ALL_TYPES)
    assert {QTYPE.get(rr.rtype) for rr in z.records} == {
        "NAPTR", "SRV", "A", "AAAA", "CNAME", "NS", "TXT", "SOA"}
    assert z.lookup("sip1.example.com", "A")[0].ttl == 60
    assert z.lookup("sip1.example.com", "AAAA")[0].ttl == 300  # the zone default
    assert str(z.lookup("www.example.com", "CNAME")[0].rdata) == "sip1.example.com."
    assert z.soa.rdata.times == (7, 3600, 600, 86400, 30)
    assert z.exists("_tcp.example.com")  # an empty non-terminal exists
    assert not z.exists("nothing.example.com")


def test_a_soa_is_synthesized_when_none_is_given():
    z = zone({"name": "example.com", "type": "A", "address": "127.0.0.1"}, ttl=120)
    assert z.soa.rdata.toZone() == "ns.example.com. hostmaster.example.com. 1 3600 600 86400 120"
    assert z.soa.ttl == 120


def test_records_may_be_omitted():
    assert Zone.from_data({"origin": "example.org"}).records[0].rtype == QTYPE.SOA


@pytest.mark.parametrize(
    "data, path, message",
    [
        ({"ttl": 300}, ("origin",), "missing"),
        ({"origin": "example.com", "recods": []}, ("recods",), "unknown zone field"),
        ({"origin": "exa mple.com"}, ("origin",), "not a valid name"),
        ({"origin": "example.com", "ttl": -1}, ("ttl",), "an integer 0..2147483647"),
        ({"origin": "example.com", "records": {"name": "x"}}, ("records",), "a list"),
        ({"origin": "example.com", "records": ["A 1.2.3.4"]}, ("records", 0), "a mapping"),
        ({"origin": "example.com", "records": [{"name": "example.com", "type": "MX"}]},
         ("records", 0, "type"), "expected one of NAPTR, SRV, A, AAAA, CNAME, SOA, NS, TXT"),
        ({"origin": "example.com", "records": [{"type": "A", "address": "127.0.0.1"}]},
         ("records", 0, "name"), "missing"),
        ({"origin": "example.com", "records": [
            {"name": "example.com", "type": "A", "address": "127.0.0.1"},
            {"name": "x.example.org", "type": "A", "address": "127.0.0.1"}]},
         ("records", 1, "name"), "is not inside zone example.com"),
        ({"origin": "example.com", "records": [
            {"name": "example.com", "type": "A", "adress": "127.0.0.1"}]},
         ("records", 0, "adress"), "unknown field for a A record; expected name, type, ttl, address"),
        ({"origin": "example.com", "records": [
            {"name": "example.com", "type": "A", "address": "::1"}]},
         ("records", 0, "address"), "expected an IPv4 address"),
        ({"origin": "example.com", "records": [
            {"name": "example.com", "type": "AAAA", "address": "127.0.0.1"}]},
         ("records", 0, "address"), "expected an IPv6 address"),
        ({"origin": "example.com", "records": [
            {"name": "_sip._udp.example.com", "type": "SRV", "priority": 10, "weight": 1,
             "port": 70000, "target": "x.example.com"}]},
         ("records", 0, "port"), "expected an integer 0..65535, got 70000"),
        ({"origin": "example.com", "records": [
            {"name": "_sip._udp.example.com", "type": "SRV", "priority": 10, "weight": True,
             "port": 5060, "target": "x.example.com"}]},
         ("records", 0, "weight"), "got True"),
        ({"origin": "example.com", "records": [
            {"name": "_sip._udp.example.com", "type": "SRV", "priority": 10, "port": 5060,
             "target": "x.example.com"}]},
         ("records", 0, "weight"), "missing (a SRV record needs priority, weight, port, target)"),
        ({"origin": "example.com", "records": [
            {"name": "example.com", "type": "NAPTR", "order": "10", "preference": 10,
             "flags": "s", "service": "SIP+D2U", "replacement": "_sip._udp.example.com"}]},
         ("records", 0, "order"), "an integer"),
        ({"origin": "example.com", "records": [
            {"name": "example.com", "type": "TXT", "text": "x" * 256}]},
         ("records", 0, "text", 0), "longer than 255 bytes"),
        ({"origin": "example.com", "records": [
            {"name": "example.com", "type": "TXT", "text": []}]},
         ("records", 0, "text"), "a string or a list of strings"),
        ({"origin": "example.com", "records": [
            {"name": "x.example.com", "type": "A", "address": "127.0.0.1", "ttl": 1.5}]},
         ("records", 0, "ttl"), "an integer"),
        ({"origin": "example.com", "records": [
            {"name": "*.example.com", "type": "A", "address": "127.0.0.1"}]},
         ("records", 0, "name"), "wildcards are not supported"),
        ({"origin": "example.com", "records": [
            {"name": "a" * 64 + ".example.com", "type": "A", "address": "127.0.0.1"}]},
         ("records", 0, "name"), "label longer than 63"),
        ({"origin": "example.com", "records": [
            {"name": "www.example.com", "type": "CNAME", "target": "."}]},
         ("records", 0, "target"), "the root '.' is not allowed here"),
        ({"origin": "example.com", "records": [
            {"name": "x.example.com", "type": "SOA"}]},
         ("records", 0, "name"), "a SOA record belongs at the origin"),
        ({"origin": "example.com", "records": [
            {"name": "www.example.com", "type": "A", "address": "127.0.0.1"},
            {"name": "www.example.com", "type": "CNAME", "target": "x.example.com"}]},
         ("records", 1), "a CNAME cannot coexist with other data"),
        ({"origin": "example.com", "records": [
            {"name": "www.example.com", "type": "CNAME", "target": "x.example.com"},
            {"name": "www.example.com", "type": "TXT", "text": "x"}]},
         ("records", 1), "www.example.com is a CNAME"),
        ({"origin": "example.com", "records": [
            {"name": "www.example.com", "type": "A", "address": "127.0.0.1"},
            {"name": "www.example.com", "type": "A", "address": "127.0.0.1"}]},
         ("records", 1), "duplicate A record"),
        ({"origin": "example.com", "records": [
            {"name": "@", "type": "SOA"}, {"name": "@", "type": "SOA", "serial": 2}]},
         ("records", 1), "a zone has one SOA record"),
    ],
)
def test_zone_errors_name_the_record_and_field(data, path, message):
    with pytest.raises(DnsConfigError) as info:
        Zone.from_data(data)
    error = info.value
    assert error.path == path
    assert message in str(error)
    assert isinstance(error, ValueError)


def test_error_text_index_and_field():
    with pytest.raises(DnsConfigError) as info:
        zone({"name": "example.com", "type": "A", "address": "127.0.0.1"},
             {"name": "_sip._udp.example.com", "type": "SRV", "priority": 1, "weight": 1,
              "port": "5060", "target": "x.example.com"})
    assert str(info.value) == "records[1].port: expected an integer 0..65535, got '5060'"
    assert info.value.index == 1 and info.value.field == "port"


def test_server_prefixes_the_zone_index_and_rejects_duplicates():
    good = {"origin": "example.com"}
    with pytest.raises(DnsConfigError) as info:
        DnsServer([good, {"origin": "example.org", "records": [{"name": "example.org",
                                                               "type": "A"}]}], reactor=None)
    assert str(info.value).startswith("zones[1].records[0].address: missing")
    with pytest.raises(DnsConfigError, match=r"zones\[1\].origin: zone example.com is given twice"):
        DnsServer([good, {"origin": "EXAMPLE.com."}], reactor=None)


# -- faults ---------------------------------------------------------------------------


def test_faults_are_parsed_and_matched():
    table = FaultTable([
        {"name": "example.com", "type": "naptr", "fault": "timeout"},
        {"name": "*.example.com", "fault": "delay", "seconds": 2},
        {"name": "Once.Example.org.", "fault": "SERVFAIL", "times": 1},
        {"name": "once.example.org", "fault": "refused"},
    ])
    assert table.match("example.com", "NAPTR").kind == "timeout"
    assert table.match("example.com", "A") is None
    assert table.match("sip.example.com", "SRV").label == "delay 2s"
    assert table.match("once.example.org", "A").kind == "servfail"
    assert table.match("once.example.org", "A").kind == "refused"  # "times" used up
    assert parse_faults(None) == ()
    assert parse_faults([Fault("x.org", "timeout")]) == (Fault("x.org", "timeout"),)


@pytest.mark.parametrize(
    "fault, path, message",
    [
        ({"fault": "timeout"}, ("faults", 0, "name"), "missing"),
        ({"name": "x.org"}, ("faults", 0, "fault"), "missing"),
        ({"name": "x.org", "fault": "drop"}, ("faults", 0, "fault"),
         "expected one of servfail, refused, timeout, delay"),
        ({"name": "x.org", "fault": "delay"}, ("faults", 0, "seconds"), "seconds > 0"),
        ({"name": "x.org", "fault": "delay", "seconds": "2s"}, ("faults", 0, "seconds"),
         "seconds > 0"),
        ({"name": "x.org", "fault": "timeout", "seconds": 2}, ("faults", 0, "seconds"),
         "only a delay takes seconds"),
        ({"name": "x.org", "fault": "timeout", "type": "MX"}, ("faults", 0, "type"),
         "expected one of"),
        ({"name": "x.org", "fault": "timeout", "times": 0}, ("faults", 0, "times"),
         "an integer >= 1"),
        ({"name": "x.org", "fault": "timeout", "when": 1}, ("faults", 0, "when"),
         "unknown field"),
        ("x.org timeout", ("faults", 0), "a mapping"),
    ],
)
def test_fault_errors(fault, path, message):
    with pytest.raises(DnsConfigError) as info:
        parse_faults([fault])
    assert info.value.path == path
    assert message in str(info.value)
