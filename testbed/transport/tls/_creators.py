"""Client and server TLS connection creators: contexts that verify as a SIP client should.

Client side (RFC 3261 §26.3.1 as updated by RFC 5922): TLS 1.2 minimum by default; SNI
sent for DNS names and *not* for IP literals (RFC 6066 §3), which is recorded in
:attr:`ClientTlsCreator.notes`; the chain verified against a :class:`TrustConfig` and the
server identity against the SIP domain (:func:`check_server_identity`); every problem
recorded per connection in a :class:`TlsHandshakeRecord`. Insecure mode verifies all the
same and records what *would* have failed, but lets the handshake proceed.

Server side: :func:`server_tls_options` builds a server connection creator from PEM, with
TLS 1.0/1.1-only servers possible (OpenSSL 3 needs ``@SECLEVEL=0`` for them, set here).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLContextFactory,
    IOpenSSLServerConnectionCreator,
)
from twisted.logger import Logger
from zope.interface import implementer

from ._certificates import CertificateSummary, TlsConfigError
from ._failures import (
    NAME_MISMATCH_ERRORS,
    TlsAlert,
    TlsFailure,
    TlsHandshakeRecord,
    certificate_failure,
)
from ._identity import check_server_identity, normalise_host
from ._keylog import KeyLog
from ._openssl_name import expect_server_name
from ._trust import TrustConfig

_log = Logger()


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


# -- Per-connection records, kept by both creators ------------------------------------------


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


# -- Client ---------------------------------------------------------------------------------


@implementer(IOpenSSLClientConnectionCreator)
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
        self.server_name, self._address = normalise_host(server_name)
        self.trust = trust
        self.allow_wildcards = allow_wildcards
        low, high, self.versions = _version_range(min_version, max_version)
        self._context, notes = _new_context(low, high, keylog)
        trust.load_into(self._context)
        unchecked = expect_server_name(
            self._context, self.server_name, self._address, allow_wildcards=allow_wildcards
        )
        if unchecked is not None:
            notes.append(unchecked)
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
            versions=self.versions,
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
        chain: list[x509.Certificate] = []  # what the server sent, read once

        def callback(
            connection: SSL.Connection, cert: crypto.X509, error: int, depth: int, ok: int
        ) -> bool:
            try:
                if record.peer_chain_length is None:
                    sent = connection.get_peer_cert_chain(as_cryptography=True)
                    record.peer_chain_length = None if sent is None else len(sent)
                    chain[:] = sent or []
                return self._verify(record, cert.to_cryptography(), error, depth, bool(ok), chain)
            except Exception as exc:  # boundary: a raise would escape do_handshake untyped
                _log.failure("verifying the TLS certificate")
                record.verification_failure = TlsFailure(
                    "handshake", f"internal error while verifying the certificate: {exc!r}"
                )
                return False

        return callback

    def _verify(
        self,
        record: TlsHandshakeRecord,
        cert: x509.Certificate,
        error: int,
        depth: int,
        ok: bool,
        chain: list[x509.Certificate],
    ) -> bool:
        if depth == 0 and record.peer_certificate is None:
            record.peer_certificate = CertificateSummary.from_certificate(cert)
        if not ok and depth == 0 and error in NAME_MISMATCH_ERRORS:
            # OpenSSL's own name check (see _openssl_name): RFC 5922 decides. Refusing keeps
            # OpenSSL's error, so the server gets bad_certificate, not internal_error.
            return self._check_identity(record, cert)
        if not ok:
            problem = certificate_failure(
                error, cert, depth, self.server_name, self._anchors_text, chain
            )
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
        record.add_problem(problem)
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
            record.add_problem(problem)


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
        record = TlsHandshakeRecord(role="server", notes=list(self.notes), versions=self.versions)
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
