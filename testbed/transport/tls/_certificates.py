"""Certificates as evidence: reading PEM/DER, and the summary a report shows.

Shared by the trust settings, the RFC 5922 identity check and the failure
classification; :class:`TlsConfigError` is the one error a user's TLS setting raises.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509


class TlsConfigError(ValueError):
    """A TLS setting the user gave cannot be used (unreadable CA file, bad version name...).

    The message is one line naming the setting, fit for the CLI."""


def load_certificates(data: bytes, origin: str) -> list[x509.Certificate]:
    """PEM (one or many certificates) or a single DER certificate."""
    try:
        return list(x509.load_pem_x509_certificates(data))
    except ValueError:
        pass
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise TlsConfigError(f"{origin}: no PEM or DER certificate found") from None


def subject_text(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def san_texts(cert: x509.Certificate) -> tuple[str, ...]:
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


def common_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The subject's CN values (a CN-ID, which SIP does not use for identity)."""
    return tuple(
        str(attribute.value)
        for attribute in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    )


def ca_issuers_urls(cert: x509.Certificate) -> tuple[str, ...]:
    """Where the certificate says its issuer can be downloaded (AIA caIssuers, RFC 5280
    §4.2.2.1); public CAs put it in every leaf they sign from an intermediate."""
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(
        str(entry.access_location.value)
        for entry in access
        if entry.access_method == x509.AuthorityInformationAccessOID.CA_ISSUERS
    )


def names_text(cert: x509.Certificate) -> str:
    """Subject, subjectAltName and issuer in one phrase, the evidence of a name problem."""
    sans = ", ".join(san_texts(cert)) or "no subjectAltName"
    return (
        f"subject '{subject_text(cert)}', {sans}, issuer "
        f"'{cert.issuer.rfc4514_string() or '(empty issuer)'}'"
    )


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
            subject=subject_text(cert),
            issuer=cert.issuer.rfc4514_string() or "(empty issuer)",
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            subject_alt_names=san_texts(cert),
        )

    def __str__(self) -> str:
        names = ", ".join(self.subject_alt_names) or "no subjectAltName"
        return (
            f"subject '{self.subject}', issuer '{self.issuer}', valid "
            f"{utc_text(self.not_before)} to {utc_text(self.not_after)}, {names}"
        )
