"""Scenarios against an external registrar, over real sockets on loopback.

The "real" registrar is one of our registrars started by the test, outside the
scenario's world (another process's view: the world only knows its addresses); the
interop tests put Kamailio there. The scenario text is what a user writes, with the
server's addresses substituted.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor

from servers.loopback import find_free_loopback
from testbed.report import ladder
from testbed.scenario import parse, run

from ..conftest import DOMAIN

SCENARIO = """\
name: external
troubleshooting: healthy
timers: {t1: @T1@}
registrars:
  - name: pbx
    domain: sip.example.com
    external: @EXTERNAL@
    @EXTRA@
@FAULTS@
client:
  transport: @TRANSPORT@
  registrar: @URI@
  user: alice
  password: secret
steps:
@STEPS@
"""


def scenario_text(external: dict[str, str], transport: str, *, uri: str = "sip:sip.example.com",
                  faults: str = "", steps: str = "  - register: {expect: {ok: true}}",
                  extra: str = "", t1: str = "20ms") -> str:
    given = ", ".join(f'{key}: "{value}"' for key, value in external.items())
    text = SCENARIO
    for key, value in {"@EXTERNAL@": "{" + given + "}", "@EXTRA@": extra,
                       "@FAULTS@": f"faults:\n{faults}" if faults else "",
                       "@T1@": t1, "@TRANSPORT@": transport, "@URI@": uri, "@STEPS@": steps}.items():
        text = text.replace(key, value)
    return text


async def run_text(text: str, tmp_path=None):
    filename = str(tmp_path / "external.yaml") if tmp_path is not None else "external.yaml"
    return await run(parse(text, filename), reactor)


@pytest.fixture
def real(servers, tls_server):
    """``real(ports)``: one of our registrars as the external one, on a 127.0.0.N of its
    own; returns its ``external:`` mapping ({"udp": "127.0.0.N:5060", ...})."""

    def start(ports: dict[str, int], **config: object):
        config.setdefault("realm", DOMAIN)
        config.setdefault("users", {"alice": "secret"})
        registrar, bound = servers.registrar(
            {t.upper(): p for t, p in ports.items()}, tls_options=tls_server("valid"),
            **config)
        external = {}
        for transport, (host, port) in bound.items():
            key = transport.lower()
            external[key] = (f"wss://{host}:{port}/" if key == "wss" else f"{host}:{port}")
        return registrar, external

    return start


@pytest.fixture
def ca_file(pki, tmp_path):
    """The CA that signed the external registrar's certificate, as a file."""
    return pki[0].write(tmp_path, "their-ca.pem")


ALL = {"udp": 5060, "tcp": 5060, "tls": 5061, "wss": 8443}


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls", "wss"])
@pytest_twisted.ensureDeferred
async def test_each_transport_registers_and_calls_straight_to_the_external_server(
        real, ca_file, tmp_path, transport):
    registrar, external = real(ALL)
    uri = "sip:sip.example.com:8443" if transport == "wss" else "sip:sip.example.com"
    text = scenario_text(external, transport, uri=uri, extra=f"ca: {ca_file.name}", steps="""\
  - register: {expect: {ok: true, exchanges: 2}}
  - call: {expect: {ok: true}}
expect: {diagnosis: {row: healthy}}""", t1="100ms")  # no retransmission by jitter

    result = await run_text(text, tmp_path)

    assert result.passed, result.failures
    host, port = external[transport].removeprefix("wss://").rstrip("/").split(":")
    outcome = result.outcomes[0]
    assert outcome.remote == (host, int(port))  # no relay: nothing is in front of it
    assert [e.note for e in result.endpoints] == ["external", "external", "external",
                                                  "external, path /"]
    assert registrar.bindings(f"sip:alice@{DOMAIN}")  # the real server has the binding
    assert result.names[(host, int(port))] == "pbx (external)"


@pytest_twisted.ensureDeferred
async def test_the_wss_path_of_the_url_is_the_clients(real, ca_file, tmp_path, servers):
    registrar, external = real({"wss": 8443})
    # Our registrar serves / only: asking for /sip is refused with 404.
    text = scenario_text({"wss": external["wss"] + "sip"}, "wss",
                         uri="sip:sip.example.com:8443", extra=f"ca: {ca_file.name}",
                         steps="  - register: {expect: {ok: false, error: websocket}}")

    result = await run_text(text, tmp_path)

    assert result.passed, result.failures
    assert "404" in result.outcomes[0].summary


@pytest_twisted.ensureDeferred
async def test_without_its_ca_the_certificate_is_untrusted(real, tmp_path):
    _, external = real({"tls": 5061})
    text = scenario_text(external, "tls", steps="""\
  - register: {expect: {ok: false, error: tls, tls_failure: untrusted-ca}}
expect: {diagnosis: {row: tls-handshake-failure}}""")

    result = await run_text(text, tmp_path)

    assert result.passed, result.failures


@pytest.mark.parametrize("server_name, expect", [
    ("server_name: sip.example.com", "{ok: true}"),
    ("", "{ok: false, error: tls, tls_failure: hostname-mismatch}"),
])
@pytest_twisted.ensureDeferred
async def test_server_name_is_what_the_certificate_must_match_when_reached_by_address(
        real, ca_file, tmp_path, server_name, expect):
    _, external = real({"tls": 5061})
    text = scenario_text(external, "tls", uri="sips:${pbx}",
                         extra=f"ca: {ca_file.name}\n    {server_name}",
                         steps=f"  - register: {{expect: {expect}}}")

    result = await run_text(text, tmp_path)

    assert result.passed, result.failures


# -- faults in front of it ---------------------------------------------------------------

FAULT_CASES = {
    "firewall-drop-udp": ("udp", "  - {kind: firewall, action: drop, transport: udp}",
                          "  - register: {expect: {ok: false, error: timeout}}",
                          "registration-timeout"),
    "firewall-drop-tcp": ("tcp", "  - {kind: firewall, action: drop, transport: tcp}",
                          "  - register: {expect: {ok: false, error: timeout}}",
                          "registration-timeout"),
    "firewall-reject-udp": ("udp", "  - {kind: firewall, action: reject, transport: udp}",
                            "  - register: {expect: {ok: false, error: refused}}",
                            "connection-refused"),
    "firewall-reject-tcp": ("tcp", "  - {kind: firewall, action: reject, transport: tcp}",
                            "  - register: {expect: {ok: false, error: refused}}",
                            "connection-refused"),
    "not-listening": ("tcp", "  - {kind: not-listening}",
                      "  - register: {expect: {ok: false, error: refused, port: 5060}}",
                      "connection-refused"),
    "mtu": ("udp", "  - {kind: mtu, mtu: 1500}",
            "  - register: {expect: {ok: true, transport: UDP}}\n"
            "  - call: {sdp_size: 1600, expect: {ok: false, error: timeout, "
            "invite_over: UDP}}", "message-too-large"),
    "loss": ("udp", "  - {kind: loss, drop: [1], direction: to-server}",
             "  - register: {expect: {ok: true, transmissions: {min: 2}}}",
             "intermittent-udp-loss"),
    "latency": ("tcp", "  - {kind: latency, delay: 100ms}",
                "  - register: {expect: {ok: true, exchanges: 2}}", "healthy"),
}


@pytest.mark.parametrize("case", list(FAULT_CASES))
@pytest_twisted.ensureDeferred
async def test_faults_in_front_of_the_external_server(real, tmp_path, case):
    transport, faults, steps, row = FAULT_CASES[case]
    registrar, external = real({"udp": 5060, "tcp": 5060})
    text = scenario_text(external, transport, faults=faults,
                         steps=f"{steps}\nexpect: {{diagnosis: {{row: {row}}}}}")

    result = await run_text(text, tmp_path)

    assert result.passed, result.failures
    proxy = [e for e in result.endpoints if e.role == "fault proxy"]
    assert len(proxy) == 1 and proxy[0].port == 5060  # the server's own port number
    assert proxy[0].host != external["udp"].split(":")[0]
    assert result.outcomes[0].remote[0] == proxy[0].host  # the client went to the relay
    if case == "latency":
        (register,) = [o for o in result.outcomes if o.operation == "register"]
        assert register.ended - register.started >= 4 * 0.1  # two round trips, held
        assert registrar.bindings(f"sip:alice@{DOMAIN}")


@pytest_twisted.ensureDeferred
async def test_a_nat_in_front_gives_the_server_a_new_source_after_expiry(real, tmp_path):
    registrar, external = real({"udp": 5060})
    text = scenario_text(external, "udp", faults="  - {kind: nat, timeout: 0.3}", steps="""\
  - register: {expect: {ok: true}}
  - wait: 0.5s
  - register: {expect: {ok: true}}""")

    result = await run_text(text, tmp_path)

    assert result.passed, result.failures
    nat = [r for r in result.fault_log if r.action in ("new-binding", "expired")]
    assert [r.action for r in nat] == ["new-binding", "expired", "new-binding"]
    first, second = nat[0].destination, nat[2].destination  # the NAT's external ports
    assert first != second
    (binding,) = registrar.bindings(f"sip:alice@{DOMAIN}")
    assert binding.source == second  # the real server now sees the new mapping


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest_twisted.ensureDeferred
async def test_the_pcap_and_the_ladder_hold_the_relays_leg_to_the_external_server(
        real, tmp_path, transport):
    _, external = real({"udp": 5060, "tcp": 5060})
    host, port = external[transport].split(":")
    server = (host, int(port))
    text = scenario_text(external, transport, faults="  - {kind: latency, delay: 10ms}",
                         t1="100ms")  # no retransmission: one row per hop

    result = await run_text(text, tmp_path)

    assert result.passed, result.failures
    to_server = [s for s in result.capture if s.dst == server and s.data]
    from_server = [s for s in result.capture if s.src == server and s.data]
    assert to_server and from_server  # only the relay saw these: the server is not ours
    assert b"REGISTER" in b"".join(s.data for s in to_server)
    assert b"SIP/2.0 200" in b"".join(s.data for s in from_server)
    drawn = ladder(result.trace_events, result.dns_log, result.names)
    assert f"pbx (external)  {host}:{port}/{transport.upper()}" in drawn
    rows = [line for line in drawn.splitlines() if "(CSeq 2 REGISTER)" in line]
    assert len(rows) == 4  # client → proxy → pbx, and the 200 OK back the same way


# -- ports, placeholders and records -----------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_srv_records_carry_the_servers_ports_with_or_without_a_relay(real, tmp_path):
    _, external = real({"udp": 5070, "tcp": 5071})
    zone = """\
dns:
  zones:
    - origin: sip.example.com
      records:
        - {name: sip.example.com, type: NAPTR, order: 10, preference: 10, flags: s, service: SIP+D2T, regexp: "", replacement: _sip._tcp.sip.example.com}
        - {name: _sip._tcp.sip.example.com, type: SRV, priority: 10, weight: 10, port: 5071, target: pbx.sip.example.com}
        - {name: pbx.sip.example.com, type: A, address: "${pbx}"}
"""
    for faults in ("", "  - {kind: latency, delay: 5ms}"):
        text = zone + scenario_text(external, "auto", faults=faults, steps="""\
  - register: {expect: {ok: true, transport: TCP, port: 5071}}""")

        result = await run_text(text, tmp_path)

        assert result.passed, (faults, result.failures)
        relays = [e for e in result.endpoints if e.role == "fault proxy"]
        if faults:
            assert sorted(e.port for e in relays) == [5070, 5071]
            assert result.outcomes[0].remote == (relays[0].host, 5071)
        else:
            assert not relays
            assert result.outcomes[0].remote == (external["tcp"].split(":")[0], 5071)


# -- an address that does not answer -----------------------------------------------------

@pytest.mark.parametrize("transport, words", [
    ("udp", "ICMP port unreachable: nothing listens there"),
    ("tcp", "connection refused: nothing listens there"),
])
@pytest_twisted.ensureDeferred
async def test_an_unreachable_external_server_ends_the_run_with_one_line(tmp_path, transport,
                                                                        words):
    host = find_free_loopback([(transport, 5999)])
    text = scenario_text({transport: f"{host}:5999"}, transport,
                         faults="  - {kind: latency, delay: 5ms}")
    started = reactor.seconds()

    result = await run_text(text, tmp_path)

    assert not result.passed and result.steps == []
    assert result.error == (f"registrar pbx: external {transport} {host}:5999 unreachable: "
                            f"{words}")
    assert reactor.seconds() - started < 2.0
    assert result.endpoints == []  # nothing was started, no relay was left
