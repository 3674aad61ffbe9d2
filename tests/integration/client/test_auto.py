"""AUTO mode end to end: our DNS server, RFC 3263 discovery, registration, failover."""

import pytest
import pytest_twisted
from twisted.internet import protocol, reactor

from servers.dns import DnsServer
from servers.loopback import find_free_loopback

DOMAIN = "sip.example.com"


def seed_zone(registrar_host, *, services=("SIPS+D2T", "SIP+D2T", "SIP+D2U"),
              ports=None, extra=()):
    """The seed's example: NAPTR 10/20/30 for TLS, TCP, UDP and their SRV records."""
    ports = ports or {"TLS": 5061, "TCP": 5060, "UDP": 5060, "WSS": 443}
    naptr = {
        "SIPS+D2T": ("_sips._tcp", "TLS"), "SIP+D2T": ("_sip._tcp", "TCP"),
        "SIP+D2U": ("_sip._udp", "UDP"), "SIPS+D2W": ("_sips._ws", "WSS"),
    }
    records = []
    for order, service in enumerate(services, start=1):
        label, transport = naptr[service]
        records.append({"name": DOMAIN, "type": "NAPTR", "order": order * 10, "preference": 10,
                        "flags": "s", "service": service, "regexp": "",
                        "replacement": f"{label}.{DOMAIN}"})
        records.append({"name": f"{label}.{DOMAIN}", "type": "SRV", "priority": 10,
                        "weight": 10, "port": ports[transport], "target": f"pbx.{DOMAIN}"})
    records.append({"name": f"pbx.{DOMAIN}", "type": "A", "address": registrar_host})
    records.append({"name": DOMAIN, "type": "A", "address": registrar_host})
    records.extend(extra)
    return {"origin": DOMAIN, "ttl": 60, "records": records}


@pytest.fixture
def dns():
    started = []

    def start(zone):
        server = DnsServer([zone], reactor)
        listening = server.listen(find_free_loopback([("UDP", 53), ("TCP", 53)]), 53)
        started.append(server)
        return server, (listening.host, listening.port)

    yield start
    for server in started:
        pytest_twisted.blockon(server.stop())


def auto_agent(agents, pki, dns_address, **options):
    options.setdefault("password", "secret")
    return agents.agent(f"sip:{DOMAIN}", "auto", dns=[dns_address], ca_pem=pki[0].cert_pem,
                        **options)


@pytest_twisted.ensureDeferred
async def test_seed_example_resolves_tls_first_then_tcp_then_udp(servers, agents, pki,
                                                                 tls_server, dns):
    registrar, bound = servers.registrar({"TLS": 5061, "TCP": 5060, "UDP": 5060},
                                         tls_options=tls_server(), users={"alice": "secret"})
    host = bound["TLS"][0]
    server, address = dns(seed_zone(host))
    agent = auto_agent(agents, pki, address)

    outcome = await agent.register()

    assert outcome.ok, outcome.summary
    assert outcome.transport == "TLS" and outcome.remote == (host, 5061)
    located = await agent.locator.locate()
    assert [(t.transport, t.port) for t in located.targets] == [
        ("TLS", 5061), ("TCP", 5060), ("UDP", 5060)]
    assert [(q.qname.rstrip("."), q.qtype) for q in server.log][:2] == [
        (DOMAIN, "NAPTR"), (f"_sips._tcp.{DOMAIN}", "SRV")]


@pytest.mark.parametrize("service, transport, port", [
    ("SIP+D2U", "UDP", 5060), ("SIP+D2T", "TCP", 5060), ("SIPS+D2T", "TLS", 5061),
    ("SIPS+D2W", "WSS", 443)])
@pytest_twisted.ensureDeferred
async def test_auto_registers_on_each_transport(servers, agents, pki, tls_server, dns,
                                                service, transport, port):
    registrar, bound = servers.registrar({transport: port}, tls_options=tls_server(),
                                         users={"alice": "secret"})
    host = bound[transport][0]
    _, address = dns(seed_zone(host, services=(service,)))
    outcome = await auto_agent(agents, pki, address).register()
    assert outcome.ok, outcome.summary
    assert (outcome.transport, outcome.remote) == (transport, (host, port))
    assert any(service in step for step in outcome.resolution)


@pytest_twisted.ensureDeferred
async def test_no_naptr_no_srv_falls_back_to_udp_5060(servers, agents, pki, dns):
    registrar, bound = servers.registrar({"UDP": 5060}, users={"alice": "secret"})
    host = bound["UDP"][0]
    _, address = dns(seed_zone(host, services=()))
    outcome = await auto_agent(agents, pki, address).register()
    assert outcome.ok, outcome.summary
    assert (outcome.transport, outcome.remote) == ("UDP", (host, 5060))
    assert any("5060" in step and "A " in step for step in outcome.resolution)


@pytest_twisted.ensureDeferred
async def test_auto_ignores_an_explicit_port_and_says_so(servers, agents, pki, dns):
    registrar, bound = servers.registrar({"UDP": 5060})
    host = bound["UDP"][0]
    _, address = dns(seed_zone(host, services=()))
    agent = agents.agent(f"sip:{DOMAIN}:5080", "auto", dns=[address], password=None)
    outcome = await agent.register()
    assert outcome.ok and outcome.remote == (host, 5060)
    assert any("ignored explicit port 5080" in step for step in outcome.resolution)


@pytest.mark.parametrize("broken, why", [
    ("refused", "refused"),         # nothing listening on TLS 5061
    ("tls", "tls"),                 # TLS listens with an expired certificate
    ("503", "503"),                 # TLS answers 503 Service Unavailable
])
@pytest_twisted.ensureDeferred
async def test_failover_to_the_next_target(servers, agents, pki, tls_server, dns, broken, why):
    # RFC 3263 §4.3: TLS (first by NAPTR) fails, the client moves on to TCP.
    host = find_free_loopback([("TLS", 5061), ("TCP", 5060), ("UDP", 5060)])
    if broken == "tls":
        servers.registrar({"TLS": 5061}, address=host, tls_options=tls_server("expired"))
    elif broken == "503":
        servers.registrar({"TLS": 5061}, address=host, tls_options=tls_server(),
                          register_status=503)
    good, _ = servers.registrar({"TCP": 5060, "UDP": 5060}, address=host,
                                users={"alice": "secret"})
    _, address = dns(seed_zone(host))

    outcome = await auto_agent(agents, pki, address).register()

    assert outcome.ok, outcome.summary
    assert outcome.transport == "TCP"
    first = outcome.exchanges[0]
    assert first.transport == "TLS"
    if why == "503":
        assert first.status == 503
    else:
        assert first.error == why
    assert good.bindings("sip:alice@example.com")


@pytest_twisted.ensureDeferred
async def test_udp_timeout_fails_over_too(servers, agents, pki, dns):
    # Only UDP published twice: the first target drops everything (nothing answers).
    host = find_free_loopback([("UDP", 5060)])
    good, bound = servers.registrar({"UDP": 5062}, address=host, users={"alice": "secret"})
    zone = {"origin": DOMAIN, "ttl": 60, "records": [
        {"name": DOMAIN, "type": "NAPTR", "order": 10, "preference": 10, "flags": "s",
         "service": "SIP+D2U", "regexp": "", "replacement": f"_sip._udp.{DOMAIN}"},
        {"name": f"_sip._udp.{DOMAIN}", "type": "SRV", "priority": 10, "weight": 0,
         "port": 5064, "target": f"pbx.{DOMAIN}"},
        {"name": f"_sip._udp.{DOMAIN}", "type": "SRV", "priority": 20, "weight": 0,
         "port": 5062, "target": f"pbx.{DOMAIN}"},
        {"name": f"pbx.{DOMAIN}", "type": "A", "address": host}]}
    _, address = dns(zone)
    # 5064 reads and never answers (with nothing bound, ICMP port unreachable: "refused")
    silent = reactor.listenUDP(5064, protocol.DatagramProtocol(), interface=host)
    try:
        outcome = await auto_agent(agents, pki, address).register()
    finally:
        await silent.stopListening()
    assert outcome.ok, outcome.summary
    assert outcome.remote == (host, 5062)
    assert outcome.exchanges[0].error == "timeout" and outcome.exchanges[0].remote == (host, 5064)


@pytest_twisted.ensureDeferred
async def test_dns_failure_is_a_dns_error(agents, pki, dns):
    zone = {"origin": "other.example", "records": [
        {"name": "other.example", "type": "A", "address": "127.0.0.1"}]}
    _, address = dns(zone)
    outcome = await auto_agent(agents, pki, address).register()
    assert not outcome.ok and outcome.error == "dns"
    assert outcome.resolution  # the steps that led nowhere are reported
