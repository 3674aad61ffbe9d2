"""The load engine on real loopback sockets against our registrar: tiny loads whose
counts must add up. Nothing here measures speed."""

import math

import pytest
import pytest_twisted
from twisted.internet import protocol, reactor

from servers.loopback import find_free_loopback
from testbed.load import LoadConfig, LoadRunner, run_load
from testbed.sip import Timers

FAST = Timers(t1=0.02, t2=0.16, t4=0.2)  # Timer F = 1.28 s
USERS = {f"alice{i}": "secret" for i in range(20)}


def load_config(uri, transport, **changes):
    changes.setdefault("endpoints", 20)
    changes.setdefault("count", 60)
    changes.setdefault("password", "secret")
    return LoadConfig(registrar=uri, transport=transport, domain="example.com",
                      server_name="sip.example.com", timers=FAST, **changes)


def assert_consistent(result, config):
    assert result.check() == []
    assert result.attempted == config.count
    assert result.failed == result.unfinished == 0, result.summary()


@pytest.mark.parametrize("transport", ["UDP", "TCP", "TLS", "WSS"])
@pytest_twisted.ensureDeferred
async def test_twenty_endpoints_register_with_digest(servers, pki, tls_server, transport):
    registrar, bound = servers.registrar({transport: 0}, tls_options=tls_server(),
                                         users=dict(USERS))
    host, port = bound[transport]
    param = {"UDP": "", "TCP": ";transport=tcp", "TLS": ";transport=tls",
             "WSS": ";transport=ws"}[transport]
    config = load_config(f"sip:{host}:{port}{param}", transport.lower(), ca_pem=pki[0].cert_pem)

    result = await run_load(reactor, config)

    assert_consistent(result, config)
    assert result.succeeded == 60 and list(result.latencies) == [transport]
    assert result.statuses[200] == 60 and result.statuses[401] == 0  # 401s are not final
    assert result.latency(transport).count == 60 and result.latency().p50 > 0
    aors = {b for b in registrar.location.bindings}
    assert aors == {f"sip:alice{i}@example.com" for i in range(20)}
    registers = [r for r in registrar.received if r.method == "REGISTER"]
    assert len(registers) == 120  # a challenge and an answer for each registration
    if transport != "UDP":
        flows = {id(b.flow) for bindings in registrar.location.bindings.values()
                 for b in bindings}
        assert len(flows) == 1  # shared: one connection carries every endpoint


@pytest_twisted.ensureDeferred
async def test_per_endpoint_connections(servers):
    registrar, bound = servers.registrar({"TCP": 0}, users=dict(USERS))
    host, port = bound["TCP"]
    config = load_config(f"sip:{host}:{port};transport=tcp", "tcp", count=40,
                         connections="per-endpoint")
    runner = LoadRunner(reactor, config)
    try:
        result = await runner.run()
        assert_consistent(result, config)
        flows = {b.flow for bindings in registrar.location.bindings.values() for b in bindings}
        assert len(flows) == 20 and all(not f.closed for f in flows)
    finally:
        await runner.stop()


@pytest_twisted.ensureDeferred
async def test_calls(servers):
    registrar, bound = servers.registrar({"UDP": 0}, users=dict(USERS))
    host, port = bound["UDP"]
    config = load_config(f"sip:{host}:{port}", "udp", endpoints=5, count=10,
                         operation="call")
    result = await run_load(reactor, config)
    assert_consistent(result, config)
    methods = [r.method for r in registrar.received]
    assert methods.count("BYE") == 10 and methods.count("ACK") == 10


@pytest_twisted.ensureDeferred
async def test_auto_mode_through_our_dns(servers, pki, tls_server):
    from servers.dns import DnsServer

    registrar, bound = servers.registrar({"TLS": 0, "UDP": 0}, tls_options=tls_server(),
                                         users=dict(USERS))
    host, tls_port = bound["TLS"]
    zone = {"origin": "sip.example.com", "records": [
        {"name": "sip.example.com", "type": "NAPTR", "order": 10, "preference": 10,
         "flags": "s", "service": "SIPS+D2T", "regexp": "",
         "replacement": "_sips._tcp.sip.example.com"},
        {"name": "_sips._tcp.sip.example.com", "type": "SRV", "priority": 10, "weight": 10,
         "port": tls_port, "target": "pbx.sip.example.com"},
        {"name": "pbx.sip.example.com", "type": "A", "address": host}]}
    dns = DnsServer([zone], reactor)
    listening = dns.listen(find_free_loopback([]), 0)
    try:
        config = load_config("sip:sip.example.com", "auto", ca_pem=pki[0].cert_pem,
                             dns=[(listening.host, listening.port)])
        result = await run_load(reactor, config)
    finally:
        await dns.stop()
    assert_consistent(result, config)
    assert list(result.latencies) == ["TLS"]
    assert any("NAPTR" in step for step in result.resolution)
    assert len([q for q in dns.log if q.qtype == "NAPTR"]) == 1  # located once per run


@pytest_twisted.ensureDeferred
async def test_rate_and_duration_bound_what_is_issued(servers):
    registrar, bound = servers.registrar({"UDP": 0})
    host, port = bound["UDP"]
    config = load_config(f"sip:{host}:{port}", "udp", count=None, duration=0.3, rate=100.0,
                         password=None)
    result = await run_load(reactor, config)
    assert result.check() == [] and result.failed == 0
    # never more than the rate allows by the end of the issuing phase (+1: one at t=0)
    assert 1 <= result.attempted <= math.floor(result.issuing * 100.0) + 1
    assert result.issuing >= 0.3


@pytest.mark.parametrize(("options", "kind", "status"), [
    ({"users": {f"alice{i}": "other" for i in range(20)}}, "auth", 401),
    ({"register_status": 503}, "rejected", 503),
])
@pytest_twisted.ensureDeferred
async def test_failures_are_counted_by_error_kind(servers, options, kind, status):
    registrar, bound = servers.registrar({"UDP": 0}, **options)
    host, port = bound["UDP"]
    config = load_config(f"sip:{host}:{port}", "udp", count=30)
    result = await run_load(reactor, config)
    assert result.check() == []
    assert result.failed == 30 and result.errors == {kind: 30}
    assert result.statuses[status] == 30 and result.latencies == {}


@pytest_twisted.ensureDeferred
async def test_refused_connections():
    host = find_free_loopback([("TCP", 5999)])
    config = load_config(f"sip:{host}:5999;transport=tcp", "tcp", endpoints=4, count=8)
    result = await run_load(reactor, config)
    assert result.check() == [] and result.errors == {"refused": 8}


@pytest_twisted.ensureDeferred
async def test_operations_still_in_flight_after_the_drain_are_unfinished():
    class Silent(protocol.DatagramProtocol):
        def datagramReceived(self, data, addr):
            pass  # a server that never answers

    port = reactor.listenUDP(0, Silent(), interface="127.0.0.1")
    try:
        config = load_config(f"sip:127.0.0.1:{port.getHost().port}", "udp", endpoints=5,
                             count=5, drain=0.05)
        result = await run_load(reactor, config)
    finally:
        await port.stopListening()
    assert result.check() == []
    assert (result.attempted, result.unfinished, result.succeeded) == (5, 5, 0)


@pytest_twisted.ensureDeferred
async def test_no_target_fails_every_endpoint_once():
    config = load_config("sip:nowhere.invalid", "udp", endpoints=3, count=50)
    result = await run_load(reactor, config)
    assert result.check() == []
    assert result.errors == {"dns": 3} and result.notes[-1].startswith("no target")


@pytest_twisted.ensureDeferred
async def test_progress_is_reported_and_ends_with_done(servers):
    registrar, bound = servers.registrar({"UDP": 0})
    host, port = bound["UDP"]
    seen = []
    config = load_config(f"sip:{host}:{port}", "udp", count=20, password=None)
    result = await run_load(reactor, config, progress=seen.append, progress_interval=0.01)
    assert seen[-1].done and seen[-1].succeeded == result.succeeded == 20
    assert all(not p.done for p in seen[:-1])
