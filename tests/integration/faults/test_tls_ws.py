"""Certificate kinds, a TLS 1.0/1.1-only server and failed WebSocket upgrades, seen by the
real client.

The outcome names the verification error or the HTTP status (RFC 6455 §4.1), never just
"handshake failed". The kinds the client suite already covers end to end (untrusted CA,
wrong host name, expired) are not repeated here.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor

from testbed.transport import Trace, server_tls_options

DOMAIN = "sip.example.com"
MODES = [("tls", "TLS"), ("wss", "WSS")]


def registrar_and_agent(pool, agents, pki, transport, mode, tls_options, **listen):
    registrar, bound = pool.registrar({"UDP": 0})
    host, port = registrar.listen(transport, bound["UDP"][0], 0, tls_options=tls_options,
                                  **listen)
    agent = agents.agent(f"sip:{DOMAIN}:{port}", mode, password=None, hosts={DOMAIN: host},
                         ca_pem=pki[0].cert_pem)
    return registrar, agent, (host, port)


@pytest.mark.parametrize("mode, transport", MODES)
@pytest.mark.parametrize("cert", ["not-yet-valid", "self-signed"])
@pytest_twisted.ensureDeferred
async def test_the_client_names_the_certificate_problem(pool, agents, pki, tls_server, mode,
                                                        transport, cert):
    registrar, agent, _ = registrar_and_agent(pool, agents, pki, transport, mode,
                                              tls_server(cert))

    outcome = await agent.register()

    assert not outcome.ok and outcome.error == "tls"
    assert outcome.tls_failure.kind == cert
    assert str(outcome.tls_failure) in outcome.summary
    assert list(registrar.received) == []


@pytest.mark.parametrize("mode, transport", MODES)
@pytest_twisted.ensureDeferred
async def test_a_tls_1_0_1_1_only_server_is_a_protocol_version_failure(pool, agents, pki, mode,
                                                                       transport):
    legacy = server_tls_options(pki[1]["valid"], min_version="TLSv1", max_version="TLSv1.1")
    registrar, agent, _ = registrar_and_agent(pool, agents, pki, transport, mode, legacy)

    outcome = await agent.register()

    assert not outcome.ok and outcome.error == "tls"
    assert outcome.tls_failure.kind == "protocol-version"
    assert "TLSv1.2 or newer" in outcome.tls_failure.detail
    assert "protocol-version" in outcome.summary or str(outcome.tls_failure) in outcome.summary
    assert list(registrar.received) == []


@pytest.mark.parametrize("behaviour, expected", [
    ("not-found", "HTTP 404 Not Found on GET /"),
    ("upgrade-required", "HTTP 426 Upgrade Required on GET /"),
    ("no-websocket", "HTTP 200 OK on GET /: a plain web server answered"),
    ("no-subprotocol", "without the 'sip' subprotocol"),
])
@pytest_twisted.ensureDeferred
async def test_a_failed_websocket_upgrade_is_reported_with_the_http_status(
        pool, agents, pki, tls_server, behaviour, expected):
    registrar, agent, (host, port) = registrar_and_agent(
        pool, agents, pki, "WSS", "wss", tls_server(), ws_behaviour=behaviour)

    outcome = await agent.register()

    assert not outcome.ok and outcome.error == "websocket"
    assert expected in outcome.summary
    assert outcome.exchanges[0].remote == (host, port)
    assert list(registrar.received) == []


@pytest.mark.parametrize("mode, transport", MODES)
@pytest_twisted.ensureDeferred
async def test_tls_and_wss_ride_through_a_tcp_fault_and_the_trace_shows_it(
        pool, agents, pki, tls_server, mode, transport):
    registrar, bound = pool.registrar({"UDP": 0})
    upstream = registrar.listen(transport, bound["UDP"][0], 0, tls_options=tls_server())
    trace = Trace(reactor.seconds, "fault")
    fault = pool.fault([{"kind": "nat", "timeout": 30}, {"kind": "latency", "delay": "20ms"}],
                       (transport, *upstream), trace=trace)
    host, port = fault.address
    agent = agents.agent(f"sip:{DOMAIN}:{port}", mode, password=None, hosts={DOMAIN: host},
                         ca_pem=pki[0].cert_pem)

    outcome = await agent.register()

    assert outcome.ok, outcome.summary  # the certificate still names the SIP domain
    assert outcome.remote == (host, port)
    assert fault.log.of("delayed", direction="to-server")
    notes = [(e.summary, e.local) for e in trace.of_kind("note")]
    assert ("fault nat: new-binding", (host, port)) in notes
    assert not any("delayed" in summary for summary, _ in notes)  # kept out of ladders
