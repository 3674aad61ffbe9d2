"""Real TLS handshakes on loopback: each bad certificate fails for its own named reason.

Server: an echo protocol behind ``server_tls_options`` (``listenSSL`` or
``TLSMemoryBIOFactory`` + ``listenTCP``). Client: a probe that writes one line, waits for it
to come back, and closes; it asks ``tls_failure_from`` why when the connection dies. No
sleeps: every wait is a Deferred (with a generous timeout so a bug fails instead of hanging).
"""

from __future__ import annotations

import datetime
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_twisted
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol, wrapClientTLS
from twisted.internet.interfaces import IHandshakeListener
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from servers.certs import CertificateAuthority, IssuedCertificate, issue_server_certificate
from testbed.transport.tls import (
    ClientTlsCreator,
    KeyLog,
    PemCredential,
    ServerTlsCreator,
    TlsFailure,
    TlsHandshakeRecord,
    TrustConfig,
    client_tls_options,
    server_tls_options,
    tls_failure_from,
)

PAYLOAD = b"OPTIONS sip:probe@example.com SIP/2.0\r\n"
DOMAIN = "sip.example.com"
WAIT = 10.0  # seconds; a safety net only, every test finishes in milliseconds


# -- the world: an echo server and a probing client --------------------------------------------


class EchoServer(protocol.Protocol):
    def __init__(self, creator: ServerTlsCreator | None) -> None:
        self.creator = creator
        self.lost: defer.Deferred[None] = defer.Deferred()
        self.reason: Failure | None = None
        self.failure: TlsFailure | None = None
        self.record: TlsHandshakeRecord | None = None

    def connectionMade(self) -> None:
        self.tls = self.transport

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if self.creator is not None:
            self.failure = tls_failure_from(reason, self.creator, self.tls)
            self.record = self.creator.record_for(self.tls)
        self.reason = reason
        self.lost.callback(None)


class EchoFactory(protocol.Factory):
    def __init__(self, creator: ServerTlsCreator | None) -> None:
        self.creator = creator
        self.servers: list[EchoServer] = []

    def buildProtocol(self, addr: object) -> EchoServer:
        server = EchoServer(self.creator)
        server.factory = self
        self.servers.append(server)
        return server


@implementer(IHandshakeListener)
class Probe(protocol.Protocol):
    """Writes PAYLOAD (buffered by TLS until the handshake is done), closes when it is echoed."""

    def __init__(self, creator: ClientTlsCreator) -> None:
        self.creator = creator
        self.received = b""
        self.handshake_completed = False
        self.client_random: bytes | None = None
        self.failure: TlsFailure | None = None
        self.lost: defer.Deferred[None] = defer.Deferred()
        self.reason: Failure | None = None

    def connectionMade(self) -> None:
        self.tls = self.transport
        self.transport.write(PAYLOAD)

    def handshakeCompleted(self) -> None:
        self.handshake_completed = True
        self.client_random = self.transport.getHandle().client_random()

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if self.received == PAYLOAD:
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.failure = tls_failure_from(reason, self.creator, self.tls)
        self.reason = reason
        self.lost.callback(None)


class ProbeFactory(protocol.ClientFactory):
    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.failed: defer.Deferred[Failure] = defer.Deferred()

    def buildProtocol(self, addr: object) -> Probe:
        return self.probe

    def clientConnectionFailed(self, connector: object, reason: Failure) -> None:
        self.failed.callback(reason)


@dataclass
class Outcome:
    probe: Probe
    servers: list[EchoServer] = field(default_factory=list)

    @property
    def echoed(self) -> bool:
        return self.probe.received == PAYLOAD

    @property
    def failure(self) -> TlsFailure | None:
        return self.probe.failure

    @property
    def record(self) -> TlsHandshakeRecord:
        record = self.probe.creator.record_for(self.probe.tls)
        assert record is not None
        return record

    @property
    def server(self) -> EchoServer:
        assert len(self.servers) == 1
        return self.servers[0]


def _wait(d: defer.Deferred) -> defer.Deferred:
    return d.addTimeout(WAIT, reactor)


async def exchange(
    server_creator: ServerTlsCreator | None,
    client_creator: ClientTlsCreator,
    *,
    host: str = "127.0.0.1",
    listen: str = "listenSSL",
    connect: str = "connectSSL",
    server_factory: protocol.Factory | None = None,
) -> Outcome:
    """Serve once on *host* port 0, run one probe against it, close everything."""
    factory = server_factory or EchoFactory(server_creator)
    if listen == "listenSSL":
        port = reactor.listenSSL(0, factory, server_creator, interface=host)
    elif listen == "TLSMemoryBIOFactory":
        port = reactor.listenTCP(0, TLSMemoryBIOFactory(server_creator, False, factory), interface=host)
    else:  # plain TCP: a server that does not speak TLS at all
        port = reactor.listenTCP(0, factory, interface=host)
    try:
        probe = Probe(client_creator)
        port_number = port.getHost().port
        if connect == "connectSSL":
            client_factory = ProbeFactory(probe)
            reactor.connectSSL(host, port_number, client_factory, client_creator)
        else:
            endpoint = wrapClientTLS(client_creator, TCP4ClientEndpoint(reactor, host, port_number))
            await _wait(connectProtocol(endpoint, probe))
        await _wait(probe.lost)
        servers = list(getattr(factory, "servers", []))
        await _wait(defer.DeferredList([s.lost for s in servers]))
        return Outcome(probe, servers)
    finally:
        await port.stopListening()


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority("SIP testbed CA")


@pytest.fixture(scope="module")
def untrusted_ca() -> CertificateAuthority:
    return CertificateAuthority("SIP testbed untrusted CA")


def _issue(kind: str, ca: CertificateAuthority, untrusted: CertificateAuthority,
           hostnames: tuple[str, ...] = (DOMAIN,)) -> IssuedCertificate:
    return issue_server_certificate(kind, hostnames, ca, untrusted)  # type: ignore[arg-type]


def _trust(ca: CertificateAuthority) -> TrustConfig:
    return TrustConfig.from_ca_pem(ca.cert_pem)


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- valid certificates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listen", "connect"),
    [("listenSSL", "connectSSL"), ("TLSMemoryBIOFactory", "wrapClientTLS")],
)
@pytest_twisted.ensureDeferred
async def test_valid_certificate_connects_and_echoes(ca, untrusted_ca, listen, connect):
    cert = _issue("valid", ca, untrusted_ca)
    client = client_tls_options(DOMAIN, _trust(ca))

    outcome = await exchange(server_tls_options(cert), client, listen=listen, connect=connect)

    assert outcome.echoed
    assert outcome.failure is None
    record = outcome.record
    assert record.handshake_done and record.protocol_version == "TLSv1.3"
    assert record.certificate_problems == [] and record.verification_failure is None
    assert record.sni == DOMAIN
    assert record.peer_certificate is not None
    assert record.peer_certificate.subject_alt_names == (f"DNS:{DOMAIN}",)
    assert outcome.server.record is not None and outcome.server.record.sni == DOMAIN
    assert outcome.server.failure is None


@pytest_twisted.ensureDeferred
async def test_ca_file_trust_connects(ca, untrusted_ca, tmp_path):
    cert = _issue("valid", ca, untrusted_ca)
    files = cert.write(tmp_path)
    client = client_tls_options(DOMAIN, TrustConfig.from_ca_file(files.ca))

    outcome = await exchange(server_tls_options(cert), client)

    assert outcome.echoed and outcome.failure is None


# -- each bad certificate fails with its own reason -------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected", "in_detail"),
    [
        ("expired", "expired", "expired "),
        ("not-yet-valid", "not-yet-valid", "not valid before "),
        ("self-signed", "self-signed", "self-signed"),
        ("untrusted-ca", "untrusted-ca", "SIP testbed untrusted CA"),
        ("wrong-host", "hostname-mismatch", "wrong.invalid"),
        ("cn-only", "cn-only", f"subject 'CN={DOMAIN},"),
        ("missing-intermediate", "missing-intermediate", "SIP testbed intermediate CA"),
        ("wildcard-mismatch", "wildcard-mismatch", f"DNS:*.{DOMAIN}"),
        ("ip-address", "ip-address", "IP:127.0.0.1"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_certificate_fails_with_exact_reason(ca, untrusted_ca, kind, expected, in_detail):
    cert = _issue(kind, ca, untrusted_ca, hostnames=(DOMAIN, "127.0.0.1"))
    client = client_tls_options(DOMAIN, _trust(ca))

    outcome = await exchange(server_tls_options(cert), client)

    assert not outcome.echoed
    assert not outcome.probe.handshake_completed
    assert outcome.failure is not None
    assert outcome.failure.kind == expected, outcome.failure
    assert in_detail in outcome.failure.detail
    assert DOMAIN in outcome.failure.detail
    assert client.last_failure == outcome.failure
    assert outcome.record.verification_failure == outcome.failure


@pytest_twisted.ensureDeferred
async def test_expired_detail_names_the_expiry_instant(ca, untrusted_ca):
    cert = _issue("expired", ca, untrusted_ca)
    client = client_tls_options(DOMAIN, _trust(ca))

    outcome = await exchange(server_tls_options(cert), client)

    expiry = cert.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert outcome.failure == TlsFailure("expired", f"certificate for {DOMAIN} expired {expiry}")


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("expired", "expired"), ("untrusted-ca", "untrusted-ca"), ("self-signed", "untrusted-ca")],
)
@pytest_twisted.ensureDeferred
async def test_server_learns_why_the_client_gave_up(ca, untrusted_ca, kind, expected):
    cert = _issue(kind, ca, untrusted_ca)

    outcome = await exchange(server_tls_options(cert), client_tls_options(DOMAIN, _trust(ca)))

    assert outcome.server.failure is not None
    assert outcome.server.failure.kind == expected, outcome.server.failure
    assert outcome.server.record is not None
    assert any(not a.sent and a.fatal for a in outcome.server.record.alerts)


@pytest_twisted.ensureDeferred
async def test_system_trust_store_does_not_trust_the_testbed_ca(ca, untrusted_ca):
    cert = _issue("valid", ca, untrusted_ca)

    outcome = await exchange(server_tls_options(cert), client_tls_options(DOMAIN, TrustConfig.system()))

    assert outcome.failure is not None and outcome.failure.kind == "untrusted-ca"
    assert "system trust store" in outcome.failure.detail


@pytest_twisted.ensureDeferred
async def test_hostname_is_checked_against_the_sip_domain_not_the_address(ca, untrusted_ca):
    cert = _issue("valid", ca, untrusted_ca)  # valid for sip.example.com, served on 127.0.0.1

    outcome = await exchange(server_tls_options(cert), client_tls_options("other.example.com", _trust(ca)))

    assert outcome.failure is not None and outcome.failure.kind == "hostname-mismatch"
    assert "other.example.com" in outcome.failure.detail
    assert f"DNS:{DOMAIN}" in outcome.failure.detail


@pytest.mark.parametrize("allow_wildcards", [False, True])
@pytest_twisted.ensureDeferred
async def test_wildcard_certificate_is_refused_unless_allowed(ca, untrusted_ca, allow_wildcards):
    cert = _issue("valid", ca, untrusted_ca, hostnames=("*.example.com",))
    client = client_tls_options(DOMAIN, _trust(ca), allow_wildcards=allow_wildcards)

    outcome = await exchange(server_tls_options(cert), client)

    if allow_wildcards:
        assert outcome.echoed and outcome.failure is None
    else:
        assert outcome.failure is not None and outcome.failure.kind == "wildcard-mismatch"
        assert "RFC 5922" in outcome.failure.detail
        assert outcome.server.record is not None
        assert [a.name for a in outcome.server.record.alerts] == ["bad_certificate"]


@pytest.mark.parametrize("allow_wildcards", [False, True])
@pytest_twisted.ensureDeferred
async def test_a_wildcard_that_does_not_cover_the_domain_is_refused_even_when_allowed(
    ca, untrusted_ca, allow_wildcards
):
    cert = _issue("wildcard-mismatch", ca, untrusted_ca)
    client = client_tls_options(DOMAIN, _trust(ca), allow_wildcards=allow_wildcards)

    outcome = await exchange(server_tls_options(cert), client)

    assert outcome.failure is not None and outcome.failure.kind == "wildcard-mismatch"
    assert "RFC 6125 §6.4.3" in outcome.failure.detail


# -- the alert the refusing client sends names the problem --------------------------------------

# OpenSSL derives the alert from the X509 verify error (ssl_x509err2alert); the names refused
# by RFC 5922 ride on OpenSSL's own X509_V_ERR_HOSTNAME_MISMATCH: bad_certificate.
ALERTS = {
    "expired": "certificate_expired",
    "not-yet-valid": "bad_certificate",
    "self-signed": "unknown_ca",
    "untrusted-ca": "unknown_ca",
    "wrong-host": "bad_certificate",
    "cn-only": "bad_certificate",
    "missing-intermediate": "unknown_ca",
    "wildcard-mismatch": "bad_certificate",
    "ip-address": "bad_certificate",
}


@pytest.mark.parametrize("kind", sorted(ALERTS))
@pytest_twisted.ensureDeferred
async def test_the_server_receives_the_alert_that_names_the_problem(ca, untrusted_ca, kind):
    cert = _issue(kind, ca, untrusted_ca, hostnames=(DOMAIN, "127.0.0.1"))

    outcome = await exchange(server_tls_options(cert), client_tls_options(DOMAIN, _trust(ca)))

    server = outcome.server.record
    assert server is not None and not server.handshake_done
    received = [str(a) for a in server.alerts]
    assert received == [f"received fatal alert {ALERTS[kind]} ({_ALERT_CODES[ALERTS[kind]]})"]
    assert all(a.name != "internal_error" for a in outcome.record.alerts)


_ALERT_CODES = {"bad_certificate": 42, "certificate_expired": 45, "unknown_ca": 48}


@pytest_twisted.ensureDeferred
async def test_a_server_that_sends_its_intermediate_is_accepted(ca, untrusted_ca):
    cert = _issue("missing-intermediate", ca, untrusted_ca)
    complete = PemCredential(cert.complete_chain_pem, cert.private_key_pem)

    outcome = await exchange(server_tls_options(complete), client_tls_options(DOMAIN, _trust(ca)))

    assert outcome.echoed and outcome.failure is None
    assert outcome.record.peer_chain_length == 2


def _leaf_with(ca: CertificateAuthority, *names: x509.GeneralName) -> PemCredential:
    """A leaf with exactly these subjectAltNames, signed by *ca*."""
    ca_key = serialization.load_pem_private_key(ca.trustme_ca.private_key_pem.bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return PemCredential(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()),
    )


@pytest_twisted.ensureDeferred
async def test_rfc_5922_overrules_openssl_name_check_for_a_sip_uri(ca):
    """OpenSSL sees no DNS name for the domain; the sip: URI SAN makes it the domain's."""
    leaf = _leaf_with(ca, x509.UniformResourceIdentifier(f"sip:{DOMAIN}"),
                      x509.DNSName("other.example.com"))

    outcome = await exchange(server_tls_options(leaf), client_tls_options(DOMAIN, _trust(ca)))

    assert outcome.echoed and outcome.failure is None
    assert outcome.record.certificate_problems == []


@pytest_twisted.ensureDeferred
async def test_rfc_5922_refuses_a_dns_name_when_sip_uris_name_another_domain(ca):
    """The one refusal OpenSSL cannot label: its DNS name check passed, so no X509 error is
    left for the alert, and OpenSSL sends internal_error (see _openssl_name)."""
    leaf = _leaf_with(ca, x509.UniformResourceIdentifier("sip:other.example.com"),
                      x509.DNSName(DOMAIN))

    outcome = await exchange(server_tls_options(leaf), client_tls_options(DOMAIN, _trust(ca)))

    assert outcome.failure is not None and outcome.failure.kind == "hostname-mismatch"
    assert "RFC 5922 §7.1" in outcome.failure.detail
    assert outcome.server.record is not None
    assert [a.name for a in outcome.server.record.alerts] == ["internal_error"]


# -- insecure mode: connects, but says what it would have failed on ----------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("expired", "expired"),
        ("not-yet-valid", "not-yet-valid"),
        ("self-signed", "self-signed"),
        ("untrusted-ca", "untrusted-ca"),
        ("wrong-host", "hostname-mismatch"),
        ("cn-only", "cn-only"),
        ("missing-intermediate", "missing-intermediate"),
        ("wildcard-mismatch", "wildcard-mismatch"),
        ("ip-address", "ip-address"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_insecure_connects_and_records_the_would_be_failure(ca, untrusted_ca, kind, expected):
    cert = _issue(kind, ca, untrusted_ca, hostnames=(DOMAIN, "127.0.0.1"))
    client = client_tls_options(DOMAIN, TrustConfig.insecure(diagnose_with=_trust(ca)))

    outcome = await exchange(server_tls_options(cert), client)

    assert outcome.echoed
    assert outcome.failure is None
    record = outcome.record
    assert record.insecure and record.verification_failure is None
    assert record.would_have_failed is not None
    assert record.would_have_failed.kind == expected, record.certificate_problems
    assert any("insecure" in note for note in record.notes)


@pytest_twisted.ensureDeferred
async def test_insecure_with_a_good_certificate_records_no_problem(ca, untrusted_ca):
    cert = _issue("valid", ca, untrusted_ca)
    client = client_tls_options(DOMAIN, TrustConfig.insecure(diagnose_with=_trust(ca)))

    outcome = await exchange(server_tls_options(cert), client)

    assert outcome.echoed
    assert outcome.record.certificate_problems == []
    assert outcome.record.would_have_failed is None


# -- IP literals --------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.7", "::1"])
@pytest_twisted.ensureDeferred
async def test_ip_literal_with_ip_san_connects_without_sni(ca, untrusted_ca, address):
    if ":" in address and not _ipv6_loopback():
        pytest.skip("no IPv6 loopback on this machine")
    cert = _issue("valid", ca, untrusted_ca, hostnames=(address,))
    client = client_tls_options(address, _trust(ca))

    outcome = await exchange(server_tls_options(cert), client, host=address)

    assert outcome.echoed and outcome.failure is None
    assert outcome.record.sni is None
    assert any("SNI not sent" in note and "RFC 6066" in note for note in outcome.record.notes)
    assert outcome.server.record is not None and outcome.server.record.sni is None


@pytest_twisted.ensureDeferred
async def test_ip_literal_without_matching_ip_san_is_a_hostname_mismatch(ca, untrusted_ca):
    cert = _issue("valid", ca, untrusted_ca, hostnames=("127.0.0.7", DOMAIN))
    client = client_tls_options("127.0.0.1", _trust(ca))

    outcome = await exchange(server_tls_options(cert), client)

    assert outcome.failure is not None and outcome.failure.kind == "hostname-mismatch"
    assert "IP address SAN" in outcome.failure.detail


# -- protocol versions ----------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_legacy_only_server_against_tls12_client_is_a_protocol_version_failure(ca, untrusted_ca):
    cert = _issue("valid", ca, untrusted_ca)
    server = server_tls_options(cert, min_version="TLSv1", max_version="TLSv1.1")

    outcome = await exchange(server, client_tls_options(DOMAIN, _trust(ca)))

    assert not outcome.echoed
    assert outcome.failure is not None and outcome.failure.kind == "protocol-version"
    assert "TLSv1.2 or newer" in outcome.failure.detail
    assert outcome.server.failure is not None and outcome.server.failure.kind == "protocol-version"


@pytest.mark.parametrize(("server_max", "negotiated"), [("TLSv1.1", "TLSv1.1"), ("TLSv1", "TLSv1")])
@pytest_twisted.ensureDeferred
async def test_legacy_only_server_really_speaks_legacy_tls(ca, untrusted_ca, server_max, negotiated):
    """The control for the test above: this OpenSSL can negotiate TLS 1.0/1.1 (SECLEVEL=0)."""
    cert = _issue("valid", ca, untrusted_ca)
    server = server_tls_options(cert, min_version="TLSv1", max_version=server_max)
    client = client_tls_options(DOMAIN, _trust(ca), min_version="TLSv1")

    outcome = await exchange(server, client)

    assert outcome.echoed and outcome.failure is None
    assert outcome.record.protocol_version == negotiated
    assert any("SECLEVEL=0" in note for note in server.notes)


@pytest_twisted.ensureDeferred
async def test_client_max_below_server_min_is_a_protocol_version_failure(ca, untrusted_ca):
    cert = _issue("valid", ca, untrusted_ca)
    server = server_tls_options(cert, min_version="TLSv1.3")
    client = client_tls_options(DOMAIN, _trust(ca), max_version="TLSv1.2")

    outcome = await exchange(server, client)

    assert outcome.failure is not None and outcome.failure.kind == "protocol-version"


# -- not TLS at all ----------------------------------------------------------------------------


class PlainSip(protocol.Protocol):
    """A plain-TCP SIP server on the port the client thinks is TLS."""

    def connectionMade(self) -> None:
        self.factory.servers.append(self)
        self.lost: defer.Deferred[None] = defer.Deferred()
        self.reason: Failure | None = None

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(b"SIP/2.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.reason = reason
        self.lost.callback(None)


@pytest_twisted.ensureDeferred
async def test_plain_tcp_server_on_the_tls_port_is_a_handshake_failure(ca):
    factory = protocol.Factory.forProtocol(PlainSip)
    factory.servers = []

    outcome = await exchange(
        None, client_tls_options(DOMAIN, _trust(ca)), listen="plain", server_factory=factory
    )

    assert outcome.failure is not None and outcome.failure.kind == "handshake"
    assert "not TLS" in outcome.failure.detail


# -- key log ----------------------------------------------------------------------------------

_KEYLOG_LINE = re.compile(rb"^([A-Z_0-9]+) ([0-9a-f]{64}) ([0-9a-f]+)$")
_TLS13_LABELS = {
    b"CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    b"SERVER_HANDSHAKE_TRAFFIC_SECRET",
    b"CLIENT_TRAFFIC_SECRET_0",
    b"SERVER_TRAFFIC_SECRET_0",
    b"EXPORTER_SECRET",
}


def _keylog_lines(path: Path) -> list[tuple[bytes, bytes, bytes]]:
    lines = path.read_bytes().splitlines()
    parsed = []
    for line in lines:
        match = _KEYLOG_LINE.match(line)
        assert match is not None, f"not an SSLKEYLOGFILE line: {line!r}"
        parsed.append((match.group(1), match.group(2), match.group(3)))
    return parsed


@pytest.mark.parametrize(("client_max", "labels"), [(None, _TLS13_LABELS), ("TLSv1.2", {b"CLIENT_RANDOM"})])
@pytest_twisted.ensureDeferred
async def test_key_log_lines_match_the_handshake(ca, untrusted_ca, tmp_path, client_max, labels):
    cert = _issue("valid", ca, untrusted_ca)
    client_log, server_log = KeyLog(tmp_path / "client.keys"), KeyLog(tmp_path / "server.keys")
    server = server_tls_options(cert, keylog=server_log)
    client = client_tls_options(DOMAIN, _trust(ca), max_version=client_max, keylog=client_log)

    outcome = await exchange(server, client)

    assert outcome.echoed and outcome.probe.client_random is not None
    client_random = outcome.probe.client_random.hex().encode()
    for log in (client_log, server_log):
        entries = _keylog_lines(log.path)
        assert {label for label, _, _ in entries} == labels
        assert all(random == client_random for _, random, _ in entries)
        assert log.lines_written == len(entries) and log.error is None
    if labels == {b"CLIENT_RANDOM"}:
        (_, _, master_secret), = _keylog_lines(client_log.path)
        assert len(master_secret) == 96  # 48-byte TLS 1.2 master secret
        assert _keylog_lines(server_log.path) == _keylog_lines(client_log.path)
    assert (client_log.path.stat().st_mode & 0o777) == 0o600
