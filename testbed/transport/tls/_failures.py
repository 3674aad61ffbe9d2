"""Why a TLS handshake failed, in a support engineer's words.

Every verification problem becomes a :class:`TlsFailure` with one of
:data:`TLS_FAILURE_KINDS`, taken from OpenSSL's verify error numbers, the server
identity check, the TLS alerts exchanged (RFC 8446 §6, RFC 5246 §7.2) and the handshake
error. A :class:`TlsHandshakeRecord` collects, per connection, what the handshake
revealed; :func:`tls_failure_from` turns a lost connection into the failure that
explains it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, get_args

from cryptography import x509
from OpenSSL import SSL
from service_identity import CertificateError, VerificationError
from twisted.internet.error import ConnectionClosed
from twisted.python.failure import Failure

from ._certificates import CertificateSummary, ca_issuers_urls, subject_text, utc_text

TlsFailureKind = Literal[
    "expired",
    "not-yet-valid",
    "self-signed",
    "untrusted-ca",
    "missing-intermediate",
    "hostname-mismatch",
    "cn-only",
    "wildcard-mismatch",
    "ip-address",
    "protocol-version",
    "handshake",
]
TLS_FAILURE_KINDS: tuple[TlsFailureKind, ...] = get_args(TlsFailureKind)


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
_ALERT_BAD_CERTIFICATE = 42
_ALERT_CERTIFICATE_UNKNOWN = 46


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
    #: How many certificates the peer sent (its own first, then any intermediates).
    peer_chain_length: int | None = None
    #: The error that ended the connection, as given to :func:`tls_failure_from`.
    error: str | None = None
    #: The versions this end accepts, in words ("TLSv1.2 or newer"), for explanations.
    versions: str = field(default="", repr=False)
    _classified: TlsFailure | None = field(default=None, repr=False)

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

    def add_problem(self, problem: TlsFailure) -> None:
        """Note a verification problem (once, in the order found)."""
        if problem not in self.certificate_problems:
            self.certificate_problems.append(problem)


# -- Certificate verification: OpenSSL's verify errors (x509_vfy.h) ------------------------

X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT = 2
X509_V_ERR_CERT_NOT_YET_VALID = 9
X509_V_ERR_CERT_HAS_EXPIRED = 10
X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT = 18
X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN = 19
X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21
X509_V_ERR_HOSTNAME_MISMATCH = 62
X509_V_ERR_IP_ADDRESS_MISMATCH = 64

#: What OpenSSL's own name check reports for the leaf (depth 0) when told the name to expect;
#: OpenSSL answers a refusal with one of them with the alert bad_certificate.
NAME_MISMATCH_ERRORS = frozenset({X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH})

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
    chain: Sequence[x509.Certificate] = (),
) -> TlsFailure:
    """Explain one OpenSSL verify error (*error_number* at *depth*, *cert* being the
    certificate it concerns) for a connection to *server_name*; *chain* is what the server
    sent (its own certificate first), when known."""
    leaf = depth == 0
    who = f"certificate for {server_name}" if leaf else (
        f"CA certificate '{subject_text(cert)}' (depth {depth}) in the chain for {server_name}"
    )
    if error_number == X509_V_ERR_CERT_HAS_EXPIRED:
        return TlsFailure("expired", f"{who} expired {utc_text(cert.not_valid_after_utc)}")
    if error_number == X509_V_ERR_CERT_NOT_YET_VALID:
        return TlsFailure(
            "not-yet-valid", f"{who} is not valid before {utc_text(cert.not_valid_before_utc)}"
        )
    if error_number == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        return TlsFailure(
            "self-signed",
            f"{who} is self-signed ('{subject_text(cert)}') and not in the trust store ({trust})",
        )
    if error_number == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return TlsFailure(
            "untrusted-ca",
            f"the chain for {server_name} ends at the self-signed CA '{subject_text(cert)}', "
            f"which is not in the trust store ({trust})",
        )
    if error_number in _UNTRUSTED_ISSUER_ERRORS:
        return _issuer_not_found(cert, who, trust, chain)
    name = _VERIFY_ERROR_NAMES.get(error_number, "see OpenSSL's X509_V_ERR list")
    return TlsFailure(
        "handshake", f"{who} rejected: X509 verify error {error_number} ({name})"
    )


def _chain_text(chain: Sequence[x509.Certificate]) -> str:
    if len(chain) == 1:
        return "the server sent 1 certificate, its own"
    return f"the server sent {len(chain)} certificates: " + ", ".join(
        f"'{subject_text(c)}'" for c in chain
    )


def _issuer_not_found(
    cert: x509.Certificate, who: str, trust: str, chain: Sequence[x509.Certificate]
) -> TlsFailure:
    """The issuer of *cert* is neither in the trust store nor among what the server sent.

    Either the server left out an intermediate CA or the client does not trust the CA.
    The certificate tells which when it names where its issuer is published (AIA caIssuers,
    RFC 5280 §4.2.2.1): CAs publish their intermediates so, and sign no server certificate
    with a root key (CA/Browser Forum Baseline Requirements §6.1.7).
    """
    issuer = cert.issuer.rfc4514_string() or "(empty issuer)"
    sent = f" ({_chain_text(chain)})" if chain else ""
    urls = ca_issuers_urls(cert)
    if urls and not any(c.subject == cert.issuer for c in chain):
        return TlsFailure(
            "missing-intermediate",
            f"{who} is issued by the intermediate CA '{issuer}', which the server did not "
            f"send{sent} and the trust store ({trust}) does not hold. The certificate names "
            f"where that intermediate is published ({urls[0]}): browsers and Windows fetch it "
            "and hide the mistake, OpenSSL- and mbedTLS-based phones and SBCs do not. The "
            "server must send its certificate followed by the intermediate (RFC 8446 §4.4.2, "
            "RFC 5246 §7.4.2)",
        )
    return TlsFailure(
        "untrusted-ca",
        f"{who} is issued by '{issuer}', which is not in the trust store ({trust}) and was "
        f"not sent by the server{sent}",
    )


# -- Classifying a failed handshake ---------------------------------------------------------

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
    versions = record.versions if record is not None else ""
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
        if alert.code == _ALERT_BAD_CERTIFICATE:
            return TlsFailure(
                "handshake",
                f"the client rejected our certificate ({alert}): OpenSSL-based clients send it "
                "when the certificate does not name the server they asked for, or is not "
                "valid yet",
            )
        if alert.code == _ALERT_CERTIFICATE_UNKNOWN:
            return TlsFailure(
                "handshake", f"the client rejected our certificate for another reason ({alert})"
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


class HandshakeRecords(Protocol):
    """What :func:`tls_failure_from` asks a creator: the record of a connection."""

    @property
    def last_record(self) -> TlsHandshakeRecord | None: ...

    def record_for(self, transport_or_connection: object) -> TlsHandshakeRecord | None: ...


def tls_failure_from(
    reason: Failure | BaseException,
    creator: HandshakeRecords | None = None,
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
