"""External systems in a scenario file: the keys, their checks, and the one-line errors.

No sockets here (the probes and the world are in tests/integration/external/): what a
file may say about a real registrar or a real DNS server, and what it is told when it
says it wrong.
"""

import pytest

from testbed.scenario import check
from testbed.scenario._external import (
    ExternalAddress,
    external_addresses,
    parse_address,
    parse_hostport,
)
from testbed.sip import Transport

EXTERNAL = """\
name: t
troubleshooting: healthy
registrars:
  - name: kam
    domain: sip.example.com
    external: {udp: "127.0.0.9:5060", tcp: "127.0.0.9:5060", tls: "127.0.0.9:5061",
               wss: "wss://127.0.0.9:8443/ws"}
client:
  transport: udp
  registrar: sip:sip.example.com
  user: alice
  password: secret
steps: [register]
"""


def errors_of(text, filename="f.yaml"):
    errors, _ = check(text, filename)
    return [str(e) for e in errors]


def test_an_external_registrar_validates_and_keeps_its_addresses():
    errors, scenario = check(EXTERNAL, "f.yaml")
    assert errors == []
    assert external_addresses(scenario.data["registrars"][0]) == [
        ExternalAddress(Transport.UDP, "127.0.0.9", 5060),
        ExternalAddress(Transport.TCP, "127.0.0.9", 5060),
        ExternalAddress(Transport.TLS, "127.0.0.9", 5061),
        ExternalAddress(Transport.WSS, "127.0.0.9", 8443, "/ws"),
    ]


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:5060", ("127.0.0.1", 5060)),
    (" 10.1.2.3:1 ", ("10.1.2.3", 1)),
])
def test_host_and_port(text, expected):
    assert parse_hostport(text) == expected


@pytest.mark.parametrize("text, words", [
    ("pbx.example.com:5060", "is not an IPv4 address; names are not resolved"),
    ("127.0.0.1", "(no port)"),
    ("127.0.0.1:0", "(port 1..65535)"),
    ("127.0.0.1:70000", "(port 1..65535)"),
    ("[::1]:5060", "not an IPv4 address"),
    (5060, "expected an IPv4 address and port"),
])
def test_bad_addresses_say_what_was_expected(text, words):
    with pytest.raises(ValueError) as caught:
        parse_hostport(text)
    assert words in str(caught.value)


@pytest.mark.parametrize("text, address", [
    ("wss://127.0.0.2:8443/ws", ExternalAddress(Transport.WSS, "127.0.0.2", 8443, "/ws")),
    ("wss://127.0.0.2/", ExternalAddress(Transport.WSS, "127.0.0.2", 443, "/")),
    ("wss://127.0.0.2:8443", ExternalAddress(Transport.WSS, "127.0.0.2", 8443, "/")),
    ("127.0.0.2:8443", ExternalAddress(Transport.WSS, "127.0.0.2", 8443, "/")),
])
def test_a_wss_address_is_a_url_or_host_and_port(text, address):
    assert parse_address("wss", text) == address
    assert str(address).startswith("wss://127.0.0.2:")


EXPECTED_ERRORS = [
    ('    external: {udp: "127.0.0.9:5060", tcp',
     '    listen: [{transport: udp}]\n    external: {udp: "127.0.0.9:5060", tcp',
     "f.yaml:7: registrars[0].external: registrar kam both listens (a mock) and is "
     "external; give one of listen and external"),
    ("    domain: sip.example.com\n", "    domain: sip.example.com\n    users: {a: b}\n",
     "f.yaml:6: registrars[0].users: users configures a mock registrar; kam is external "
     "(it has its own settings): remove it"),
    ('udp: "127.0.0.9:5060"', 'udp: "pbx.example.com:5060"',
     "f.yaml:6: registrars[0].external.udp: expected IPv4:PORT, e.g. 127.0.0.1:5060, "
     "got 'pbx.example.com:5060'"),
    ('udp: "127.0.0.9:5060"', 'udp: "127.0.0.999:5060"',
     "f.yaml:6: registrars[0].external.udp: expected an IPv4 address and port, e.g. "
     "127.0.0.1:5060, got '127.0.0.999:5060' (127.0.0.999 is not an IPv4 address; names "
     "are not resolved: the system resolver is never asked)"),
    ('tls: "127.0.0.9:5061"', 'tls: "127.0.0.8:5061"',
     "f.yaml:6: registrars[0].external: the addresses are on several hosts (udp "
     "127.0.0.9, tcp 127.0.0.9, tls 127.0.0.8, wss 127.0.0.9); ${kam} and its domain "
     "stand for one: give one registrar per host"),
    ("steps: [register]", "steps: [register, {inbound: {}}]",
     "f.yaml:13: steps[1].inbound: inbound is sent by a mock registrar; kam is external, "
     "the testbed cannot drive it (this scenario has none)"),
    ("steps: [register]", "steps: [{load: {endpoints: 2, count: 2}}]",
     "f.yaml:13: steps[0].load: load gives its accounts to a mock registrar; kam is "
     "external, the testbed cannot drive it (this scenario has none)"),
    ("client:", "faults:\n  - {kind: latency, delay: 1ms, transport: tls}\nclient:",
     None),  # valid: kam has a TLS address
    ("client:", "faults:\n  - {kind: mtu, transport: udp}\nclient:", None),
    ('    external: {udp: "127.0.0.9:5060", tcp: "127.0.0.9:5060", tls: "127.0.0.9:5061",\n'
     '               wss: "wss://127.0.0.9:8443/ws"}',
     '    external: {tcp: "127.0.0.9:5060"}\nfaults:\n  - {kind: mtu, transport: udp}',
     "f.yaml:8: faults[0].transport: registrar kam has no udp address (it has tcp)"),
]


@pytest.mark.parametrize("old, new, message",
                         [e for e in EXPECTED_ERRORS if e[2] is not None])
def test_the_error_names_the_file_line_and_field(old, new, message):
    text = EXTERNAL.replace(old, new)
    assert text != EXTERNAL
    assert errors_of(text)[0] == message


@pytest.mark.parametrize("old, new", [(o, n) for o, n, m in EXPECTED_ERRORS if m is None])
def test_faults_on_the_transports_it_has_are_valid(old, new):
    assert errors_of(EXTERNAL.replace(old, new)) == []


def test_a_mock_registrar_takes_no_ca():
    text = EXTERNAL.replace(
        '    external: {udp: "127.0.0.9:5060", tcp: "127.0.0.9:5060", tls: "127.0.0.9:5061",\n'
        '               wss: "wss://127.0.0.9:8443/ws"}',
        "    listen: [{transport: udp}]\n    ca: ca.pem")
    assert errors_of(text) == [
        "f.yaml:7: registrars[0].ca: ca is for an external registrar; kam is a mock (the "
        "world's CA signs its certificate, for its domain)"]


def test_the_ca_file_is_read_relative_to_the_scenario_and_must_be_a_certificate(tmp_path):
    (tmp_path / "ca.pem").write_text("not a certificate")
    text = EXTERNAL.replace("    domain: sip.example.com\n",
                            "    domain: sip.example.com\n    ca: ca.pem\n")
    (message,) = errors_of(text, str(tmp_path / "f.yaml"))
    assert message.startswith(f"{tmp_path}/f.yaml:6: registrars[0].ca: {tmp_path}/ca.pem: "
                              "not a PEM CA certificate")
    (missing,) = errors_of(text.replace("ca.pem", "gone.pem"), str(tmp_path / "f.yaml"))
    assert missing == (f"{tmp_path}/f.yaml:6: registrars[0].ca: cannot read "
                       f"{tmp_path}/gone.pem: No such file or directory")


def test_a_load_step_may_target_a_mock_beside_an_external_registrar():
    text = EXTERNAL.replace(
        "client:", "  - name: pbx\n    listen: [{transport: udp}]\nclient:").replace(
        "steps: [register]", "steps: [{load: {endpoints: 2, count: 2}}, {inbound: {from: pbx}}]")
    assert errors_of(text) == []
    named = text.replace("{endpoints: 2, count: 2}", "{endpoints: 2, count: 2, registrar: kam}")
    assert errors_of(named) == [
        "f.yaml:15: steps[0].load.registrar: load gives its accounts to a mock registrar; "
        "kam is external, the testbed cannot drive it (mock: pbx)"]


DNS = """\
name: t
troubleshooting: healthy
dns:
  server: SERVER
registrars:
  - name: pbx
    listen: [{transport: udp}]
client:
  transport: auto
  registrar: sip:example.com
steps: [register]
"""


@pytest.mark.parametrize("server, message", [
    ('"127.0.0.1:5353"', None),
    ('"127.0.0.1"', None),
    ('"ns.example.com:53"', "f.yaml:4: dns.server: expected IPv4:PORT, e.g. 127.0.0.1:5353, "
                            "got 'ns.example.com:53'"),
    ('"127.0.0.1:99999"', "f.yaml:4: dns.server: expected an IPv4 address and port, e.g. "
                          "127.0.0.1:5060, got '127.0.0.1:99999' (port 1..65535)"),
])
def test_a_real_dns_server(server, message):
    errors = errors_of(DNS.replace("SERVER", server))
    assert errors == ([message] if message else [])


def test_zones_or_a_server_not_both():
    text = DNS.replace("  server: SERVER", '  server: "127.0.0.1:53"\n  zones: []')
    assert errors_of(text) == ["f.yaml:4: dns.server: give zones (a mock DNS server) or "
                               "server (a real one), not both"]


def test_a_registrar_needs_listen_or_external():
    text = DNS.replace("SERVER", '"127.0.0.1"').replace("    listen: [{transport: udp}]\n", "")
    assert errors_of(text) == ["f.yaml:6: registrars[0]: needs external or listen"]
