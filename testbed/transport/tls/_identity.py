"""Is a certificate the SIP domain's? The server identity check of RFC 5922 §7.

The identity is the *SIP domain* (the host of the URI the user asked for, not an SRV
target), matched with ``service_identity``: ``sip:`` URI SANs win over DNS SANs, an IP
literal needs an IP SAN, and wildcards do not match unless allowed.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import idna
from cryptography import x509
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

from ._certificates import TlsConfigError, san_texts, subject_text
from ._failures import TlsFailure

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def normalise_host(server_name: str) -> tuple[str, _Address | None]:
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
    host, address = normalise_host(server_name)
    sans = san_texts(cert)
    names = ", ".join(sans) if sans else "no subjectAltName at all"

    def mismatch(why: str) -> TlsFailure:
        return TlsFailure("hostname-mismatch", f"certificate presented for {host} {why}")

    try:
        patterns = extract_patterns(cert)
    except (CertificateError, ValueError) as exc:
        return mismatch(f"has a subjectAltName that cannot be parsed ({exc}): {names}")
    if not patterns:
        return mismatch(
            f"has no subjectAltName (subject '{subject_text(cert)}'; the CN is not used)"
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
