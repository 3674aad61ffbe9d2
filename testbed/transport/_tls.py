"""TLS for the SIP transports: contexts that verify like a SIP client should, and say why not.

Client side (RFC 3261 §26.3.1 as updated by RFC 5922):

* TLS 1.2 minimum by default; SNI sent for DNS names and *not* for IP literals
  (RFC 6066 §3), which is recorded in :attr:`ClientTlsCreator.notes`;
* the chain is verified against a :class:`TrustConfig` (system store, a CA file or PEM,
  or insecure); the server identity is checked against the *SIP domain* (the host of the
  URI the user asked for, not an SRV target) with ``service_identity``, following RFC 5922
  §7: ``sip:`` URI SANs win over DNS SANs, and wildcards do not match unless allowed;
* every verification problem is recorded as a :class:`TlsFailure` with one of
  :data:`TLS_FAILURE_KINDS`, taken from OpenSSL's verify error numbers, service_identity,
  the TLS alerts exchanged and the handshake error. Insecure mode verifies all the same
  and records what *would* have failed, but lets the handshake proceed.

How a transport gets the reason after a failed handshake::

    creator = client_tls_options("example.com", TrustConfig.from_ca_file(path))
    reactor.connectSSL(host, port, factory, creator)   # or TLSMemoryBIOFactory / wrapClientTLS
    ...
    # in the wrapped protocol; self.transport is the TLSMemoryBIOProtocol, which
    # stays usable as a key after the connection is gone
    def connectionLost(self, reason):
        failure = tls_failure_from(reason, creator, self.transport)   # TlsFailure | None
        record = creator.record_for(self.transport)                   # evidence for a report

``creator.last_failure`` / ``creator.last_record`` are shortcuts for a creator that makes
one connection at a time; ``last_failure`` sees verification failures and fatal alerts,
but only :func:`tls_failure_from` sees the handshake exception (e.g. "the server's answer
is not TLS").

Server side: :func:`server_tls_options` builds a server connection creator from PEM, with
TLS 1.0/1.1-only servers possible (OpenSSL 3 needs ``@SECLEVEL=0`` for them, set here).
:class:`KeyLog` writes SSLKEYLOGFILE lines (NSS format) for Wireshark, from either side.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import idna
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto
from service_identity import CertificateError, VerificationError
from service_identity.cryptography import extract_patterns
from service_identity.hazmat import (
    DNS_ID,
    URI_ID,
    DNSPattern,
    IPAddress_ID,
    URIPattern,
    verify_service_identity,
)
from twisted.internet.error import ConnectionClosed
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLContextFactory,
    IOpenSSLServerConnectionCreator,
)
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

__all__ = [
    "TLS_FAILURE_KINDS",
    "TLS_VERSIONS",
    "CertificateSummary",
    "ClientTlsCreator",
    "KeyLog",
    "PemCredential",
    "ServerCredential",
    "ServerTlsCreator",
    "TlsAlert",
    "TlsConfigError",
    "TlsFailure",
    "TlsFailureKind",
    "TlsHandshakeRecord",
    "TrustConfig",
    "check_server_identity",
    "certificate_failure",
    "client_tls_options",
    "parse_tls_version",
    "server_tls_options",
    "tls_failure_from",
]

_log = Logger()

TlsFailureKind = Literal[
    "expired",
    "not-yet-valid",
    "self-signed",
    "untrusted-ca",
    "hostname-mismatch",
    "protocol-version",
    "handshake",
]
TLS_FAILURE_KINDS: tuple[TlsFailureKind, ...] = get_args(TlsFailureKind)


class TlsConfigError(ValueError):
    """A TLS setting the user gave cannot be used (unreadable CA file, bad version name...).

    The message is one line naming the setting, fit for the CLI."""


@dataclass(frozen=True)
class TlsFailure:
    """Why a TLS connection failed (or, in insecure mode, would have), as a support engineer
    would say it: ``kind`` picks the troubleshooting row, ``detail`` is the evidence."""

    kind: TlsFailureKind
    detail: str

    def __post_init__(self) -> None:
        if self.kind not in TLS_FAILURE_KINDS:
            raise ValueError(
                f"unknown TLS failure kind {self.kind!r}; expected one of "
                f"{', '.join(TLS_FAILURE_KINDS)}"
            )

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


# -- TLS versions -------------------------------------------------------------------------

TLS_VERSIONS: Mapping[str, int] = {
    "TLSv1": SSL.TLS1_VERSION,
    "TLSv1.0": SSL.TLS1_VERSION,
    "TLSv1.1": SSL.TLS1_1_VERSION,
    "TLSv1.2": SSL.TLS1_2_VERSION,
    "TLSv1.3": SSL.TLS1_3_VERSION,
}
_VERSION_NAMES = {
    SSL.TLS1_VERSION: "TLSv1",
    SSL.TLS1_1_VERSION: "TLSv1.1",
    SSL.TLS1_2_VERSION: "TLSv1.2",
    SSL.TLS1_3_VERSION: "TLSv1.3",
}
# OpenSSL 3 refuses TLS 1.0/1.1 at its default security level 1 ("no protocols
# available"); level 0 re-enables them (and SHA-1 handshake signatures with them).
_LEGACY_CIPHERS = b"DEFAULT:@SECLEVEL=0"


def parse_tls_version(name: str, setting: str = "TLS version") -> int:
    """``"TLSv1.2"`` → ``SSL.TLS1_2_VERSION``; ``"TLSv1"`` and ``"TLSv1.0"`` both mean 1.0."""
    try:
        return TLS_VERSIONS[name]
    except (KeyError, TypeError):
        raise TlsConfigError(
            f"{setting}: {name!r} is not a TLS version; expected one of "
            f"{', '.join(TLS_VERSIONS)}"
        ) from None


def _version_range(min_version: str, max_version: str | None) -> tuple[int, int | None, str]:
    low = parse_tls_version(min_version, "min_version")
    high = None if max_version is None else parse_tls_version(max_version, "max_version")
    if high is not None and high < low:
        raise TlsConfigError(
            f"max_version {max_version} is older than min_version {min_version}"
        )
    if high is None:
        text = f"{_VERSION_NAMES[low]} or newer"
    elif high == low:
        text = f"only {_VERSION_NAMES[low]}"
    else:
        text = f"{_VERSION_NAMES[low]} to {_VERSION_NAMES[high]}"
    return low, high, text


def _new_context(
    low: int, high: int | None, keylog: KeyLog | None
) -> tuple[SSL.Context, list[str]]:
    notes: list[str] = []
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_options(SSL.OP_NO_COMPRESSION)
    # Free each connection's record buffers while it is idle (~34 KiB a connection): a
    # registrar holding thousands of registered TLS phones keeps them mostly idle.
    context.set_mode(SSL.MODE_RELEASE_BUFFERS)
    context.set_min_proto_version(low)
    if high is not None:
        context.set_max_proto_version(high)
    if low < SSL.TLS1_2_VERSION:
        context.set_cipher_list(_LEGACY_CIPHERS)
        notes.append(
            f"{_VERSION_NAMES[low]} allowed: OpenSSL security level lowered to 0 "
            "(@SECLEVEL=0), without which OpenSSL 3 refuses TLS 1.0/1.1"
        )
    if keylog is not None:
        context.set_keylog_callback(keylog)
        notes.append(f"TLS session keys logged to {keylog.path}")
    return context, notes


# -- Key log --------------------------------------------------------------------------------


class KeyLog:
    """Append TLS secrets to *path* in the SSLKEYLOGFILE (NSS key log) format, one line per
    secret (``CLIENT_RANDOM <hex> <hex>`` for TLS 1.2, ``CLIENT_HANDSHAKE_TRAFFIC_SECRET``
    and friends for TLS 1.3), so Wireshark can decrypt a capture.

    Pass the same instance to client and server options, or one each. Writes are
    serialised by a lock and each line is a single ``O_APPEND`` write, so several
    contexts (or processes) may share a file. The file is created mode 0600.
    A write error stops logging and is kept in :attr:`error` rather than breaking the
    handshake.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lines_written = 0
        self.error: str | None = None
        self._lock = threading.Lock()
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        except OSError as exc:
            raise TlsConfigError(f"TLS key log file {self.path}: {exc.strerror}") from None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> KeyLog | None:
        """A key log at ``$SSLKEYLOGFILE`` if that is set (and not empty), else ``None``."""
        path = (os.environ if environ is None else environ).get("SSLKEYLOGFILE", "")
        return cls(path) if path else None

    def __repr__(self) -> str:
        return f"KeyLog({str(self.path)!r})"

    def __call__(self, connection: SSL.Connection | None, line: bytes) -> None:
        """The ``SSL.Context.set_keylog_callback`` callback."""
        with self._lock:
            if self.error is not None:
                return
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    os.write(fd, line.rstrip(b"\r\n") + b"\n")
                finally:
                    os.close(fd)
            except OSError as exc:
                self.error = f"TLS key log {self.path}: {exc.strerror}; key logging stopped"
                _log.error("{error}", error=self.error)
            else:
                self.lines_written += 1


# -- Trust ----------------------------------------------------------------------------------


def _load_certificates(data: bytes, origin: str) -> list[x509.Certificate]:
    """PEM (one or many certificates) or a single DER certificate."""
    try:
        return list(x509.load_pem_x509_certificates(data))
    except ValueError:
        pass
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise TlsConfigError(f"{origin}: no PEM or DER certificate found") from None


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


@dataclass(frozen=True)
class TrustConfig:
    """What a client trusts: the system store, a CA file, CA PEM bytes, or nothing.

    Build with :meth:`system`, :meth:`from_ca_file`, :meth:`from_ca_pem` or
    :meth:`insecure`. An insecure config still names the anchors it *diagnoses* against
    (the system store unless told otherwise) so that the record can say "you are running
    insecure, and the certificate is expired".
    """

    ca_file: Path | None = None
    ca_pem: bytes | None = None
    verify: bool = True

    def __post_init__(self) -> None:
        if self.ca_file is not None and self.ca_pem is not None:
            raise TlsConfigError("trust: give a CA file or CA PEM, not both")
        if self.ca_file is not None and not isinstance(self.ca_file, Path):
            object.__setattr__(self, "ca_file", Path(self.ca_file))
        if self.ca_pem is not None:
            _load_certificates(self.ca_pem, "trust: CA PEM")

    @classmethod
    def system(cls) -> TrustConfig:
        """The platform's default CA store (``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured)."""
        return cls()

    @classmethod
    def from_ca_file(cls, path: str | os.PathLike[str]) -> TrustConfig:
        """Trust only the CA certificate(s) in *path* (PEM, possibly several, or DER)."""
        return cls(ca_file=Path(path))

    @classmethod
    def from_ca_pem(cls, pem: bytes) -> TrustConfig:
        """Trust only the CA certificate(s) in *pem*."""
        return cls(ca_pem=bytes(pem))

    @classmethod
    def insecure(cls, diagnose_with: TrustConfig | None = None) -> TrustConfig:
        """Accept any certificate; still verify against *diagnose_with* (default: the
        system store) and record what would have failed."""
        base = diagnose_with if diagnose_with is not None else cls.system()
        return cls(ca_file=base.ca_file, ca_pem=base.ca_pem, verify=False)

    @property
    def source(self) -> Literal["system", "ca-file", "ca-pem"]:
        if self.ca_file is not None:
            return "ca-file"
        if self.ca_pem is not None:
            return "ca-pem"
        return "system"

    def describe_anchors(self) -> str:
        """What is trusted, whether or not it is enforced: ``"CA file /tmp/ca.crt"``..."""
        if self.ca_file is not None:
            return f"CA file {self.ca_file}"
        if self.ca_pem is not None:
            subjects = [_subject(c) for c in _load_certificates(self.ca_pem, "trust: CA PEM")]
            return "CA " + ", ".join(f"'{s}'" for s in subjects)
        return "system trust store"

    def describe(self) -> str:
        """For reports: ``"system trust store"``, ``"insecure (diagnosed against ...)"``."""
        anchors = self.describe_anchors()
        return anchors if self.verify else f"insecure (diagnosed against {anchors})"

    def load_into(self, context: SSL.Context) -> None:
        """Install the trust anchors in *context* (before any connection is made from it)."""
        if self.ca_file is None and self.ca_pem is None:
            context.set_default_verify_paths()
            return
        if self.ca_file is not None:
            try:
                data = self.ca_file.read_bytes()
            except OSError as exc:
                raise TlsConfigError(f"CA file {self.ca_file}: {exc.strerror}") from None
            certificates = _load_certificates(data, f"CA file {self.ca_file}")
        else:
            assert self.ca_pem is not None
            certificates = _load_certificates(self.ca_pem, "trust: CA PEM")
        store = context.get_cert_store()
        assert store is not None
        for certificate in certificates:
            store.add_cert(crypto.X509.from_cryptography(certificate))


# -- What happened ----------------------------------------------------------------------------

#: TLS alert descriptions (RFC 8446 §6, RFC 5246 §7.2).
ALERT_NAMES: Mapping[int, str] = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
    40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
    44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
    47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
    51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security",
    80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
    109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
    113: "bad_certificate_status_response", 115: "unknown_psk_identity",
    116: "certificate_required", 120: "no_application_protocol",
}
_ALERT_PROTOCOL_VERSION = 70


@dataclass(frozen=True)
class TlsAlert:
    """A TLS alert seen on a connection; ``sent`` is from our side's point of view."""

    level: int
    code: int
    sent: bool

    @property
    def fatal(self) -> bool:
        return self.level == 2

    @property
    def name(self) -> str:
        return ALERT_NAMES.get(self.code, f"alert_{self.code}")

    def __str__(self) -> str:
        direction = "sent" if self.sent else "received"
        return f"{direction} {'fatal' if self.fatal else 'warning'} alert {self.name} ({self.code})"


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _san_texts(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    texts: list[str] = []
    for name in names:
        if isinstance(name, x509.DNSName):
            texts.append(f"DNS:{name.value}")
        elif isinstance(name, x509.IPAddress):
            texts.append(f"IP:{name.value}")
        elif isinstance(name, x509.UniformResourceIdentifier):
            texts.append(f"URI:{name.value}")
        else:
            texts.append(f"{type(name).__name__}")
    return tuple(texts)


@dataclass(frozen=True)
class CertificateSummary:
    """The peer certificate as evidence: who, by whom, when, for which names."""

    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    subject_alt_names: tuple[str, ...]

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> CertificateSummary:
        return cls(
            subject=_subject(cert),
            issuer=cert.issuer.rfc4514_string() or "(empty issuer)",
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            subject_alt_names=_san_texts(cert),
        )

    def __str__(self) -> str:
        names = ", ".join(self.subject_alt_names) or "no subjectAltName"
        return (
            f"subject '{self.subject}', issuer '{self.issuer}', valid "
            f"{_utc(self.not_before)} to {_utc(self.not_after)}, {names}"
        )


@dataclass(eq=False)
class TlsHandshakeRecord:
    """Everything one TLS connection revealed, filled in while the handshake runs.

    ``certificate_problems`` lists every verification problem found, in the order OpenSSL
    reported them (in insecure mode these are what *would* have failed);
    ``verification_failure`` is the one that aborted the handshake (never set in insecure
    mode). :attr:`failure` is the best explanation available so far.
    """

    role: Literal["client", "server"]
    server_name: str | None = None
    trust: str | None = None
    insecure: bool = False
    sni: str | None = None
    notes: list[str] = field(default_factory=list)
    peer_certificate: CertificateSummary | None = None
    certificate_problems: list[TlsFailure] = field(default_factory=list)
    verification_failure: TlsFailure | None = None
    alerts: list[TlsAlert] = field(default_factory=list)
    handshake_done: bool = False
    protocol_version: str | None = None
    cipher: str | None = None
    alpn: str | None = None
    identity_checked: bool = False
    #: The error that ended the connection, as given to :func:`tls_failure_from`.
    error: str | None = None
    _classified: TlsFailure | None = field(default=None, repr=False)
    _versions: str = field(default="", repr=False)

    @property
    def failure(self) -> TlsFailure | None:
        """Why this connection's TLS failed, or ``None`` if it did not (yet)."""
        if self.verification_failure is not None:
            return self.verification_failure
        if self._classified is not None:
            return self._classified
        if not self.handshake_done and any(a.fatal for a in self.alerts):
            return _classify(None, self)
        return None

    @property
    def would_have_failed(self) -> TlsFailure | None:
        """In insecure mode, the first problem a verifying client would have stopped on."""
        if self.insecure and self.certificate_problems:
            return self.certificate_problems[0]
        return None

    def _add_problem(self, problem: TlsFailure) -> None:
        if problem not in self.certificate_problems:
            self.certificate_problems.append(problem)


# -- Certificate verification -------------------------------------------------------------------

X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT = 2
X509_V_ERR_CERT_NOT_YET_VALID = 9
X509_V_ERR_CERT_HAS_EXPIRED = 10
X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT = 18
X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN = 19
X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21

_UNTRUSTED_ISSUER_ERRORS = frozenset(
    {
        X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
        X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
        X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE,
    }
)

#: Names of the other verify errors a misconfigured server produces (x509_vfy.h).
_VERIFY_ERROR_NAMES: Mapping[int, str] = {
    4: "unable to decrypt certificate's signature",
    6: "unable to decode issuer public key",
    7: "certificate signature failure",
    13: "format error in certificate's notBefore field",
    14: "format error in certificate's notAfter field",
    22: "certificate chain too long",
    23: "certificate revoked",
    24: "invalid CA certificate",
    25: "path length constraint exceeded",
    26: "unsupported certificate purpose",
    27: "certificate not trusted",
    28: "certificate rejected",
    32: "key usage does not include certificate signing",
    62: "hostname mismatch",
    64: "IP address mismatch",
}


def certificate_failure(
    error_number: int,
    cert: x509.Certificate,
    depth: int,
    server_name: str,
    trust: str = "the configured trust store",
) -> TlsFailure:
    """Explain one OpenSSL verify error (*error_number* at *depth*, *cert* being the
    certificate it concerns) for a connection to *server_name*."""
    leaf = depth == 0
    who = f"certificate for {server_name}" if leaf else (
        f"CA certificate '{_subject(cert)}' (depth {depth}) in the chain for {server_name}"
    )
    if error_number == X509_V_ERR_CERT_HAS_EXPIRED:
        return TlsFailure("expired", f"{who} expired {_utc(cert.not_valid_after_utc)}")
    if error_number == X509_V_ERR_CERT_NOT_YET_VALID:
        return TlsFailure(
            "not-yet-valid", f"{who} is not valid before {_utc(cert.not_valid_before_utc)}"
        )
    if error_number == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        return TlsFailure(
            "self-signed",
            f"{who} is self-signed ('{_subject(cert)}') and not in the trust store ({trust})",
        )
    if error_number == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return TlsFailure(
            "untrusted-ca",
            f"the chain for {server_name} ends at the self-signed CA '{_subject(cert)}', "
            f"which is not in the trust store ({trust})",
        )
    if error_number in _UNTRUSTED_ISSUER_ERRORS:
        return TlsFailure(
            "untrusted-ca",
            f"{who} is issued by '{cert.issuer.rfc4514_string()}', which is not in the "
            f"trust store ({trust}) and was not sent by the server",
        )
    name = _VERIFY_ERROR_NAMES.get(error_number, "see OpenSSL's X509_V_ERR list")
    return TlsFailure(
        "handshake", f"{who} rejected: X509 verify error {error_number} ({name})"
    )


_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _normalise_host(server_name: str) -> tuple[str, _Address | None]:
    """``"[::1]"`` → ``("::1", IPv6Address)``; ``"Example.COM."`` → ``("example.com", None)``."""
    text = server_name.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text:
        raise TlsConfigError("server name is empty")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        return str(address), address
    try:
        ascii_name = idna.encode(text.rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise TlsConfigError(f"server name {server_name!r} is not a host name: {exc}") from None
    return ascii_name.lower(), None


def check_server_identity(
    cert: x509.Certificate, server_name: str, *, allow_wildcards: bool = False
) -> TlsFailure | None:
    """Is *cert* a certificate for the SIP domain (or IP literal) *server_name*?

    RFC 5922 §7: if the subjectAltName holds ``sip:`` URIs, only those count (URI-ID);
    otherwise the DNS names (DNS-ID); an IP literal needs an IP SAN (IP-ID, as RFC 2818).
    Matching is exact: RFC 5922 §7.2 forbids wildcards, so ``*.example.com`` does not match
    ``sip.example.com`` unless *allow_wildcards* (what many products offer as an override).
    The subject CN is not used (RFC 5922 makes it a MAY only without any SAN).
    Returns ``None`` on a match, else a ``"hostname-mismatch"`` failure.
    """
    host, address = _normalise_host(server_name)
    sans = _san_texts(cert)
    names = ", ".join(sans) if sans else "no subjectAltName at all"

    def mismatch(why: str) -> TlsFailure:
        return TlsFailure("hostname-mismatch", f"certificate presented for {host} {why}")

    try:
        patterns = extract_patterns(cert)
    except (CertificateError, ValueError) as exc:
        return mismatch(f"has a subjectAltName that cannot be parsed ({exc}): {names}")
    if not patterns:
        return mismatch(
            f"has no subjectAltName (subject '{_subject(cert)}'; the CN is not used)"
        )

    if address is not None:
        service_id: Any = IPAddress_ID(host)
        rule = "an IP address SAN equal to it is needed (IP-ID)"
    elif any(isinstance(p, URIPattern) and p.protocol_pattern == b"sip" for p in patterns):
        service_id = URI_ID(f"sip:{host}")
        rule = (
            "a sip: URI SAN equal to it is needed: RFC 5922 §7.1 ignores DNS SANs when "
            "sip: URIs are present"
        )
    else:
        service_id = DNS_ID(host)
        rule = "a DNS SAN equal to it is needed (DNS-ID)"
    try:
        matches = verify_service_identity(patterns, obligatory_ids=[service_id], optional_ids=[])
    except VerificationError:
        return mismatch(f"is for {names}, not {host}; {rule}")
    if allow_wildcards or address is not None:
        return None
    exact = [m for m in matches if b"*" not in _pattern_bytes(m.cert_pattern)]
    if exact:
        return None
    return mismatch(
        f"matches it only by wildcard ({names}); RFC 5922 §7.2 forbids wildcard matching for "
        "SIP domains (allow_wildcards=True accepts it, as many SIP products can be told to)"
    )


def _pattern_bytes(pattern: object) -> bytes:
    if isinstance(pattern, DNSPattern):
        return pattern.pattern
    if isinstance(pattern, URIPattern):
        return pattern.dns_pattern.pattern
    return b""


# -- Classifying a failed handshake -----------------------------------------------------------

_VERSION_REASONS = (
    "alert protocol version",
    "unsupported protocol",
    "no protocols available",
    "version too low",
    "tlsv1 alert protocol version",
)
_NOT_TLS_REASONS = (
    "wrong version number",
    "packet length too long",
    "http request",
    "record layer failure",
)


def _ssl_reasons(exc: BaseException) -> list[str]:
    reasons: list[str] = []
    if isinstance(exc, SSL.Error) and exc.args and isinstance(exc.args[0], list):
        for entry in exc.args[0]:
            if isinstance(entry, tuple) and entry:
                reasons.append(str(entry[-1]))
    if not reasons and str(exc):
        reasons.append(str(exc))
    return reasons


def _classify(exc: BaseException | None, record: TlsHandshakeRecord | None) -> TlsFailure | None:
    role = record.role if record is not None else "client"
    peer = "server" if role == "client" else "client"
    versions = record._versions if record is not None else ""
    alerts = record.alerts if record is not None else []
    received = [a for a in alerts if a.fatal and not a.sent]
    sent = [a for a in alerts if a.fatal and a.sent]
    reasons = _ssl_reasons(exc) if exc is not None else []
    said = "; ".join(reasons)
    evidence = ", ".join(str(a) for a in alerts if a.fatal)
    evidence_text = f" ({evidence})" if evidence else ""

    if isinstance(exc, VerificationError | CertificateError):
        return TlsFailure("hostname-mismatch", f"certificate does not match: {exc}")

    version_alert_in = any(a.code == _ALERT_PROTOCOL_VERSION for a in received)
    version_alert_out = any(a.code == _ALERT_PROTOCOL_VERSION for a in sent)
    version_reason = any(r in text for text in reasons for r in _VERSION_REASONS)
    not_tls = any(r in text for text in reasons for r in _NOT_TLS_REASONS)
    if not not_tls and (version_alert_in or version_alert_out or version_reason):
        ours = f"this {role} accepts {versions}" if versions else f"this {role}'s range"
        if role == "client" and (version_alert_in or "alert protocol version" in said):
            detail = (
                f"the server refused every TLS version offered ({ours}): "
                "it answered protocol_version"
            )
            if versions.endswith("or newer"):
                detail += "; it probably speaks only older versions such as TLS 1.0/1.1"
        elif role == "client":
            detail = f"the server chose a TLS version outside the client's range ({ours})"
        else:
            detail = f"the client offered no TLS version this server accepts ({ours})"
        return TlsFailure("protocol-version", detail + (f"; OpenSSL: {said}" if said else ""))

    if role == "server" and received:
        alert = received[0]
        if alert.code == 45:
            return TlsFailure(
                "expired", f"the client rejected our certificate as expired ({alert})"
            )
        if alert.code == 48:
            return TlsFailure(
                "untrusted-ca", f"the client does not trust our certificate's issuer ({alert})"
            )
        return TlsFailure("handshake", f"the client aborted the handshake ({alert})")

    if not_tls and role == "client":
        return TlsFailure(
            "handshake",
            f"the server's answer is not TLS ({said}): is the port plain TCP/UDP SIP "
            "rather than TLS?",
        )
    if reasons and isinstance(exc, SSL.Error):
        return TlsFailure("handshake", f"TLS handshake failed: {said}{evidence_text}")
    if received:
        return TlsFailure("handshake", f"the {peer} aborted the handshake ({received[0]})")
    if sent:
        return TlsFailure("handshake", f"this {role} aborted the handshake ({sent[0]})")
    if exc is not None and record is not None and not record.handshake_done:
        what = exc.__class__.__name__
        text = str(exc) or what
        if isinstance(exc, ConnectionClosed):
            return TlsFailure(
                "handshake",
                f"the connection closed during the TLS handshake, before the {peer} sent any "
                f"TLS alert ({text})",
            )
        return TlsFailure("handshake", f"the TLS handshake did not complete: {text}")
    return None


def tls_failure_from(
    reason: Failure | BaseException,
    creator: ClientTlsCreator | ServerTlsCreator | None = None,
    transport: object = None,
) -> TlsFailure | None:
    """Why did this TLS connection fail? ``None`` if it was not a TLS failure (for example
    a connection lost after a successful handshake).

    *reason* is what ``connectionLost`` received (or the exception). With *creator* and
    *transport* (the ``TLSMemoryBIOProtocol``, i.e. the wrapped protocol's
    ``self.transport``, or its ``getHandle()``), the per-connection record is used: the
    verification error OpenSSL reported, the alerts exchanged, and the reason is stored in
    it. With a creator but no transport, the creator's last connection is assumed.
    """
    exc = reason.value if isinstance(reason, Failure) else reason
    record: TlsHandshakeRecord | None = None
    if creator is not None:
        record = creator.record_for(transport) if transport is not None else creator.last_record
    if record is not None:
        if record.error is None:
            record.error = f"{exc.__class__.__name__}: {exc}"
        if record.verification_failure is not None:
            return record.verification_failure
        if record._classified is not None:
            return record._classified
        if record.handshake_done and not isinstance(exc, SSL.Error):
            return None
    if record is None and not isinstance(exc, SSL.Error | VerificationError | CertificateError):
        return None
    failure = _classify(exc, record)
    if record is not None:
        record._classified = failure
    return failure


# -- Client ---------------------------------------------------------------------------------


class _Records:
    """Per-connection records, found by the TLSMemoryBIOProtocol or the SSL.Connection."""

    def __init__(self) -> None:
        self._by_key: weakref.WeakKeyDictionary[object, TlsHandshakeRecord] = (
            weakref.WeakKeyDictionary()
        )
        self.last: TlsHandshakeRecord | None = None

    def add(self, record: TlsHandshakeRecord, *keys: object) -> None:
        for key in keys:
            if key is not None:
                self._by_key[key] = record
        self.last = record

    def get(self, key: object) -> TlsHandshakeRecord | None:
        try:
            return self._by_key.get(key)
        except TypeError:  # not weak-referenceable: cannot be one of ours
            return None


def _handshake_done(connection: SSL.Connection, record: TlsHandshakeRecord) -> None:
    record.handshake_done = True
    record.protocol_version = connection.get_protocol_version_name()
    record.cipher = connection.get_cipher_name()
    alpn = connection.get_alpn_proto_negotiated()
    record.alpn = alpn.decode("ascii", "replace") if alpn else None


def _info_callback(record: TlsHandshakeRecord, on_done: Any) -> Any:
    def callback(connection: SSL.Connection, where: int, ret: int) -> None:
        try:
            if where & SSL.SSL_CB_ALERT:
                sent = bool(where & SSL.SSL_CB_WRITE)
                record.alerts.append(TlsAlert(level=(ret >> 8) & 0xFF, code=ret & 0xFF, sent=sent))
            if where & SSL.SSL_CB_HANDSHAKE_DONE and not record.handshake_done:
                _handshake_done(connection, record)
                on_done(connection, record)
        except Exception:  # boundary: called from C; an escape would be printed and lost
            _log.failure("recording TLS handshake state")

    return callback


@implementer(IOpenSSLClientConnectionCreator)
class _KeepsRecords:
    """What both creators answer about their handshakes (``self._records``)."""

    _records: _Records

    @property
    def last_record(self) -> TlsHandshakeRecord | None:
        return self._records.last

    @property
    def last_failure(self) -> TlsFailure | None:
        """Why the most recent connection failed (``None``: it did not, or not yet)."""
        return None if self._records.last is None else self._records.last.failure

    def record_for(self, transport_or_connection: object) -> TlsHandshakeRecord | None:
        """The record of the connection behind a TLSMemoryBIOProtocol or SSL.Connection."""
        return self._records.get(transport_or_connection)


class ClientTlsCreator(_KeepsRecords):
    """An ``IOpenSSLClientConnectionCreator`` for one SIP domain; see :func:`client_tls_options`.

    One ``SSL.Context`` is shared by all connections; each connection gets its own
    verify/info callbacks and :class:`TlsHandshakeRecord`.
    """

    def __init__(
        self,
        server_name: str,
        trust: TrustConfig,
        *,
        min_version: str = "TLSv1.2",
        max_version: str | None = None,
        keylog: KeyLog | None = None,
        alpn: Sequence[bytes | str] | None = None,
        allow_wildcards: bool = False,
    ) -> None:
        self.server_name, self._address = _normalise_host(server_name)
        self.trust = trust
        self.allow_wildcards = allow_wildcards
        low, high, self.versions = _version_range(min_version, max_version)
        self._context, notes = _new_context(low, high, keylog)
        trust.load_into(self._context)
        if alpn:
            self._context.set_alpn_protos([_alpn_bytes(p) for p in alpn])
        if self._address is None:
            self.sni: str | None = self.server_name
        else:
            self.sni = None
            notes.insert(
                0,
                f"SNI not sent: {self.server_name} is an IP literal (RFC 6066 §3 allows only "
                "DNS host names in server_name)",
            )
        if not trust.verify:
            notes.append(
                "insecure: certificate verification problems are recorded but do not stop "
                f"the handshake (diagnosed against {trust.describe()})"
            )
        self.notes: tuple[str, ...] = tuple(notes)
        self._records = _Records()
        self._trust_text = trust.describe()
        self._anchors_text = trust.describe_anchors()

    def __repr__(self) -> str:
        return f"ClientTlsCreator({self.server_name!r}, trust={self._trust_text!r})"

    def clientConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:  # noqa: N802
        record = TlsHandshakeRecord(
            role="client",
            server_name=self.server_name,
            trust=self._trust_text,
            insecure=not self.trust.verify,
            sni=self.sni,
            notes=list(self.notes),
            _versions=self.versions,
        )
        connection = SSL.Connection(self._context, None)
        if self.sni is not None:
            connection.set_tlsext_host_name(self.sni.encode("ascii"))
        connection.set_verify(
            SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, self._verifier(record)
        )
        connection.set_info_callback(_info_callback(record, self._on_handshake_done))
        self._records.add(record, tlsProtocol, connection)
        return connection

    def _verifier(self, record: TlsHandshakeRecord) -> Any:
        def callback(
            connection: SSL.Connection, cert: crypto.X509, error: int, depth: int, ok: int
        ) -> bool:
            try:
                return self._verify(record, cert.to_cryptography(), error, depth, bool(ok))
            except Exception as exc:  # boundary: a raise would escape do_handshake untyped
                _log.failure("verifying the TLS certificate")
                record.verification_failure = TlsFailure(
                    "handshake", f"internal error while verifying the certificate: {exc!r}"
                )
                return False

        return callback

    def _verify(
        self, record: TlsHandshakeRecord, cert: x509.Certificate, error: int, depth: int, ok: bool
    ) -> bool:
        if depth == 0 and record.peer_certificate is None:
            record.peer_certificate = CertificateSummary.from_certificate(cert)
        if not ok:
            problem = certificate_failure(error, cert, depth, self.server_name, self._anchors_text)
            return self._problem(record, problem)
        if depth == 0 and not record.identity_checked:
            return self._check_identity(record, cert)
        return True

    def _check_identity(self, record: TlsHandshakeRecord, cert: x509.Certificate) -> bool:
        record.identity_checked = True
        problem = check_server_identity(
            cert, self.server_name, allow_wildcards=self.allow_wildcards
        )
        return True if problem is None else self._problem(record, problem)

    def _problem(self, record: TlsHandshakeRecord, problem: TlsFailure) -> bool:
        record._add_problem(problem)
        if not self.trust.verify:
            return True
        if record.verification_failure is None:
            record.verification_failure = problem
        return False

    def _on_handshake_done(self, connection: SSL.Connection, record: TlsHandshakeRecord) -> None:
        # OpenSSL calls the verify callback for the leaf with ok=1 whenever verification
        # succeeds, so this only matters where it could not: insecure mode with a chain
        # OpenSSL gave up on early. Record, never abort, here.
        if record.identity_checked:
            return
        cert = connection.get_peer_certificate(as_cryptography=True)
        if cert is None:
            return
        if record.peer_certificate is None:
            record.peer_certificate = CertificateSummary.from_certificate(cert)
        record.identity_checked = True
        problem = check_server_identity(
            cert, self.server_name, allow_wildcards=self.allow_wildcards
        )
        if problem is not None:
            record._add_problem(problem)


def _alpn_bytes(protocol: bytes | str) -> bytes:
    return protocol.encode("ascii") if isinstance(protocol, str) else bytes(protocol)


def client_tls_options(
    server_name: str,
    trust: TrustConfig,
    *,
    min_version: str = "TLSv1.2",
    max_version: str | None = None,
    keylog: KeyLog | None = None,
    alpn: Sequence[bytes | str] | None = None,
    allow_wildcards: bool = False,
) -> ClientTlsCreator:
    """Client TLS for the SIP domain *server_name* (a DNS name or an IP literal, as in the
    URI: ``example.com``, ``127.0.0.7``, ``[::1]``).

    Usable wherever Twisted takes an ``IOpenSSLClientConnectionCreator``: ``connectSSL``,
    ``wrapClientTLS``, ``TLSMemoryBIOFactory(creator, True, factory)``. Raises
    :class:`TlsConfigError` for unusable settings (unreadable CA file, bad version name).
    """
    return ClientTlsCreator(
        server_name,
        trust,
        min_version=min_version,
        max_version=max_version,
        keylog=keylog,
        alpn=alpn,
        allow_wildcards=allow_wildcards,
    )


# -- Server ---------------------------------------------------------------------------------


class ServerCredential(Protocol):
    """What a server presents: anything with these two attributes, e.g.
    ``servers.certs.IssuedCertificate`` or :class:`PemCredential`."""

    @property
    def cert_chain_pem(self) -> bytes: ...

    @property
    def private_key_pem(self) -> bytes: ...


@dataclass(frozen=True)
class PemCredential:
    """A certificate chain (leaf first) and its unencrypted private key, in PEM."""

    cert_chain_pem: bytes
    private_key_pem: bytes = field(repr=False)

    @classmethod
    def from_files(
        cls, certificate: str | os.PathLike[str], private_key: str | os.PathLike[str] | None = None
    ) -> PemCredential:
        """Read PEM files; *private_key* may be omitted when *certificate* holds both."""
        try:
            chain = Path(certificate).read_bytes()
            key = chain if private_key is None else Path(private_key).read_bytes()
        except OSError as exc:
            raise TlsConfigError(f"{exc.filename}: {exc.strerror}") from None
        return cls(cert_chain_pem=chain, private_key_pem=key)


def _load_credential(credential: ServerCredential) -> tuple[list[x509.Certificate], Any]:
    try:
        chain = list(x509.load_pem_x509_certificates(credential.cert_chain_pem))
    except ValueError:
        raise TlsConfigError("server certificate: no PEM certificate found") from None
    try:
        key = serialization.load_pem_private_key(credential.private_key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise TlsConfigError(f"server private key: cannot load it ({exc})") from None
    return chain, key


@implementer(IOpenSSLServerConnectionCreator, IOpenSSLContextFactory)
class ServerTlsCreator(_KeepsRecords):
    """An ``IOpenSSLServerConnectionCreator`` (and old-style context factory, for
    ``listenSSL`` and endpoints); see :func:`server_tls_options`. Records, per connection,
    the alerts, SNI and version, so a server can log why a client gave up."""

    def __init__(
        self,
        credential: ServerCredential,
        *,
        min_version: str = "TLSv1.2",
        max_version: str | None = None,
        keylog: KeyLog | None = None,
    ) -> None:
        low, high, self.versions = _version_range(min_version, max_version)
        chain, key = _load_credential(credential)
        self._context, notes = _new_context(low, high, keylog)
        self._context.use_certificate(chain[0])
        for extra in chain[1:]:
            self._context.add_extra_chain_cert(extra)
        try:
            self._context.use_privatekey(key)
            self._context.check_privatekey()
        except SSL.Error:
            raise TlsConfigError("server certificate and private key do not match") from None
        self.certificate = CertificateSummary.from_certificate(chain[0])
        self.notes: tuple[str, ...] = tuple(notes)
        self._records = _Records()

    def __repr__(self) -> str:
        return f"ServerTlsCreator({self.certificate.subject!r}, {self.versions})"

    def getContext(self) -> SSL.Context:  # noqa: N802
        return self._context

    def serverConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:  # noqa: N802
        record = TlsHandshakeRecord(role="server", notes=list(self.notes), _versions=self.versions)
        connection = SSL.Connection(self._context, None)
        connection.set_info_callback(_info_callback(record, _server_handshake_done))
        self._records.add(record, tlsProtocol, connection)
        return connection


def _server_handshake_done(connection: SSL.Connection, record: TlsHandshakeRecord) -> None:
    name = connection.get_servername()
    record.sni = name.decode("ascii", "replace") if name else None


def server_tls_options(
    certificate: ServerCredential,
    *,
    min_version: str = "TLSv1.2",
    max_version: str | None = None,
    keylog: KeyLog | None = None,
) -> ServerTlsCreator:
    """Server TLS presenting *certificate* (``cert_chain_pem`` + ``private_key_pem``).

    ``min_version="TLSv1", max_version="TLSv1.1"`` makes a legacy-only server; OpenSSL's
    security level is then lowered to 0 so those versions can be negotiated at all.
    No client certificate is requested.
    """
    return ServerTlsCreator(
        certificate, min_version=min_version, max_version=max_version, keylog=keylog
    )
