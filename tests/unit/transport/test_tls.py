"""Certificates of each kind, TLS configuration objects and failure classification.

No reactor and no sockets here: the handshakes are in
tests/integration/transport/test_tls_handshake.py.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from OpenSSL import SSL
from service_identity import VerificationError
from service_identity.exceptions import DNSMismatch
from service_identity.hazmat import DNS_ID
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
)
from twisted.python.failure import Failure

from servers.certs import (
    CERT_KINDS,
    DEFAULT_ADDRESS,
    INTERMEDIATE_URL,
    WRONG_HOSTNAME,
    CertificateAuthority,
    issue_server_certificate,
)
from testbed.diagnosis import TLS_CAUSES
from testbed.transport.tls import (
    TLS_FAILURE_KINDS,
    KeyLog,
    PemCredential,
    TlsAlert,
    TlsConfigError,
    TlsFailure,
    TlsHandshakeRecord,
    TrustConfig,
    certificate_failure,
    check_server_identity,
    client_tls_options,
    parse_tls_version,
    server_tls_options,
    tls_failure_from,
)
from testbed.transport.tls._openssl_name import expect_server_name

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
DOMAIN = "sip.example.com"
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority("SIP testbed CA")


@pytest.fixture(scope="module")
def untrusted_ca() -> CertificateAuthority:
    return CertificateAuthority("SIP testbed untrusted CA")


def _sans(cert: x509.Certificate) -> list[x509.GeneralName]:
    return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)


# -- servers.certs: each kind is wrong in exactly its own way ------------------------------------


def test_cert_kinds_are_the_schema_names():
    assert CERT_KINDS == (
        "valid", "expired", "not-yet-valid", "self-signed", "wrong-host", "untrusted-ca",
        "cn-only", "missing-intermediate", "wildcard-mismatch", "ip-address",
    )


ADDRESS = "127.0.0.7"
NAMES = (f"DNS:{DOMAIN}", f"IP:{ADDRESS}")

# kind -> (notBefore, notAfter) relative to NOW, issuer, subjectAltName, subject CN;
# issuer: "ca" | "untrusted" | "self" | "intermediate" (a CA under "ca", not sent)
KIND_TABLE = {
    "valid": (-DAY, 30 * DAY, "ca", NAMES, DOMAIN),
    "expired": (-60 * DAY, -DAY, "ca", NAMES, DOMAIN),
    "not-yet-valid": (DAY, 60 * DAY, "ca", NAMES, DOMAIN),
    "self-signed": (-DAY, 30 * DAY, "self", NAMES, DOMAIN),
    "wrong-host": (-DAY, 30 * DAY, "ca", (f"DNS:{WRONG_HOSTNAME}",), WRONG_HOSTNAME),
    "untrusted-ca": (-DAY, 30 * DAY, "untrusted", NAMES, DOMAIN),
    "cn-only": (-DAY, 30 * DAY, "ca", (), DOMAIN),
    "missing-intermediate": (-DAY, 30 * DAY, "intermediate", NAMES, DOMAIN),
    "wildcard-mismatch": (-DAY, 30 * DAY, "ca", (f"DNS:*.{DOMAIN}",), f"*.{DOMAIN}"),
    "ip-address": (-DAY, 30 * DAY, "ca", (f"IP:{ADDRESS}",), ADDRESS),
}


def _san_texts(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        names = _sans(cert)
    except x509.ExtensionNotFound:
        return ()
    return tuple(f"{'IP' if isinstance(n, x509.IPAddress) else 'DNS'}:{n.value}" for n in names)


@pytest.mark.parametrize("kind", CERT_KINDS)
def test_each_kind_has_its_validity_issuer_and_names(ca, untrusted_ca, kind):
    before, after, issuer, sans, common_name = KIND_TABLE[kind]

    issued = issue_server_certificate(kind, [DOMAIN, ADDRESS], ca, untrusted_ca, now=NOW)
    cert = issued.certificate

    assert issued.kind == kind
    assert cert.not_valid_before_utc == NOW + before == issued.not_before
    assert cert.not_valid_after_utc == NOW + after == issued.not_after
    assert issued.subject_alt_names == sans
    assert _san_texts(cert) == sans
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == common_name
    assert issued.hostnames == (DOMAIN, ADDRESS)
    intermediate = x509.load_pem_x509_certificate(issued.issuer_pem)
    signer = {"ca": ca.certificate, "untrusted": untrusted_ca.certificate, "self": cert,
              "intermediate": intermediate}[issuer]
    assert cert.issuer == signer.subject
    cert.verify_directly_issued_by(signer)  # raises if the signature is not the signer's
    assert issued.ca_pem == ca.cert_pem  # the client is always given the trusted CA
    assert issued.issuer_pem == signer.public_bytes(serialization.Encoding.PEM)
    assert issued.complete_chain_pem == issued.cert_chain_pem + issued.omitted_chain_pem


def test_ip_address_without_an_address_names_loopback(ca):
    issued = issue_server_certificate("ip-address", [DOMAIN], ca, now=NOW)

    assert issued.subject_alt_names == (f"IP:{DEFAULT_ADDRESS}",) == ("IP:127.0.0.1",)


def test_missing_intermediate_is_a_chain_of_three_the_server_sends_one_of(ca):
    issued = issue_server_certificate("missing-intermediate", [DOMAIN], ca, now=NOW)
    intermediate = x509.load_pem_x509_certificate(issued.omitted_chain_pem)

    assert x509.load_pem_x509_certificates(issued.cert_chain_pem) == [issued.certificate]
    assert issued.issuer_pem == issued.omitted_chain_pem
    intermediate.verify_directly_issued_by(ca.certificate)
    assert intermediate.issuer == ca.certificate.subject != intermediate.subject
    constraints = intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    access = issued.certificate.extensions.get_extension_for_class(
        x509.AuthorityInformationAccess).value
    assert [a.access_location.value for a in access] == [INTERMEDIATE_URL]


@pytest.mark.parametrize(
    ("kind", "hostnames", "message"),
    [
        ("cn-only", [ADDRESS], "needs a DNS name"),
        ("wildcard-mismatch", [ADDRESS], "needs a DNS name"),
    ],
)
def test_kinds_that_need_a_name_or_an_address_say_so(ca, kind, hostnames, message):
    with pytest.raises(ValueError, match=message):
        issue_server_certificate(kind, hostnames, ca, now=NOW)


@pytest.mark.parametrize("kind", CERT_KINDS)
def test_each_kind_is_a_server_leaf_with_its_own_key(ca, untrusted_ca, kind):
    issued = issue_server_certificate(kind, [DOMAIN, ADDRESS], ca, untrusted_ca, now=NOW)
    cert = issued.certificate
    key = serialization.load_pem_private_key(issued.private_key_pem, password=None)

    assert key.public_key() == cert.public_key()
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in list(usages)
    assert x509.load_pem_x509_certificates(issued.cert_chain_pem) == [cert]
    assert issued.leaf_pem == issued.cert_chain_pem
    assert issued.private_key_and_chain_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_self_signed_has_no_ca_behind_it(ca, untrusted_ca):
    issued = issue_server_certificate("self-signed", [DOMAIN], ca, untrusted_ca, now=NOW)
    cert = issued.certificate

    assert cert.issuer == cert.subject
    with pytest.raises(ValueError):
        cert.verify_directly_issued_by(ca.certificate)
    assert issued.issuer_pem == issued.leaf_pem


def test_ip_literals_become_ip_sans(ca):
    issued = issue_server_certificate("valid", ["127.0.0.7", "::1", "[::2]", DOMAIN], ca, now=NOW)

    assert issued.subject_alt_names == ("IP:127.0.0.7", "IP:::1", "IP:::2", f"DNS:{DOMAIN}")
    addresses = [n.value for n in _sans(issued.certificate) if isinstance(n, x509.IPAddress)]
    assert addresses == [
        ipaddress.ip_address("127.0.0.7"), ipaddress.ip_address("::1"), ipaddress.ip_address("::2"),
    ]


def test_sip_uri_sans_are_added_for_dns_names_only(ca):
    issued = issue_server_certificate("valid", [DOMAIN, "127.0.0.7"], ca, now=NOW, sip_uri_sans=True)

    assert issued.subject_alt_names == (f"DNS:{DOMAIN}", "IP:127.0.0.7", f"URI:sip:{DOMAIN}")


def test_hostnames_are_normalised_to_a_labels(ca):
    issued = issue_server_certificate("valid", ["SIP.Example.COM.", "bücher.example"], ca, now=NOW)

    assert issued.subject_alt_names == ("DNS:sip.example.com", "DNS:xn--bcher-kva.example")


def test_wrong_host_can_name_another_wrong_host(ca):
    issued = issue_server_certificate("wrong-host", [DOMAIN], ca, now=NOW, wrong_hostname="evil.invalid")

    assert issued.subject_alt_names == ("DNS:evil.invalid",)
    assert issued.hostnames == (DOMAIN,)


def test_untrusted_ca_is_made_when_not_given(ca):
    issued = issue_server_certificate("untrusted-ca", [DOMAIN], ca, now=NOW)

    assert issued.certificate.issuer != ca.certificate.subject
    assert issued.ca_pem == ca.cert_pem


def test_rsa_keys_are_available(ca):
    issued = issue_server_certificate("valid", [DOMAIN], ca, now=NOW, key_type="rsa")

    assert issued.certificate.public_key().key_size == 2048


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"kind": "revoked"}, ValueError, "expected one of valid, expired"),
        ({"hostnames": []}, ValueError, "at least one"),
        ({"hostnames": DOMAIN}, TypeError, "not a single string"),
        ({"hostnames": ["bad host!"]}, ValueError, "not a host name"),
        ({"now": dt.datetime(2026, 1, 1)}, ValueError, "timezone-aware"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_message(ca, kwargs, error, message):
    arguments = {"kind": "valid", "hostnames": [DOMAIN], "now": NOW} | kwargs
    kind, hostnames = arguments.pop("kind"), arguments.pop("hostnames")

    with pytest.raises(error, match=message):
        issue_server_certificate(kind, hostnames, ca, **arguments)


def test_the_trusted_ca_cannot_double_as_the_untrusted_one(ca):
    with pytest.raises(ValueError, match="different CA"):
        issue_server_certificate("untrusted-ca", [DOMAIN], ca, ca, now=NOW)


def test_ca_issue_takes_an_exact_window(ca):
    issued = ca.issue([DOMAIN], not_before=NOW, not_after=NOW + DAY)

    assert (issued.not_before, issued.not_after) == (NOW, NOW + DAY)
    with pytest.raises(ValueError, match="later than"):
        ca.issue([DOMAIN], not_before=NOW, not_after=NOW)


def test_write_puts_pem_files_for_external_tools(ca, tmp_path):
    issued = issue_server_certificate("valid", [DOMAIN], ca, now=NOW)

    files = issued.write(tmp_path, stem="registrar")

    assert files.certificate == tmp_path / "registrar.crt"
    assert files.certificate.read_bytes() == issued.cert_chain_pem
    assert files.private_key.read_bytes() == issued.private_key_pem
    assert files.combined.read_bytes() == issued.private_key_pem + issued.cert_chain_pem
    assert files.ca.read_bytes() == ca.cert_pem
    assert files.private_key.stat().st_mode & 0o777 == 0o600
    assert files.combined.stat().st_mode & 0o777 == 0o600
    assert ca.write(tmp_path).read_bytes() == ca.cert_pem


def test_write_refuses_a_missing_directory(ca, tmp_path):
    issued = issue_server_certificate("valid", [DOMAIN], ca, now=NOW)

    with pytest.raises(NotADirectoryError):
        issued.write(tmp_path / "absent")


# -- TlsFailure and versions --------------------------------------------------------------------


def test_failure_kinds_are_the_troubleshooting_rows():
    assert TLS_FAILURE_KINDS == (
        "expired", "not-yet-valid", "self-signed", "untrusted-ca", "missing-intermediate",
        "hostname-mismatch", "cn-only", "wildcard-mismatch", "ip-address",
        "protocol-version", "handshake",
    )


def test_every_failure_kind_has_a_likely_cause_in_the_diagnosis():
    assert set(TLS_CAUSES) == set(TLS_FAILURE_KINDS)


def test_tls_failure_refuses_an_unknown_kind_and_prints_kind_and_detail():
    assert str(TlsFailure("expired", "it expired")) == "expired: it expired"
    with pytest.raises(ValueError, match="unknown TLS failure kind"):
        TlsFailure("bad", "x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TLSv1", SSL.TLS1_VERSION),
        ("TLSv1.0", SSL.TLS1_VERSION),
        ("TLSv1.1", SSL.TLS1_1_VERSION),
        ("TLSv1.2", SSL.TLS1_2_VERSION),
        ("TLSv1.3", SSL.TLS1_3_VERSION),
    ],
)
def test_tls_version_names(name, value):
    assert parse_tls_version(name) == value


@pytest.mark.parametrize("name", ["SSLv3", "1.2", "tlsv1.2", ""])
def test_unknown_tls_version_names_the_choices(name):
    with pytest.raises(TlsConfigError, match="expected one of TLSv1, TLSv1.0"):
        parse_tls_version(name)


def test_max_version_below_min_version_is_refused():
    with pytest.raises(TlsConfigError, match="older than min_version"):
        client_tls_options(DOMAIN, TrustConfig.system(), min_version="TLSv1.3", max_version="TLSv1.2")


# -- TrustConfig --------------------------------------------------------------------------------


def test_trust_constructors(ca, tmp_path):
    path = tmp_path / "ca.crt"

    assert TrustConfig.system() == TrustConfig()
    assert TrustConfig.system().source == "system"
    assert TrustConfig.from_ca_file(str(path)).ca_file == path
    assert TrustConfig.from_ca_file(path).source == "ca-file"
    assert TrustConfig.from_ca_pem(ca.cert_pem).source == "ca-pem"
    assert all(t.verify for t in (TrustConfig.system(), TrustConfig.from_ca_pem(ca.cert_pem)))


def test_insecure_still_names_what_it_diagnoses_against(ca):
    default = TrustConfig.insecure()
    pinned = TrustConfig.insecure(diagnose_with=TrustConfig.from_ca_pem(ca.cert_pem))

    assert not default.verify and default.source == "system"
    assert default.describe() == "insecure (diagnosed against system trust store)"
    assert not pinned.verify and pinned.ca_pem == ca.cert_pem
    assert pinned.describe() == "insecure (diagnosed against CA 'OU=SIP testbed CA,O=SIP transport testbed')"


def test_trust_descriptions(ca, tmp_path):
    assert TrustConfig.system().describe() == "system trust store"
    assert TrustConfig.from_ca_file(tmp_path / "ca.crt").describe() == f"CA file {tmp_path / 'ca.crt'}"


def test_trust_refuses_two_sources_and_garbage_pem(ca, tmp_path):
    with pytest.raises(TlsConfigError, match="not both"):
        TrustConfig(ca_file=tmp_path / "ca.crt", ca_pem=ca.cert_pem)
    with pytest.raises(TlsConfigError, match="no PEM or DER certificate"):
        TrustConfig.from_ca_pem(b"not a certificate")


def test_missing_or_garbage_ca_file_is_a_config_error(tmp_path):
    missing = tmp_path / "missing.crt"
    garbage = tmp_path / "garbage.crt"
    garbage.write_bytes(b"hello")

    with pytest.raises(TlsConfigError, match=f"CA file {missing}: No such file"):
        client_tls_options(DOMAIN, TrustConfig.from_ca_file(missing))
    with pytest.raises(TlsConfigError, match="no PEM or DER certificate found"):
        client_tls_options(DOMAIN, TrustConfig.from_ca_file(garbage))


def _memory_handshake(
    client, server, *, deliver_alerts: bool = False
) -> tuple[TlsHandshakeRecord, TlsHandshakeRecord]:
    """Run a handshake between two creators through memory BIOs: no socket, no reactor.

    With *deliver_alerts*, bytes keep flowing after one side fails, so the other side reads
    the alert it was sent."""
    client_side, server_side = client.clientConnectionForTLS(None), server.serverConnectionForTLS(None)
    client_side.set_connect_state()
    server_side.set_accept_state()
    for _ in range(10):
        for sender, receiver in ((client_side, server_side), (server_side, client_side)):
            try:
                sender.do_handshake()
            except SSL.WantReadError:
                pass
            except SSL.Error:
                if not deliver_alerts:
                    return client.record_for(client_side), server.record_for(server_side)
            try:
                receiver.bio_write(sender.bio_read(65536))
            except SSL.WantReadError:
                pass
    return client.record_for(client_side), server.record_for(server_side)


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_ca_file_in_pem_or_der_is_trusted(ca, tmp_path, encoding):
    path = tmp_path / "ca.crt"
    path.write_bytes(ca.certificate.public_bytes(encoding))
    server = server_tls_options(issue_server_certificate("valid", [DOMAIN], ca))

    client_record, server_record = _memory_handshake(
        client_tls_options(DOMAIN, TrustConfig.from_ca_file(path)), server
    )

    assert client_record.handshake_done and client_record.failure is None
    assert client_record.certificate_problems == []
    assert server_record.handshake_done and server_record.sni == DOMAIN


def test_a_ca_file_with_another_ca_is_not_trusted(ca, untrusted_ca, tmp_path):
    server = server_tls_options(issue_server_certificate("valid", [DOMAIN], ca))
    trust = TrustConfig.from_ca_file(untrusted_ca.write(tmp_path))

    client_record, _ = _memory_handshake(client_tls_options(DOMAIN, trust), server)

    assert not client_record.handshake_done
    assert client_record.failure is not None and client_record.failure.kind == "untrusted-ca"
    assert f"CA file {tmp_path / 'ca.crt'}" in client_record.failure.detail


# kind -> (the client's failure kind, the alert it sends): OpenSSL derives the alert from the
# verify error (ssl_x509err2alert); a name refused by RFC 5922 rides on OpenSSL's own
# X509_V_ERR_HOSTNAME_MISMATCH, hence bad_certificate rather than internal_error.
REFUSALS = {
    "expired": ("expired", "certificate_expired"),
    "not-yet-valid": ("not-yet-valid", "bad_certificate"),
    "self-signed": ("self-signed", "unknown_ca"),
    "untrusted-ca": ("untrusted-ca", "unknown_ca"),
    "wrong-host": ("hostname-mismatch", "bad_certificate"),
    "cn-only": ("cn-only", "bad_certificate"),
    "missing-intermediate": ("missing-intermediate", "unknown_ca"),
    "wildcard-mismatch": ("wildcard-mismatch", "bad_certificate"),
    "ip-address": ("ip-address", "bad_certificate"),
}


def test_every_bad_kind_has_a_refusal():
    assert set(REFUSALS) == set(CERT_KINDS) - {"valid"}


@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_each_bad_kind_is_refused_with_its_failure_and_alert(ca, untrusted_ca, kind):
    failure_kind, alert = REFUSALS[kind]
    server = server_tls_options(issue_server_certificate(kind, [DOMAIN, "127.0.0.7"], ca, untrusted_ca))

    client_record, server_record = _memory_handshake(
        client_tls_options(DOMAIN, TrustConfig.from_ca_pem(ca.cert_pem)), server,
        deliver_alerts=True,
    )

    assert not client_record.handshake_done
    assert client_record.failure is not None and client_record.failure.kind == failure_kind
    assert [(a.name, a.sent) for a in client_record.alerts if a.fatal] == [(alert, True)]
    assert [(a.name, a.sent) for a in server_record.alerts if a.fatal] == [(alert, False)]
    assert client_record.peer_chain_length == 1
    assert client_record.peer_certificate is not None


@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_insecure_accepts_each_bad_kind_and_keeps_its_failure(ca, untrusted_ca, kind):
    server = server_tls_options(issue_server_certificate(kind, [DOMAIN, "127.0.0.7"], ca, untrusted_ca))
    trust = TrustConfig.insecure(diagnose_with=TrustConfig.from_ca_pem(ca.cert_pem))

    client_record, _ = _memory_handshake(client_tls_options(DOMAIN, trust), server)

    assert client_record.handshake_done and client_record.failure is None
    assert client_record.alerts == []
    assert client_record.would_have_failed is not None
    assert client_record.would_have_failed.kind == REFUSALS[kind][0]


def test_the_complete_chain_of_a_missing_intermediate_certificate_is_accepted(ca):
    issued = issue_server_certificate("missing-intermediate", [DOMAIN], ca)
    server = server_tls_options(PemCredential(issued.complete_chain_pem, issued.private_key_pem))

    client_record, _ = _memory_handshake(
        client_tls_options(DOMAIN, TrustConfig.from_ca_pem(ca.cert_pem)), server
    )

    assert client_record.handshake_done and client_record.failure is None
    assert client_record.peer_chain_length == 2


def test_without_access_to_openssl_the_name_is_still_checked_and_the_loss_noted():
    class NoContext:
        pass

    note = expect_server_name(NoContext(), DOMAIN, None, allow_wildcards=False)  # type: ignore[arg-type]

    assert note is not None and "internal_error" in note
    assert expect_server_name(SSL.Context(SSL.TLS_METHOD), DOMAIN, None, allow_wildcards=False) is None
    address = ipaddress.ip_address("::1")
    assert expect_server_name(SSL.Context(SSL.TLS_METHOD), "::1", address, allow_wildcards=True) is None


# -- client options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "server_name", "sni"),
    [
        ("sip.example.com", "sip.example.com", "sip.example.com"),
        ("SIP.Example.COM.", "sip.example.com", "sip.example.com"),
        ("bücher.example", "xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("127.0.0.7", "127.0.0.7", None),
        ("::1", "::1", None),
        ("[::1]", "::1", None),
    ],
)
def test_sni_is_sent_for_names_and_not_for_ip_literals(ca, given, server_name, sni):
    creator = client_tls_options(given, TrustConfig.from_ca_pem(ca.cert_pem))

    connection = creator.clientConnectionForTLS(None)

    record = creator.record_for(connection)
    assert creator.server_name == server_name
    assert creator.sni == sni and record is not None and record.sni == sni
    assert creator.last_record is record
    sni_notes = [n for n in creator.notes if "SNI not sent" in n]
    if sni is None:
        assert sni_notes and "RFC 6066 §3" in sni_notes[0] and server_name in sni_notes[0]
        assert connection.get_servername() is None
    else:
        assert not sni_notes
        assert connection.get_servername() == sni.encode()


def test_client_creator_is_a_twisted_connection_creator(ca):
    creator = client_tls_options(DOMAIN, TrustConfig.from_ca_pem(ca.cert_pem), alpn=["sip", b"h2"])

    assert IOpenSSLClientConnectionCreator.providedBy(creator)
    assert creator.versions == "TLSv1.2 or newer"
    assert creator.last_failure is None


def test_legacy_client_versions_note_the_security_level(ca):
    creator = client_tls_options(DOMAIN, TrustConfig.system(), min_version="TLSv1")

    assert any("SECLEVEL=0" in note for note in creator.notes)
    assert not any("SECLEVEL" in n for n in client_tls_options(DOMAIN, TrustConfig.system()).notes)


@pytest.mark.parametrize("name", ["", "[]", "bad host!"])
def test_bad_server_names_are_config_errors(name):
    with pytest.raises(TlsConfigError):
        client_tls_options(name, TrustConfig.system())


# -- hostname checks (RFC 5922 §7) ----------------------------------------------------------------


def _cert_with(*names: x509.GeneralName, common_name: str = "ignored.example") -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return builder.sign(key, hashes.SHA256())


DNS, URI, IP = x509.DNSName, x509.UniformResourceIdentifier, x509.IPAddress


HOST = "hostname-mismatch"


@pytest.mark.parametrize(
    ("names", "server_name", "wildcards", "kind", "text"),
    [
        ((DNS(DOMAIN),), DOMAIN, False, None, None),
        ((DNS(DOMAIN),), "SIP.EXAMPLE.COM", False, None, None),
        ((DNS("other.example.com"), DNS(DOMAIN)), DOMAIN, False, None, None),
        ((DNS("wrong.invalid"),), DOMAIN, False, HOST, "is for DNS:wrong.invalid, not sip.example.com"),
        ((DNS("example.com"),), DOMAIN, False, HOST, "DNS-ID"),
        # RFC 5922 §7.2: no wildcard matches in SIP, even one the web's rule would accept
        ((DNS("*.example.com"),), DOMAIN, False, "wildcard-mismatch", "RFC 5922 §7.2"),
        ((DNS("*.example.com"),), DOMAIN, True, None, None),
        ((DNS("*.example.com"), DNS(DOMAIN)), DOMAIN, False, None, None),
        # RFC 6125 §6.4.3: one whole left-most label, so neither the apex nor two labels
        ((DNS(f"*.{DOMAIN}"),), DOMAIN, False, "wildcard-mismatch", "does not cover it"),
        ((DNS(f"*.{DOMAIN}"),), DOMAIN, True, "wildcard-mismatch", "RFC 6125 §6.4.3"),
        ((DNS("*.example.com"),), f"a.{DOMAIN}", True, "wildcard-mismatch", "a.b.example.com"),
        ((DNS("*.example.net"),), DOMAIN, False, "wildcard-mismatch", "DNS:*.example.net"),
        ((DNS("*.example.com"), DNS("other.example.com")), "example.com", True, "wildcard-mismatch", "does not cover"),
        ((URI(f"sip:{DOMAIN}"),), DOMAIN, False, None, None),
        ((URI(f"sip:{DOMAIN}"), DNS("other.example.com")), DOMAIN, False, None, None),
        # RFC 5922 §7.1: once sip: URIs are present, DNS names do not count
        ((URI("sip:other.example.com"), DNS(DOMAIN)), DOMAIN, False, HOST, "RFC 5922 §7.1"),
        ((URI("sip:other.example.com"), DNS("*.example.com")), DOMAIN, True, HOST, "RFC 5922 §7.1"),
        ((URI(f"https:{DOMAIN}"), DNS(DOMAIN)), DOMAIN, False, None, None),
        ((IP(ipaddress.ip_address("127.0.0.7")),), "127.0.0.7", False, None, None),
        ((IP(ipaddress.ip_address("::1")),), "[::1]", False, None, None),
        ((IP(ipaddress.ip_address("127.0.0.7")),), "127.0.0.1", False, HOST, "IP-ID"),
        ((DNS("127.0.0.7.example"),), "127.0.0.7", False, HOST, "IP address SAN"),
        # a name checked against addresses only: the certificate names no DNS name at all
        ((IP(ipaddress.ip_address("127.0.0.7")),), DOMAIN, False, "ip-address", "only by IP address (IP:127.0.0.7)"),
        ((IP(ipaddress.ip_address("127.0.0.7")), IP(ipaddress.ip_address("::1"))), DOMAIN, True, "ip-address", "IP:127.0.0.7, IP:::1"),
        ((IP(ipaddress.ip_address("127.0.0.7")), DNS("other.example.com")), DOMAIN, False, HOST, "DNS-ID"),
        ((), DOMAIN, False, HOST, "no subjectAltName"),
        ((URI("sip:127.0.0.7"),), "127.0.0.7", False, HOST, "cannot be parsed"),
    ],
)
def test_server_identity(names, server_name, wildcards, kind, text):
    failure = check_server_identity(_cert_with(*names), server_name, allow_wildcards=wildcards)

    if kind is None:
        assert failure is None
    else:
        assert failure is not None and failure.kind == kind, failure
        assert text in failure.detail, failure.detail


@pytest.mark.parametrize(
    ("common_name", "server_name", "kind"),
    [
        (DOMAIN, DOMAIN, "cn-only"),
        ("SIP.Example.COM", DOMAIN, "cn-only"),
        ("other.example.com", DOMAIN, "hostname-mismatch"),
        ("127.0.0.7", "127.0.0.7", "hostname-mismatch"),  # an address needs an IP SAN
        ("not a host name!", DOMAIN, "hostname-mismatch"),
    ],
)
def test_a_name_only_in_the_common_name_is_refused(common_name, server_name, kind):
    failure = check_server_identity(_cert_with(common_name=common_name), server_name)

    assert failure is not None and failure.kind == kind
    assert "no subjectAltName" in failure.detail


def test_cn_only_names_the_rule_and_the_evidence():
    failure = check_server_identity(_cert_with(common_name=DOMAIN), DOMAIN)

    assert failure is not None
    for text in ("only in its subject CN", "RFC 5922 §7.1", f"subjectAltName DNS:{DOMAIN}",
                 f"subject 'CN={DOMAIN}'", "issuer 'CN=sip.example.com'"):
        assert text in failure.detail, failure.detail


# -- OpenSSL verify errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "depth", "kind", "text"),
    [
        (10, 0, "expired", "certificate for sip.example.com expired 2026-01-02T12:00:00Z"),
        (9, 0, "not-yet-valid", "certificate for sip.example.com is not valid before 2025-12-31T12:00:00Z"),
        (18, 0, "self-signed", "certificate for sip.example.com is self-signed ('CN=leaf.example')"),
        (19, 1, "untrusted-ca", "ends at the self-signed CA 'CN=leaf.example'"),
        (20, 0, "untrusted-ca", "is issued by 'CN=leaf.example', which is not in the trust store (TRUST)"),
        (21, 0, "untrusted-ca", "is issued by"),
        (2, 1, "untrusted-ca", "CA certificate 'CN=leaf.example' (depth 1)"),
        (10, 1, "expired", "CA certificate 'CN=leaf.example' (depth 1) in the chain for sip.example.com expired"),
        (7, 0, "handshake", "X509 verify error 7 (certificate signature failure)"),
        (999, 0, "handshake", "X509 verify error 999"),
    ],
)
def test_verify_errors_map_to_failure_kinds(error, depth, kind, text):
    cert = _cert_with(DNS(DOMAIN), common_name="leaf.example")

    failure = certificate_failure(error, cert, depth, DOMAIN, "TRUST")

    assert failure.kind == kind
    assert text in failure.detail, failure.detail


def _with_ca_issuers(cert: x509.Certificate, url: str = "http://pki.example/int.crt") -> x509.Certificate:
    """*cert* re-signed with an AIA caIssuers URL, as CAs put in leaves they sign from an
    intermediate (the same subject, issuer and names)."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Intermediate CA")]))
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
        .add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            x509.AuthorityInformationAccessOID.CA_ISSUERS, URI(url))]), critical=False)
    )
    return builder.sign(key, hashes.SHA256())


def _ca_named(name: str) -> x509.Certificate:
    return _cert_with(common_name=name)


@pytest.mark.parametrize(
    ("aia", "sent", "kind", "text"),
    [
        # the certificate names where its issuer is published, the server did not send it
        (True, ["leaf"], "missing-intermediate", "the server sent 1 certificate, its own"),
        (True, ["leaf", "Root CA"], "missing-intermediate", "the server sent 2 certificates"),
        (True, [], "missing-intermediate", "intermediate CA 'CN=Intermediate CA'"),
        # it sent the issuer after all: then the issuer's own issuer is what is unknown
        (True, ["leaf", "Intermediate CA"], "untrusted-ca", "not in the trust store"),
        # nothing says the issuer is an intermediate: a CA the client does not trust
        (False, ["leaf"], "untrusted-ca", "the server sent 1 certificate, its own"),
        (False, [], "untrusted-ca", "was not sent by the server"),
    ],
)
def test_an_unknown_issuer_is_a_missing_intermediate_or_an_untrusted_ca(aia, sent, kind, text):
    leaf = _cert_with(DNS(DOMAIN), common_name=DOMAIN)
    leaf = _with_ca_issuers(leaf) if aia else leaf
    chain = [leaf if name == "leaf" else _ca_named(name) for name in sent]

    failure = certificate_failure(20, leaf, 0, DOMAIN, "TRUST", chain)

    assert failure.kind == kind, failure
    assert text in failure.detail, failure.detail


def test_missing_intermediate_names_the_issuer_its_url_and_the_fix():
    leaf = _with_ca_issuers(_cert_with(DNS(DOMAIN), common_name=DOMAIN), "http://ca.example/i.crt")

    failure = certificate_failure(20, leaf, 0, DOMAIN, "TRUST", [leaf])

    for text in ("certificate for sip.example.com", "'CN=Intermediate CA'", "(TRUST)",
                 "http://ca.example/i.crt", "followed by the intermediate", "RFC 8446 §4.4.2"):
        assert text in failure.detail, failure.detail


# -- classifying failed handshakes ----------------------------------------------------------------


def _ssl_error(reason: str) -> SSL.Error:
    return SSL.Error([("SSL routines", "", reason)])


@pytest.mark.parametrize(
    ("reason", "kind", "text"),
    [
        (_ssl_error("tlsv1 alert protocol version"), "protocol-version", "refused every TLS version"),
        (_ssl_error("unsupported protocol"), "protocol-version", "outside the client's range"),
        (_ssl_error("no protocols available"), "protocol-version", "no protocols available"),
        (_ssl_error("wrong version number"), "handshake", "not TLS"),
        (_ssl_error("sslv3 alert handshake failure"), "handshake", "handshake failure"),
        (Failure(_ssl_error("tlsv1 alert protocol version")), "protocol-version", "protocol_version"),
        (VerificationError(errors=[DNSMismatch(DNS_ID(DOMAIN))]), "hostname-mismatch", "does not match"),
    ],
)
def test_handshake_errors_without_a_creator(reason, kind, text):
    failure = tls_failure_from(reason)

    assert failure is not None and failure.kind == kind
    assert text in failure.detail, failure.detail


def test_a_connection_lost_without_tls_evidence_is_not_a_tls_failure():
    assert tls_failure_from(Failure(ConnectionDone())) is None


def test_the_creator_record_explains_a_close_during_the_handshake(ca):
    creator = client_tls_options(DOMAIN, TrustConfig.from_ca_pem(ca.cert_pem))
    connection = creator.clientConnectionForTLS(None)

    failure = tls_failure_from(Failure(ConnectionDone()), creator, connection)

    assert failure is not None and failure.kind == "handshake"
    assert "before the server sent any TLS alert" in failure.detail
    assert creator.last_failure == failure
    assert creator.record_for(connection).error.startswith("ConnectionDone")


def test_a_close_after_the_handshake_is_not_a_tls_failure(ca):
    creator = client_tls_options(DOMAIN, TrustConfig.from_ca_pem(ca.cert_pem))
    connection = creator.clientConnectionForTLS(None)
    creator.record_for(connection).handshake_done = True

    assert tls_failure_from(Failure(ConnectionDone()), creator, connection) is None


def test_a_recorded_verification_failure_wins(ca):
    creator = client_tls_options(DOMAIN, TrustConfig.from_ca_pem(ca.cert_pem))
    connection = creator.clientConnectionForTLS(None)
    expired = TlsFailure("expired", "certificate for sip.example.com expired 2026-01-01T00:00:00Z")
    creator.record_for(connection).verification_failure = expired

    assert tls_failure_from(_ssl_error("certificate verify failed"), creator, connection) == expired


@pytest.mark.parametrize(
    ("role", "alert", "kind"),
    [
        ("server", TlsAlert(2, 45, sent=False), "expired"),
        ("server", TlsAlert(2, 48, sent=False), "untrusted-ca"),
        ("server", TlsAlert(2, 42, sent=False), "handshake"),
        ("server", TlsAlert(2, 46, sent=False), "handshake"),
        ("server", TlsAlert(2, 70, sent=True), "protocol-version"),
        ("client", TlsAlert(2, 70, sent=False), "protocol-version"),
        ("client", TlsAlert(2, 40, sent=False), "handshake"),
    ],
)
def test_fatal_alerts_explain_a_record(role, alert, kind):
    record = TlsHandshakeRecord(role=role, alerts=[alert])

    assert record.failure is not None and record.failure.kind == kind
    assert alert.name in str(record.failure) or kind == "protocol-version"


def test_warning_alerts_and_finished_handshakes_are_not_failures():
    assert TlsHandshakeRecord(role="client", alerts=[TlsAlert(1, 0, sent=True)]).failure is None
    done = TlsHandshakeRecord(role="client", alerts=[TlsAlert(2, 40, sent=False)], handshake_done=True)
    assert done.failure is None


def test_alert_text():
    assert str(TlsAlert(2, 48, sent=False)) == "received fatal alert unknown_ca (48)"
    assert TlsAlert(1, 0, sent=True).name == "close_notify" and not TlsAlert(1, 0, sent=True).fatal
    assert TlsAlert(2, 250, sent=True).name == "alert_250"


def test_would_have_failed_only_in_insecure_mode():
    problem = TlsFailure("expired", "x")
    assert TlsHandshakeRecord(role="client", insecure=True, certificate_problems=[problem]).would_have_failed == problem
    assert TlsHandshakeRecord(role="client", certificate_problems=[problem]).would_have_failed is None


# -- key log --------------------------------------------------------------------------------------


def test_key_log_appends_lines_with_private_permissions(tmp_path):
    log = KeyLog(tmp_path / "keys.log")

    log(None, b"CLIENT_RANDOM " + b"ab" * 32 + b" " + b"cd" * 48)
    log(None, b"EXPORTER_SECRET " + b"ab" * 32 + b" " + b"ef" * 32 + b"\n")

    lines = log.path.read_bytes().splitlines()
    assert [line.split()[0] for line in lines] == [b"CLIENT_RANDOM", b"EXPORTER_SECRET"]
    assert log.path.read_bytes().endswith(b"\n") and log.lines_written == 2
    assert log.path.stat().st_mode & 0o777 == 0o600


def test_key_log_in_a_missing_directory_is_a_config_error(tmp_path):
    with pytest.raises(TlsConfigError, match="TLS key log file"):
        KeyLog(tmp_path / "absent" / "keys.log")


def test_key_log_write_error_stops_logging_without_raising(tmp_path):
    log = KeyLog(tmp_path / "keys.log")
    os.remove(log.path)
    os.mkdir(log.path)  # now every open for writing fails

    log(None, b"CLIENT_RANDOM x y")

    assert log.error is not None and "key logging stopped" in log.error
    assert log.lines_written == 0


def test_key_log_from_environment(tmp_path):
    assert KeyLog.from_environment({}) is None
    assert KeyLog.from_environment({"SSLKEYLOGFILE": ""}) is None
    log = KeyLog.from_environment({"SSLKEYLOGFILE": str(tmp_path / "k.log")})
    assert log is not None and log.path == tmp_path / "k.log" and log.path.exists()


# -- server options -------------------------------------------------------------------------------


def test_server_creator_is_a_twisted_connection_creator(ca):
    issued = issue_server_certificate("valid", [DOMAIN], ca, now=NOW)

    creator = server_tls_options(issued)

    assert IOpenSSLServerConnectionCreator.providedBy(creator)
    assert isinstance(creator.getContext(), SSL.Context)
    assert creator.certificate.subject_alt_names == (f"DNS:{DOMAIN}",)
    connection = creator.serverConnectionForTLS(None)
    assert creator.record_for(connection) is creator.last_record is not None
    assert creator.last_record.role == "server"


def test_legacy_server_lowers_the_security_level_and_says_so(ca):
    issued = issue_server_certificate("valid", [DOMAIN], ca, now=NOW)

    legacy = server_tls_options(issued, min_version="TLSv1", max_version="TLSv1.1")

    assert legacy.versions == "TLSv1 to TLSv1.1"
    assert any("SECLEVEL=0" in note for note in legacy.notes)


def test_server_refuses_a_key_that_does_not_match(ca):
    one = issue_server_certificate("valid", [DOMAIN], ca, now=NOW)
    other = issue_server_certificate("valid", [DOMAIN], ca, now=NOW)

    with pytest.raises(TlsConfigError, match="do not match"):
        server_tls_options(PemCredential(one.cert_chain_pem, other.private_key_pem))
    with pytest.raises(TlsConfigError, match="no PEM certificate"):
        server_tls_options(PemCredential(b"junk", one.private_key_pem))
    with pytest.raises(TlsConfigError, match="private key"):
        server_tls_options(PemCredential(one.cert_chain_pem, b"junk"))


def test_pem_credential_from_files(ca, tmp_path):
    issued = issue_server_certificate("valid", [DOMAIN], ca, now=NOW)
    files = issued.write(tmp_path)

    separate = PemCredential.from_files(files.certificate, files.private_key)
    combined = PemCredential.from_files(files.combined)

    assert separate == PemCredential(issued.cert_chain_pem, issued.private_key_pem)
    assert server_tls_options(combined).certificate.subject_alt_names == (f"DNS:{DOMAIN}",)
    with pytest.raises(TlsConfigError, match="No such file"):
        PemCredential.from_files(tmp_path / "absent.crt")
