"""RFC 3263 §4 target selection, driven by tables of DNS answers (no I/O)."""

import random

import pytest

from testbed.dns import (
    DEFAULT_SUPPORTED,
    AddressRecord,
    CnameRecord,
    NaptrRecord,
    PlanError,
    Query,
    QueryFailed,
    Rfc3263Plan,
    SrvRecord,
    Target,
)
from testbed.sip import AUTO, Transport

NX = QueryFailed("NXDOMAIN")


def naptr(order, pref, service, replacement, flags="s", regexp=""):
    return NaptrRecord(order, pref, flags, service, regexp, replacement)


def srv(priority, weight, port, target):
    return SrvRecord(priority, weight, port, target)


def a(address):
    return AddressRecord(address)


# The seed's example: NAPTR 10/20/30 for SIPS+D2T, SIP+D2T, SIP+D2U and three SRV records.
SEED = {
    ("sip.example.com", "NAPTR"): [
        naptr(30, 10, "SIP+D2U", "_sip._udp.sip.example.com"),
        naptr(10, 10, "SIPS+D2T", "_sips._tcp.sip.example.com"),
        naptr(20, 10, "SIP+D2T", "_sip._tcp.sip.example.com"),
    ],
    ("_sips._tcp.sip.example.com", "SRV"): [srv(10, 10, 5061, "pbx.sip.example.com")],
    ("_sip._tcp.sip.example.com", "SRV"): [srv(10, 10, 5060, "pbx.sip.example.com")],
    ("_sip._udp.sip.example.com", "SRV"): [srv(10, 10, 5060, "pbx.sip.example.com")],
    ("pbx.sip.example.com", "A"): [a("127.0.0.7")],
    ("sip.example.com", "A"): [a("127.0.0.8")],
}
SEED_TARGETS = [
    Target("TLS", "pbx.sip.example.com", 5061, "127.0.0.7"),
    Target("TCP", "pbx.sip.example.com", 5060, "127.0.0.7"),
    Target("UDP", "pbx.sip.example.com", 5060, "127.0.0.7"),
]
A_ONLY = {("sip.example.com", "A"): [a("127.0.0.8")]}


def answer_for(dns, query):
    """The table's answer; a name that has other data gives NODATA, else NXDOMAIN."""
    key = (query.name, query.type)
    if key in dns:
        return dns[key]
    return [] if any(name == query.name for name, _ in dns) else NX


def run(uri, dns, mode="AUTO", supported=DEFAULT_SUPPORTED, seed=0, **options):
    plan = Rfc3263Plan(uri, mode, supported, random.Random(seed), **options)
    asked = []
    while (query := plan.next_query()) is not None:
        asked.append(f"{query.type} {query.name}")
        plan.answer(query, answer_for(dns, query))
    assert plan.done
    return plan, asked


def texts(plan):
    return [str(step) for step in plan.trace]


def has_line(plan, fragment):
    return any(fragment in line for line in texts(plan))


# -- the seed example ------------------------------------------------------------------


def test_seed_example_gives_tls_then_tcp_then_udp():
    plan, asked = run("sip:sip.example.com", SEED)
    assert plan.targets == SEED_TARGETS
    assert asked == [
        "NAPTR sip.example.com",
        "SRV _sips._tcp.sip.example.com", "A pbx.sip.example.com", "AAAA pbx.sip.example.com",
        "SRV _sip._tcp.sip.example.com",
        "SRV _sip._udp.sip.example.com",
    ]
    assert has_line(plan, "NAPTR sip.example.com → 3 records: SIPS+D2T order 10 pref 10 → "
                          "_sips._tcp.sip.example.com; SIP+D2T order 20")
    assert plan.trace[-1].kind == "result"
    assert str(plan.trace[-1]).startswith("targets: 1) TLS 127.0.0.7:5061 (pbx.sip.example.com)")


def test_seed_example_without_naptr_or_srv_gives_udp_5060_on_the_a_record():
    plan, asked = run("sip:sip.example.com", A_ONLY)
    assert plan.targets == [Target("UDP", "sip.example.com", 5060, "127.0.0.8")]
    # RFC 3263 §4.1: "_sip" SRV names for a sip: URI, never "_sips"
    assert asked == ["NAPTR sip.example.com", "SRV _sip._tcp.sip.example.com",
                     "SRV _sip._udp.sip.example.com", "A sip.example.com",
                     "AAAA sip.example.com"]
    assert has_line(plan, "no NAPTR and a sip: URI: _sips._tcp/_sips._ws not queried")
    assert has_line(plan, "no NAPTR: trying _sip._tcp/_sip._udp SRV")
    assert has_line(plan, "fell back to A sip.example.com → UDP 5060 (RFC 3263 §4.2 default)")
    assert any(step.kind == "fallback" for step in plan.trace)


# -- NAPTR -----------------------------------------------------------------------------


def _naptr_zone(records):
    dns = {("example.com", "NAPTR"): records}
    for transport, prefix, port in [("tls", "_sips._tcp", 5061), ("tcp", "_sip._tcp", 5060),
                                    ("udp", "_sip._udp", 5060), ("wss", "_sips._ws", 443),
                                    ("ws", "_sip._ws", 80)]:
        dns[(f"{prefix}.example.com", "SRV")] = [srv(0, 0, port, f"{transport}.example.com")]
        dns[(f"{transport}.example.com", "A")] = [a("127.0.0.1")]
    return dns


@pytest.mark.parametrize(
    "records, supported, expected",
    [
        # order first, then preference, whatever the order of the answer
        ([naptr(20, 1, "SIP+D2U", "_sip._udp.example.com"),
          naptr(10, 50, "SIP+D2T", "_sip._tcp.example.com"),
          naptr(10, 10, "SIPS+D2T", "_sips._tcp.example.com")],
         DEFAULT_SUPPORTED, ["TLS", "TCP", "UDP"]),
        # preference breaks a tie of order
        ([naptr(10, 20, "SIPS+D2T", "_sips._tcp.example.com"),
          naptr(10, 10, "SIP+D2U", "_sip._udp.example.com")],
         DEFAULT_SUPPORTED, ["UDP", "TLS"]),
        # unsupported services are skipped
        ([naptr(10, 10, "SIPS+D2T", "_sips._tcp.example.com"),
          naptr(20, 10, "SIP+D2T", "_sip._tcp.example.com"),
          naptr(30, 10, "SIP+D2U", "_sip._udp.example.com")],
         ("UDP", "TCP"), ["TCP", "UDP"]),
        # the client's preference order does not reorder NAPTR results
        ([naptr(10, 10, "SIP+D2U", "_sip._udp.example.com"),
          naptr(20, 10, "SIP+D2T", "_sip._tcp.example.com")],
         ("TCP", "UDP"), ["UDP", "TCP"]),
        # RFC 7118 WebSocket services
        ([naptr(5, 10, "SIPS+D2W", "_sips._ws.example.com"),
          naptr(10, 10, "SIP+D2W", "_sip._ws.example.com"),
          naptr(20, 10, "SIPS+D2T", "_sips._tcp.example.com")],
         ("WSS", "WS", "TLS"), ["WSS", "WS", "TLS"]),
        ([naptr(5, 10, "SIPS+D2W", "_sips._ws.example.com"),
          naptr(10, 10, "SIP+D2W", "_sip._ws.example.com")],
         DEFAULT_SUPPORTED, ["WSS"]),
        # service names are case-insensitive
        ([naptr(10, 10, "sips+d2t", "_sips._tcp.example.com")], DEFAULT_SUPPORTED, ["TLS"]),
    ],
)
def test_naptr_order_preference_and_services(records, supported, expected):
    plan, _ = run("sip:example.com", _naptr_zone(records), supported=supported)
    assert [t.transport for t in plan.targets] == expected


@pytest.mark.parametrize(
    "record, why",
    [
        (naptr(10, 10, "E2U+sip", "_sip._udp.example.com"), "not a SIP transport service"),
        (naptr(10, 10, "SIP+D2S", "_sip._sctp.example.com"), "not a SIP transport service"),
        (naptr(10, 10, "SIP+D2U", "_sip._udp.example.com", flags="a"), "flag 'a'"),
        (naptr(10, 10, "SIP+D2U", "_sip._udp.example.com", flags=""), "flag ''"),
        (naptr(10, 10, "SIP+D2U", ".", regexp="!^.*$!sip:x@y!"), "non-empty regexp"),
        (naptr(10, 10, "SIP+D2U", "."), "empty replacement"),
        (naptr(10, 10, "SIP+D2W", "_sip._ws.example.com"), "does not support WS"),
    ],
)
def test_unusable_naptr_records_are_skipped_with_a_reason(record, why):
    dns = _naptr_zone([record, naptr(20, 10, "SIP+D2T", "_sip._tcp.example.com")])
    plan, _ = run("sip:example.com", dns)
    assert [t.transport for t in plan.targets] == ["TCP"]
    skips = [str(s) for s in plan.trace if s.kind == "skip"]
    assert len(skips) == 1 and why in skips[0]


def test_naptr_records_none_usable_fall_back_to_srv_per_transport():
    dns = _naptr_zone([naptr(10, 10, "E2U+sip", "x.example.com")])
    plan, asked = run("sip:example.com", dns, supported=("UDP", "TCP"))
    assert has_line(plan, "NAPTR records exist but none is usable")
    assert [q for q in asked if q.startswith("SRV")] == [
        "SRV _sip._udp.example.com", "SRV _sip._tcp.example.com"]
    assert [t.transport for t in plan.targets] == ["UDP", "TCP"]


def test_naptr_without_any_srv_falls_back_to_a_with_the_first_naptr_transport():
    dns = {("example.com", "NAPTR"): [naptr(10, 10, "SIP+D2T", "_sip._tcp.example.com")],
           ("example.com", "A"): [a("127.0.0.3")]}
    plan, _ = run("sip:example.com", dns)
    assert plan.targets == [Target("TCP", "example.com", 5060, "127.0.0.3")]
    assert has_line(plan, "no SRV behind the NAPTR records: fell back to A example.com → TCP 5060")


@pytest.mark.parametrize("failure", ["SERVFAIL", "TIMEOUT", "REFUSED"])
def test_naptr_failure_is_treated_as_no_naptr_and_says_so(failure):
    dns = dict(SEED)
    dns[("sip.example.com", "NAPTR")] = QueryFailed(failure)
    plan, asked = run("sip:sip.example.com", dns)
    assert has_line(plan, f"NAPTR sip.example.com → {failure}")
    assert has_line(plan, f"NAPTR lookup failed ({failure}): treated as no NAPTR")
    # then "_sip" SRV per transport in the client's order: TCP, UDP (RFC 3263 §4.1)
    assert [t.transport for t in plan.targets] == ["TCP", "UDP"]
    secure, _ = run("sips:sip.example.com", dns)  # a sips: URI: "_sips" SRV, TLS
    assert [t.transport for t in secure.targets] == ["TLS"]


# -- no NAPTR: SRV per transport ----------------------------------------------------------


@pytest.mark.parametrize(
    "scheme, supported, expected_queries, expected",
    [
        ("sip", ("TLS", "TCP", "UDP"), ["_sip._tcp", "_sip._udp"], ["TCP", "UDP"]),
        ("sip", ("UDP", "TCP"), ["_sip._udp", "_sip._tcp"], ["UDP", "TCP"]),
        ("sip", ("TCP",), ["_sip._tcp"], ["TCP"]),
        ("sips", ("TLS", "TCP", "UDP", "WSS"), ["_sips._tcp", "_sips._ws"], ["TLS"]),
    ],
)
def test_no_naptr_tries_srv_in_client_preference_order(scheme, supported, expected_queries,
                                                       expected):
    """RFC 3263 §4.1: "_sip" SRV names for a sip: URI, "_sips" ones for a sips: URI."""
    dns = {k: v for k, v in SEED.items() if k[1] != "NAPTR"}
    plan, asked = run(f"{scheme}:sip.example.com", dns, supported=supported)
    assert [q for q in asked if q.startswith("SRV")] == [
        f"SRV {p}.sip.example.com" for p in expected_queries]
    assert [t.transport for t in plan.targets] == expected


def test_no_naptr_only_some_srv_found_uses_those_without_a_fallback():
    dns = {("_sip._tcp.example.com", "SRV"): [srv(1, 1, 5070, "pbx.example.com")],
           ("pbx.example.com", "A"): [a("127.0.0.5")],
           ("example.com", "A"): [a("127.0.0.6")]}
    plan, asked = run("sip:example.com", dns)
    assert plan.targets == [Target("TCP", "pbx.example.com", 5070, "127.0.0.5")]
    assert "A example.com" not in asked


def test_default_transport_unsupported_in_auto_uses_first_supported_and_says_so():
    plan, _ = run("sip:sip.example.com", A_ONLY, supported=("TCP",))
    assert plan.targets == [Target("TCP", "sip.example.com", 5060, "127.0.0.8")]
    assert has_line(plan, "default transport UDP is not supported by the client: using TCP")


# -- SRV --------------------------------------------------------------------------------


def test_srv_priority_orders_targets_and_each_target_is_resolved():
    dns = {("_sip._udp.example.com", "SRV"): [srv(20, 0, 5062, "backup.example.com"),
                                              srv(10, 0, 5060, "main.example.com")],
           ("main.example.com", "A"): [a("127.0.0.1"), a("127.0.0.2")],
           ("main.example.com", "AAAA"): [AddressRecord("::1")],
           ("backup.example.com", "A"): [a("127.0.0.3")]}
    plan, _ = run("sip:example.com;transport=udp", dns)
    assert plan.targets == [
        Target("UDP", "main.example.com", 5060, "127.0.0.1"),
        Target("UDP", "main.example.com", 5060, "127.0.0.2"),
        Target("UDP", "main.example.com", 5060, "::1"),
        Target("UDP", "backup.example.com", 5062, "127.0.0.3"),
    ]
    assert str(plan.targets[2]) == "UDP [::1]:5060 (main.example.com)"


def test_srv_weights_use_the_seeded_rng():
    records = [srv(10, 50, 5060, f"h{i}.example.com") for i in range(4)]
    dns = {("_sip._udp.example.com", "SRV"): records}
    dns.update({(f"h{i}.example.com", "A"): [a(f"127.0.0.{i + 1}")] for i in range(4)})
    orders = {tuple(t.host for t in run("sip:example.com;transport=udp", dns, seed=s)[0].targets)
              for s in range(30)}
    assert len(orders) > 5  # the seed matters...
    first = run("sip:example.com;transport=udp", dns, seed=7)[0].targets
    again = run("sip:example.com;transport=udp", dns, seed=7)[0].targets
    assert first == again  # ...and reproduces


def test_srv_target_dot_means_not_available_and_no_fallback():
    dns = {("_sip._udp.example.com", "SRV"): [srv(0, 0, 0, ".")],
           ("example.com", "A"): [a("127.0.0.1")]}
    plan, asked = run("sip:example.com;transport=udp", dns)
    assert plan.targets == []
    assert has_line(plan, "decidedly not available")
    assert "A example.com" not in asked


def test_srv_target_without_address_is_skipped():
    dns = {("_sip._udp.example.com", "SRV"): [srv(1, 0, 5060, "gone.example.com"),
                                              srv(2, 0, 5060, "ok.example.com")],
           ("ok.example.com", "A"): [a("127.0.0.9")]}
    plan, _ = run("sip:example.com;transport=udp", dns)
    assert [t.host for t in plan.targets] == ["ok.example.com"]
    assert has_line(plan, "SRV target gone.example.com has no address: skipped")
    assert has_line(plan, "A gone.example.com → NXDOMAIN")


def test_each_host_is_looked_up_once_per_plan():
    plan, asked = run("sip:sip.example.com", SEED)
    assert asked.count("A pbx.sip.example.com") == 1


def test_cname_in_an_address_answer_is_traced():
    dns = {("sip.example.com", "A"): [CnameRecord("sip.example.com", "real.example.com"),
                                      AddressRecord("127.0.0.4", "real.example.com")]}
    plan, _ = run("sip:sip.example.com:5070", dns, mode="UDP")
    assert plan.targets == [Target("UDP", "sip.example.com", 5070, "127.0.0.4")]
    assert has_line(plan, "sip.example.com is an alias (CNAME) of real.example.com")


# -- explicit port, explicit transport, numeric IP -----------------------------------------


def test_auto_ignores_an_explicit_port_and_says_so():
    plan, asked = run("sip:sip.example.com:5080", SEED)
    assert plan.targets == SEED_TARGETS
    assert asked[0] == "NAPTR sip.example.com"
    assert has_line(plan, "AUTO ignored explicit port 5080")


@pytest.mark.parametrize(
    "uri, mode, expected",
    [
        ("sip:sip.example.com:5080", "UDP", Target("UDP", "sip.example.com", 5080, "127.0.0.8")),
        ("sip:sip.example.com:5080", "TCP", Target("TCP", "sip.example.com", 5080, "127.0.0.8")),
        ("sip:sip.example.com:5081;transport=tcp", "TLS",
         Target("TLS", "sip.example.com", 5081, "127.0.0.8")),
        ("sips:sip.example.com:8443", "WSS", Target("WSS", "sip.example.com", 8443, "127.0.0.8")),
    ],
)
def test_explicit_port_outside_auto_means_a_lookup_only(uri, mode, expected):
    plan, asked = run(uri, SEED, mode=mode)
    assert plan.targets == [expected]
    assert asked == ["A sip.example.com", "AAAA sip.example.com"]
    assert has_line(plan, "no NAPTR/SRV")


@pytest.mark.parametrize(
    "uri, srv_name, transport, port",
    [
        ("sip:sip.example.com;transport=tcp", "_sip._tcp.sip.example.com", "TCP", 5060),
        ("sip:sip.example.com;transport=TCP", "_sip._tcp.sip.example.com", "TCP", 5060),
        ("sip:sip.example.com;transport=udp", "_sip._udp.sip.example.com", "UDP", 5060),
        ("sip:sip.example.com;transport=tls", "_sips._tcp.sip.example.com", "TLS", 5061),
        ("sips:sip.example.com;transport=tcp", "_sips._tcp.sip.example.com", "TLS", 5061),
        ("sips:sip.example.com", "_sips._tcp.sip.example.com", "TLS", 5061),
    ],
)
def test_explicit_transport_queries_that_srv_only(uri, srv_name, transport, port):
    plan, asked = run(uri, SEED, mode="AUTO" if "transport" in uri else "TLS")
    assert "NAPTR sip.example.com" not in asked
    assert asked[0] == f"SRV {srv_name}"
    assert plan.targets == [Target(transport, "pbx.sip.example.com", port, "127.0.0.7")]


@pytest.mark.parametrize(
    "uri, mode, transport, port",
    [
        ("sip:sip.example.com;transport=tcp", "AUTO", "TCP", 5060),
        ("sip:sip.example.com", "UDP", "UDP", 5060),
        ("sip:sip.example.com", "TLS", "TLS", 5061),
        ("sips:sip.example.com", "WSS", "WSS", 443),
        ("sip:sip.example.com;transport=ws", "WS", "WS", 80),
    ],
)
def test_explicit_transport_without_srv_falls_back_to_a_at_the_default_port(
        uri, mode, transport, port):
    plan, asked = run(uri, A_ONLY, mode=mode, supported=("UDP", "TCP", "TLS", "WS", "WSS"))
    assert plan.targets == [Target(transport, "sip.example.com", port, "127.0.0.8")]
    assert asked[0].startswith("SRV ")
    assert has_line(plan, f"fell back to A sip.example.com → {transport} {port}")


def test_forced_mode_overrides_the_uri_transport_and_says_so():
    plan, asked = run("sip:sip.example.com;transport=udp", SEED, mode="TCP")
    assert asked[0] == "SRV _sip._tcp.sip.example.com"
    assert has_line(plan, "mode TCP overrides transport=udp")


@pytest.mark.parametrize(
    "uri, mode, expected",
    [
        ("sip:127.0.0.9", "AUTO", Target("UDP", "127.0.0.9", 5060, "127.0.0.9")),
        ("sip:127.0.0.9:5070;transport=tcp", "AUTO", Target("TCP", "127.0.0.9", 5070, "127.0.0.9")),
        ("sips:127.0.0.9", "AUTO", Target("TLS", "127.0.0.9", 5061, "127.0.0.9")),
        ("sip:alice@[::1]:5062", "AUTO", Target("UDP", "::1", 5062, "::1")),
        ("sip:127.0.0.9", "TLS", Target("TLS", "127.0.0.9", 5061, "127.0.0.9")),
        ("sip:127.0.0.9", "WSS", Target("WSS", "127.0.0.9", 443, "127.0.0.9")),
        ("sip:127.0.0.9:8080", "WSS", Target("WSS", "127.0.0.9", 8080, "127.0.0.9")),
    ],
)
def test_numeric_ip_needs_no_dns(uri, mode, expected):
    plan, asked = run(uri, {}, mode=mode)
    assert asked == []
    assert plan.targets == [expected]
    assert has_line(plan, "numeric IP address: no DNS lookup")


def test_maddr_replaces_the_host():
    plan, asked = run("sip:sip.example.com;maddr=127.0.0.20", SEED)
    assert asked == []
    assert plan.targets == [Target("UDP", "127.0.0.20", 5060, "127.0.0.20")]
    assert has_line(plan, "maddr=127.0.0.20 replaces the host")


# -- sips: ------------------------------------------------------------------------------


def test_sips_uses_only_sips_naptr_services():
    plan, _ = run("sips:sip.example.com", SEED)
    assert plan.targets == [SEED_TARGETS[0]]
    skipped = [str(s) for s in plan.trace if s.kind == "skip"]
    assert len(skipped) == 2 and all("needs a SIPS+ service" in s for s in skipped)


def test_sips_without_naptr_tries_only_secure_srv_and_falls_back_to_tls_5061():
    plan, asked = run("sips:sip.example.com", A_ONLY)
    assert [q for q in asked if q.startswith("SRV")] == [
        "SRV _sips._tcp.sip.example.com", "SRV _sips._ws.sip.example.com"]
    assert plan.targets == [Target("TLS", "sip.example.com", 5061, "127.0.0.8")]


@pytest.mark.parametrize(
    "uri, mode, why",
    [
        ("sips:sip.example.com", "UDP", "a sips: URI needs TLS or WSS"),
        ("sips:sip.example.com", "TCP", "a sips: URI needs TLS or WSS"),
        ("sips:sip.example.com;transport=udp", "AUTO", "a sips: URI cannot use transport=udp"),
        ("sip:sip.example.com;transport=sctp", "AUTO", "transport=sctp in the URI is not"),
        ("sip:sip.example.com;transport=ws", "AUTO", "which the client does not support"),
    ],
)
def test_impossible_combinations_give_no_targets_and_an_error_line(uri, mode, why):
    plan, asked = run(uri, SEED, mode=mode)
    assert asked == [] and plan.targets == []
    errors = [str(s) for s in plan.trace if s.kind == "error"]
    assert len(errors) == 1 and why in errors[0]
    assert str(plan.trace[-1]) == "no targets: nothing to contact"


# -- WebSocket SRV labels ---------------------------------------------------------------


def test_wss_srv_label_default_and_override():
    dns = {("_sips._ws.example.com", "SRV"): [srv(0, 0, 8443, "ws.example.com")],
           ("_sips._wss.example.com", "SRV"): [srv(0, 0, 9443, "ws.example.com")],
           ("ws.example.com", "A"): [a("127.0.0.1")]}
    plan, _ = run("sips:example.com", dns, mode="WSS")
    assert plan.targets == [Target("WSS", "ws.example.com", 8443, "127.0.0.1")]
    plan, _ = run("sips:example.com", dns, mode="WSS", srv_prefixes={"WSS": "_sips._wss"})
    assert plan.targets == [Target("WSS", "ws.example.com", 9443, "127.0.0.1")]


# -- families, the facade, bad input ----------------------------------------------------


def test_families_choose_the_address_queries():
    dns = {("h.example.com", "A"): [a("127.0.0.1")], ("h.example.com", "AAAA"): [
        AddressRecord("::1")]}
    plan, asked = run("sip:h.example.com:5060", dns, mode="UDP", families=("AAAA",))
    assert asked == ["AAAA h.example.com"]
    assert [t.address for t in plan.targets] == ["::1"]


def test_the_plan_refuses_out_of_order_answers():
    plan = Rfc3263Plan("sip:example.com", "AUTO", DEFAULT_SUPPORTED, random.Random(1))
    assert plan.next_query() == Query("example.com", "NAPTR")
    with pytest.raises(PlanError, match="waiting for NAPTR example.com"):
        plan.answer(Query("example.com", "SRV"), [])
    numeric = Rfc3263Plan("sip:127.0.0.1", "AUTO", DEFAULT_SUPPORTED, random.Random(1))
    assert numeric.done and numeric.next_query() is None
    with pytest.raises(PlanError, match="finished"):
        numeric.answer(Query("example.com", "A"), [])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(uri="tel:+15551234"), "only sip: and sips:"),
        (dict(uri="sip:"), "invalid URI"),
        (dict(uri="sip:example.com", mode="SCTP"), "mode must be one of"),
        (dict(uri="sip:example.com", supported=("UDP", "QUIC")), "unknown transport"),
        (dict(uri="sip:example.com", supported=()), "at least one supported"),
        (dict(uri="sip:example.com", families=("MX",)), "families"),
    ],
)
def test_bad_arguments_raise_plan_error(kwargs, message):
    with pytest.raises(PlanError, match=message):
        Rfc3263Plan(rng=random.Random(0), **kwargs)


def test_mode_and_supported_are_case_insensitive():
    plan, _ = run("sip:sip.example.com", SEED, mode="auto", supported=("tls",))
    assert [t.transport for t in plan.targets] == ["TLS"]


def test_target_validation_and_equality():
    assert Target("UDP", "h", 5060, "127.0.0.1", reason="x") == Target("UDP", "h", 5060,
                                                                        "127.0.0.1")
    assert Target("TLS", "h", 5061).secure and not Target("UDP", "h", 5060).secure
    with pytest.raises(ValueError):
        Target("SCTP", "h", 5060)
    with pytest.raises(ValueError):
        Target("UDP", "h", 0)


@pytest.mark.parametrize(
    "mode, supported",
    [
        (AUTO, DEFAULT_SUPPORTED),  # the vocabulary's own values
        ("AUTO", ("TLS", "TCP", "UDP", "WSS")),  # names, as strings
        (Transport.TLS, (Transport.TLS,)),
    ],
)
def test_plan_speaks_the_sip_vocabulary(mode, supported):
    plan, _ = run("sip:sip.example.com", SEED, mode=mode, supported=supported)
    assert all(type(t.transport) is Transport for t in plan.targets)
    assert plan.targets[0].transport is Transport.TLS
    assert all(type(t) is Transport for t in plan.supported)


@pytest.mark.parametrize("given", ["UDP", Transport.UDP])
def test_target_transport_is_a_transport(given):
    target = Target(given, "h", 5060)
    assert target.transport is Transport.UDP and target == Target(Transport.UDP, "h", 5060)
    assert str(target) == "UDP h:5060"


def test_srv_prefix_override_names_a_known_transport():
    with pytest.raises(PlanError, match="unknown transport"):
        Rfc3263Plan("sip:example.com", AUTO, DEFAULT_SUPPORTED, random.Random(0),
                    srv_prefixes={"QUIC": "_sip._quic"})


def test_targets_carry_their_reason():
    plan, _ = run("sip:sip.example.com", SEED)
    assert plan.targets[0].reason == (
        "NAPTR SIPS+D2T → SRV _sips._tcp.sip.example.com 10 10 5061 pbx.sip.example.com")
