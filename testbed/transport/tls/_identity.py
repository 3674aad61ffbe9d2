"""Is a certificate the SIP domain's? The server identity check of RFC 5922 §7.

The identity is the *SIP domain* (the host of the URI the user asked for, not an SRV
target), matched with ``service_identity``: ``sip:`` URI SANs win over DNS SANs, an IP
literal needs an IP SAN, and wildcards do not match unless allowed. A refusal names the
way the certificate went wrong: a name in the CN only, IP addresses only, a wildcard, or
simply another name.
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
    IPAddressPattern,
    URIPattern,
    verify_service_identity,
)

from ._certificates import TlsConfigError, common_names, names_text, san_texts, subject_text
from ._failures import TlsFailure, TlsFailureKind

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
    ``sip.example.com`` unless *allow_wildcards*, which matches as RFC 6125 §6.4.3 does
    (one whole left-most label), what many products offer as an override.
    The subject CN is never used: RFC 5922 §7.1 only allows it (MAY) when there is no
    subjectAltName at all, and RFC 6125 §6.4.4 only as a last resort.

    Returns ``None`` on a match, else a failure: ``"cn-only"`` (no subjectAltName, the CN
    names the host), ``"ip-address"`` (only IP address SANs while the host is a name),
    ``"wildcard-mismatch"`` (the host is named only through a wildcard that does not cover
    it) or ``"hostname-mismatch"`` (any other name).
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
        if address is None and host in _cn_hosts(cert):
            return _refused_name("cn-only", cert, host, _CN_ONLY)
        return mismatch(
            f"has no subjectAltName (subject '{subject_text(cert)}'; the CN is not used)"
        )
    if address is None and all(isinstance(p, IPAddressPattern) for p in patterns):
        return _refused_name("ip-address", cert, host, _IP_ADDRESS_ONLY)

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
        wildcards = [p for p in patterns if isinstance(p, DNSPattern) and b"*" in p.pattern]
        if isinstance(service_id, DNS_ID) and wildcards:
            return _refused_name("wildcard-mismatch", cert, host, _WILDCARD_UNCOVERED)
        return mismatch(f"is for {names}, not {host}; {rule}")
    if allow_wildcards or address is not None:
        return None
    exact = [m for m in matches if b"*" not in _pattern_bytes(m.cert_pattern)]
    if exact:
        return None
    return _refused_name("wildcard-mismatch", cert, host, _WILDCARD_FORBIDDEN)


def _cn_hosts(cert: x509.Certificate) -> set[str]:
    hosts = set()
    for name in common_names(cert):
        try:
            hosts.add(normalise_host(name)[0])
        except TlsConfigError:
            continue
    return hosts


_CN_ONLY = (
    "names it only in its subject CN, with no subjectAltName: SIP takes the identity from "
    "the subjectAltName (RFC 5922 §7.1 allows the CN only as a MAY, RFC 6125 §6.4.4 only as "
    "a last resort), so this client refuses it, as browsers do, though some phones accept it"
)
_IP_ADDRESS_ONLY = (
    "names the server only by IP address ({addresses}), no DNS name: a SIP client checks "
    "the SIP domain {host} against the certificate's DNS names and sip: URIs (RFC 5922 "
    "§7.1), and an IP address SAN matches only a client told to use that very address "
    "(sip:<address>)"
)
_WILDCARD_UNCOVERED = (
    "names it only through a wildcard that does not cover it: a wildcard stands for exactly "
    "one whole left-most label (RFC 6125 §6.4.3: *.example.com covers sip.example.com, "
    "neither example.com nor a.b.example.com), and SIP matches no wildcard at all (RFC 5922 "
    "§7.2)"
)
_WILDCARD_FORBIDDEN = (
    "matches it only by wildcard ({names}); RFC 5922 §7.2 forbids wildcard matching for SIP "
    "domains, though the web's rule (RFC 6125 §6.4.3) would accept it (allow_wildcards=True "
    "accepts it, as many SIP products can be told to)"
)


def _refused_name(kind: TlsFailureKind, cert: x509.Certificate, host: str, why: str) -> TlsFailure:
    """A name the certificate does not carry as SIP needs: why, the fix, the evidence."""
    addresses = ", ".join(t for t in san_texts(cert) if t.startswith("IP:"))
    names = ", ".join(san_texts(cert))
    reason = why.format(host=host, addresses=addresses, names=names)
    return TlsFailure(
        kind,
        f"certificate presented for {host} {reason}. Reissue it with subjectAltName "
        f"DNS:{host} (presented: {names_text(cert)})",
    )


def _pattern_bytes(pattern: object) -> bytes:
    if isinstance(pattern, DNSPattern):
        return pattern.pattern
    if isinstance(pattern, URIPattern):
        return pattern.dns_pattern.pattern
    return b""
