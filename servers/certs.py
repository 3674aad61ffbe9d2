"""Certificates for the mock infrastructure, generated per run.

A scenario world needs one trusted CA (its PEM is what the client is told to trust), a
second CA the client does *not* trust, and server certificates that are wrong in exactly
one way, so that a TLS client fails for one named reason:

    ===================== ===============================================================
    kind                   what the server presents
    ===================== ===============================================================
    valid                  leaf for the hostnames, signed by the trusted CA, valid around *now*
    expired                same, but notAfter is in the past
    not-yet-valid          same, but notBefore is in the future
    self-signed            a leaf signed by its own key (no CA at all)
    wrong-host             signed by the trusted CA, but its SAN names ``wrong.invalid`` only
    untrusted-ca           correct names and dates, signed by a CA the client does not trust
    cn-only                the name only in the subject CN: no subjectAltName at all
    missing-intermediate   a leaf signed by an intermediate CA under the trusted root, sent
                           without that intermediate (the chain the server sends is 1 long)
    wildcard-mismatch      SAN ``*.<name>`` only: a wildcard for the names *under* the SIP
                           domain, which covers neither the domain itself (RFC 6125 §6.4.3)
                           nor anything in SIP (RFC 5922 §7.2)
    ip-address             SAN holds only the server's IP address(es) (the IP literals among
                           the hostnames, else ``127.0.0.1``), no DNS name
    ===================== ===============================================================

Nothing is read from or written to disk unless asked: :meth:`IssuedCertificate.write`
puts PEM files in a directory the caller owns (a temp dir) for external peers such as
Kamailio, baresip or linphone. Keys are never encrypted: they are throw-away test keys.

Leaves are built here with ``cryptography`` (trustme provides the CAs) because trustme
cannot put ``sip:`` URIs in a subjectAltName (RFC 5922 §7.1) nor sign a leaf by itself.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import idna
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CERT_KINDS",
    "DEFAULT_ADDRESS",
    "INTERMEDIATE_URL",
    "WRONG_HOSTNAME",
    "CertKind",
    "CertificateAuthority",
    "CertificateFiles",
    "IssuedCertificate",
    "KeyType",
    "issue_server_certificate",
]

CertKind = Literal[
    "valid",
    "expired",
    "not-yet-valid",
    "self-signed",
    "wrong-host",
    "untrusted-ca",
    "cn-only",
    "missing-intermediate",
    "wildcard-mismatch",
    "ip-address",
]
#: Every kind, in a stable order, for the scenario schema and for parametrized tests.
CERT_KINDS: tuple[CertKind, ...] = get_args(CertKind)

KeyType = Literal["ecdsa", "rsa"]

#: The name a "wrong-host" certificate is issued for. ``.invalid`` never resolves (RFC 6761).
WRONG_HOSTNAME = "wrong.invalid"

#: The address an "ip-address" certificate names when *hostnames* hold none: loopback,
#: where the testbed's servers listen.
DEFAULT_ADDRESS = "127.0.0.1"

#: Where a "missing-intermediate" leaf says its issuer can be downloaded (Authority
#: Information Access, caIssuers: RFC 5280 §4.2.2.1), as every public CA's leaves do. Browsers
#: fetch it and hide the server's mistake; SIP clients do not. ``.invalid``: it never resolves.
INTERMEDIATE_URL = "http://pki.example.invalid/sip-testbed-intermediate.crt"

_DAY = dt.timedelta(days=1)

# (notBefore, notAfter) relative to *now*. The margins are whole days so that clock skew
# between the certificate factory and the verifying OpenSSL never flips an outcome.
_VALIDITY: dict[CertKind, tuple[dt.timedelta, dt.timedelta]] = {
    "valid": (-_DAY, 30 * _DAY),
    "expired": (-60 * _DAY, -_DAY),
    "not-yet-valid": (_DAY, 60 * _DAY),
    "self-signed": (-_DAY, 30 * _DAY),
    "wrong-host": (-_DAY, 30 * _DAY),
    "untrusted-ca": (-_DAY, 30 * _DAY),
    "cn-only": (-_DAY, 30 * _DAY),
    "missing-intermediate": (-_DAY, 30 * _DAY),
    "wildcard-mismatch": (-_DAY, 30 * _DAY),
    "ip-address": (-_DAY, 30 * _DAY),
}

_ORGANIZATION = "SIP transport testbed"

_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
"""The keys of :data:`KeyType`: what leaves and CAs are made with and sign with."""


def _generate_key(key_type: KeyType) -> _PrivateKey:
    if key_type == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"key_type must be 'ecdsa' or 'rsa', not {key_type!r}")


def _trustme_key_type(key_type: KeyType) -> trustme.KeyType:
    if key_type == "ecdsa":
        return trustme.KeyType.ECDSA
    if key_type == "rsa":
        return trustme.KeyType.RSA
    raise ValueError(f"key_type must be 'ecdsa' or 'rsa', not {key_type!r}")


def _general_name(hostname: str) -> x509.GeneralName:
    """A DNS name (``*.`` wildcard allowed) or an IP literal (``127.0.0.7``, ``::1``,
    ``[::1]``) as a SAN entry."""
    text = hostname.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return x509.IPAddress(ipaddress.ip_address(text))
    except ValueError:
        pass
    # A leading "*." makes a wildcard name, which RFC 5922 §7.2 says SIP must not match:
    # useful to show a client refusing (or, with an override, accepting) one.
    wildcard, rest = ("*.", text[2:]) if text.startswith("*.") else ("", text)
    try:
        alabel = idna.encode(rest.rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"not a host name or IP address: {hostname!r} ({exc})") from None
    return x509.DNSName(wildcard + alabel.lower())


def _san_text(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DNSName):
        return f"DNS:{name.value}"
    if isinstance(name, x509.IPAddress):
        return f"IP:{name.value}"
    if isinstance(name, x509.UniformResourceIdentifier):
        return f"URI:{name.value}"
    return f"{type(name).__name__}:{name.value}"


def _require_aware(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return now.astimezone(dt.UTC)


def _write(path: Path, data: bytes, *, secret: bool) -> Path:
    """Write *data* to *path*; secrets are created mode 0600 (and stay so if they existed)."""
    mode = 0o600 if secret else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    if secret:
        os.chmod(path, 0o600)
    return path


@dataclass(frozen=True)
class CertificateFiles:
    """Where :meth:`IssuedCertificate.write` put things, named for what tools ask for.

    * ``certificate``: leaf followed by any intermediates (Kamailio ``certificate``,
      linphone/baresip server side, Wireshark does not need it);
    * ``private_key``: the leaf key, PKCS#8, unencrypted, mode 0600;
    * ``combined``: key then chain in one file (baresip ``sip_certificate``);
    * ``ca``: the CA a client should trust (Kamailio ``ca_list``, linphone ``root_ca``,
      ``testbed register --ca``).
    """

    certificate: Path
    private_key: Path
    combined: Path
    ca: Path


@dataclass(frozen=True)
class IssuedCertificate:
    """A server certificate, its key and the CA the client is meant to trust.

    ``cert_chain_pem`` and ``private_key_pem`` are what a TLS server loads (this object
    can be passed straight to ``testbed.transport.server_tls_options``);
    ``ca_pem`` is what the client is given, and is the *trusted* CA even for the
    "self-signed" and "untrusted-ca" kinds: that is the point of those kinds.
    ``omitted_chain_pem`` holds what a correctly configured server would send after its
    leaf but this one does not: the intermediate CA of "missing-intermediate".
    """

    kind: CertKind
    #: The names the server is meant to serve (as asked), whatever the certificate says.
    hostnames: tuple[str, ...]
    #: What the certificate's subjectAltName actually holds, e.g. ``("DNS:wrong.invalid",)``.
    subject_alt_names: tuple[str, ...]
    cert_chain_pem: bytes
    private_key_pem: bytes
    ca_pem: bytes
    #: PEM of the certificate that signed the leaf (the leaf itself for "self-signed").
    issuer_pem: bytes
    not_before: dt.datetime
    not_after: dt.datetime
    #: The leaf, parsed.
    certificate: x509.Certificate = field(repr=False, compare=False)
    omitted_chain_pem: bytes = field(default=b"", repr=False)

    @property
    def leaf_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def private_key_and_chain_pem(self) -> bytes:
        return self.private_key_pem + self.cert_chain_pem

    @property
    def complete_chain_pem(self) -> bytes:
        """The chain a correct server sends: ``cert_chain_pem`` and what it omits."""
        return self.cert_chain_pem + self.omitted_chain_pem

    def write(self, directory: str | os.PathLike[str], stem: str = "server") -> CertificateFiles:
        """Write PEM files into *directory* (which must exist): ``{stem}.crt``,
        ``{stem}.key``, ``{stem}.pem`` and ``{stem}-ca.crt``. Returns their paths."""
        base = Path(directory)
        if not base.is_dir():
            raise NotADirectoryError(f"certificate directory does not exist: {base}")
        return CertificateFiles(
            certificate=_write(base / f"{stem}.crt", self.cert_chain_pem, secret=False),
            private_key=_write(base / f"{stem}.key", self.private_key_pem, secret=True),
            combined=_write(base / f"{stem}.pem", self.private_key_and_chain_pem, secret=True),
            ca=_write(base / f"{stem}-ca.crt", self.ca_pem, secret=False),
        )


class CertificateAuthority:
    """A throw-away CA (a ``trustme.CA``) that issues leaves with exact dates and SANs.

    The "untrusted" CA of a scenario is simply another instance whose PEM is never given
    to the client. With a *parent*, the CA is an intermediate signed by that parent (path
    length 0: it issues leaves only), see :meth:`issue_intermediate`.
    """

    def __init__(
        self,
        name: str = "SIP testbed CA",
        *,
        key_type: KeyType = "ecdsa",
        parent: CertificateAuthority | None = None,
    ) -> None:
        self.name = name
        self.parent = parent
        self._ca = trustme.CA(
            parent_cert=None if parent is None else parent.trustme_ca,
            path_length=9 if parent is None else 0,
            organization_name=_ORGANIZATION,
            organization_unit_name=name,
            key_type=_trustme_key_type(key_type),
        )
        self._certificate = x509.load_pem_x509_certificate(self._ca.cert_pem.bytes())
        key = serialization.load_pem_private_key(self._ca.private_key_pem.bytes(), password=None)
        assert isinstance(key, _PrivateKey), key  # trustme made it with our key_type
        self._signing_key: _PrivateKey = key

    def __repr__(self) -> str:
        return f"CertificateAuthority({self.name!r})"

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate in PEM: give this to a client that should trust the CA."""
        return self._ca.cert_pem.bytes()

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate

    @property
    def trustme_ca(self) -> trustme.CA:
        """The underlying ``trustme.CA``, e.g. for ``configure_trust(ssl_context)``."""
        return self._ca

    def write(self, directory: str | os.PathLike[str], filename: str = "ca.crt") -> Path:
        return _write(Path(directory) / filename, self.cert_pem, secret=False)

    def issue_intermediate(
        self, name: str = "SIP testbed intermediate CA", *, key_type: KeyType = "ecdsa"
    ) -> CertificateAuthority:
        """A new intermediate CA signed by this one (a client trusting this CA trusts the
        leaves it issues, provided the server sends the intermediate along)."""
        return CertificateAuthority(name, key_type=key_type, parent=self)

    def issue(
        self,
        hostnames: Sequence[str],
        *,
        not_before: dt.datetime,
        not_after: dt.datetime,
        sip_uri_sans: bool = False,
        key_type: KeyType = "ecdsa",
        kind: CertKind = "valid",
        ca_pem: bytes | None = None,
    ) -> IssuedCertificate:
        """Issue a leaf for *hostnames* (DNS names or IP literals) valid in the window.

        ``sip_uri_sans`` adds ``URI:sip:<name>`` for every DNS name (RFC 5922 §7.1).
        ``ca_pem`` is the CA the client should trust; by default this CA.
        """
        return _issue(
            hostnames,
            san_hostnames=hostnames,
            not_before=not_before,
            not_after=not_after,
            sip_uri_sans=sip_uri_sans,
            key_type=key_type,
            kind=kind,
            signer=self,
            ca_pem=self.cert_pem if ca_pem is None else ca_pem,
        )


def _issue(
    hostnames: Sequence[str],
    *,
    san_hostnames: Sequence[str] | None,
    not_before: dt.datetime,
    not_after: dt.datetime,
    sip_uri_sans: bool,
    key_type: KeyType,
    kind: CertKind,
    signer: CertificateAuthority | None,
    ca_pem: bytes,
    ca_issuers_url: str | None = None,
    omitted_chain_pem: bytes = b"",
) -> IssuedCertificate:
    """Build and sign one leaf; ``signer=None`` makes it self-signed.

    ``san_hostnames=None`` leaves the subjectAltName extension out: the first DNS name is
    then named only in the subject CN. ``ca_issuers_url`` adds an Authority Information
    Access extension naming where the issuer's certificate can be downloaded.
    """
    hostnames = _check_hostnames(hostnames)
    if san_hostnames is None:
        san_names: list[x509.GeneralName] = []
        entries = _san_entries(hostnames, sip_uri_sans=False)
        dns = [e for e in entries if isinstance(e, x509.DNSName)]
        common_name = _common_name(dns or entries)
    else:
        san_names = _san_entries(_check_hostnames(san_hostnames), sip_uri_sans=sip_uri_sans)
        common_name = _common_name(san_names)
    not_before = _require_aware(not_before)
    not_after = _require_aware(not_after)
    if not_after <= not_before:
        raise ValueError(f"not_after ({not_after}) must be later than not_before ({not_before})")

    key = _generate_key(key_type)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if san_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(san_names), critical=False)
    if ca_issuers_url is not None:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        x509.AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(ca_issuers_url),
                    )
                ]
            ),
            critical=False,
        )
    if signer is None:
        # Like `openssl req -x509` output: issuer == subject, no key usage restriction, so
        # OpenSSL recognises it as self-signed (X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, 18).
        builder = builder.issuer_name(subject)
        signing_key = key
    else:
        builder = (
            builder.issuer_name(signer.certificate.subject)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    signer._signing_key.public_key()
                ),
                critical=False,
            )
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=key_type == "rsa",
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        )
        signing_key = signer._signing_key
    certificate = builder.sign(private_key=signing_key, algorithm=hashes.SHA256())
    leaf_pem = certificate.public_bytes(serialization.Encoding.PEM)
    return IssuedCertificate(
        kind=kind,
        hostnames=tuple(hostnames),
        subject_alt_names=tuple(_san_text(name) for name in san_names),
        cert_chain_pem=leaf_pem,
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        ca_pem=ca_pem,
        issuer_pem=leaf_pem if signer is None else signer.cert_pem,
        not_before=not_before,
        not_after=not_after,
        certificate=certificate,
        omitted_chain_pem=omitted_chain_pem,
    )


def _check_hostnames(hostnames: Iterable[str]) -> list[str]:
    if isinstance(hostnames, str):
        raise TypeError("hostnames must be a sequence of names, not a single string")
    names = [str(name) for name in hostnames]
    if not names:
        raise ValueError("at least one hostname or IP address is required")
    return names


def _san_entries(hostnames: Sequence[str], *, sip_uri_sans: bool) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for hostname in hostnames:
        name = _general_name(hostname)
        if name not in entries:
            entries.append(name)
    if sip_uri_sans:
        # RFC 5922 §7.1: URI:sip:<domain>, no user part. Only for DNS names: an IP in a sip:
        # URI SAN is unusual and service_identity refuses to parse one.
        # RFC 5922 §7.2: no wildcard in a sip: URI either, so wildcard names get none.
        for name in list(entries):
            if isinstance(name, x509.DNSName) and not name.value.startswith("*."):
                entries.append(x509.UniformResourceIdentifier(f"sip:{name.value}"))
    return entries


def _common_name(san_names: Sequence[x509.GeneralName]) -> str:
    first = san_names[0]
    text = str(first.value)
    return text[:64]  # CN is limited to 64 characters (RFC 5280 ub-common-name)


def issue_server_certificate(
    kind: CertKind,
    hostnames: Sequence[str],
    ca: CertificateAuthority,
    untrusted_ca: CertificateAuthority | None = None,
    *,
    now: dt.datetime | None = None,
    sip_uri_sans: bool = False,
    key_type: KeyType = "ecdsa",
    wrong_hostname: str = WRONG_HOSTNAME,
) -> IssuedCertificate:
    """Issue the server certificate of *kind* for *hostnames*; the client trusts *ca*.

    *now* (timezone-aware; default: the current time) anchors the validity window, see
    ``_VALIDITY``. For "untrusted-ca" without an *untrusted_ca*, a fresh CA is made: any CA
    the client was not given will do. "missing-intermediate" makes a fresh intermediate
    under *ca* each time; "ip-address" names the IP literals among *hostnames* (or
    ``DEFAULT_ADDRESS`` if there are none); "wildcard-mismatch" and "cn-only" need a DNS name.
    """
    if kind not in CERT_KINDS:
        raise ValueError(
            f"unknown certificate kind {kind!r}; expected one of {', '.join(CERT_KINDS)}"
        )
    names = _check_hostnames(hostnames)
    anchor = _require_aware(now)
    before, after = _VALIDITY[kind]
    signer: CertificateAuthority | None = ca
    san_hostnames: Sequence[str] | None = names
    ca_issuers_url: str | None = None
    omitted = b""
    if kind == "self-signed":
        signer = None
    elif kind == "untrusted-ca":
        signer = untrusted_ca if untrusted_ca is not None else CertificateAuthority(
            "SIP testbed untrusted CA"
        )
        if signer is ca:
            raise ValueError("untrusted_ca must be a different CA from the trusted ca")
    elif kind == "wrong-host":
        san_hostnames = [wrong_hostname]
    elif kind == "cn-only":
        _dns_names(names, kind)  # the CN holds the first one
        san_hostnames = None
    elif kind == "wildcard-mismatch":
        san_hostnames = [f"*.{name}" for name in _dns_names(names, kind)]
    elif kind == "ip-address":
        san_hostnames = _ip_literals(names)
    elif kind == "missing-intermediate":
        signer = ca.issue_intermediate(key_type=key_type)
        ca_issuers_url = INTERMEDIATE_URL
        omitted = signer.cert_pem
    return _issue(
        names,
        san_hostnames=san_hostnames,
        not_before=anchor + before,
        not_after=anchor + after,
        sip_uri_sans=sip_uri_sans,
        key_type=key_type,
        kind=kind,
        signer=signer,
        ca_pem=ca.cert_pem,
        ca_issuers_url=ca_issuers_url,
        omitted_chain_pem=omitted,
    )


def _dns_names(hostnames: Sequence[str], kind: CertKind) -> list[str]:
    names = [h for h in hostnames if isinstance(_general_name(h), x509.DNSName)]
    if not names:
        raise ValueError(f"a {kind!r} certificate needs a DNS name among {list(hostnames)}")
    return names


def _ip_literals(hostnames: Sequence[str]) -> list[str]:
    addresses = [h for h in hostnames if isinstance(_general_name(h), x509.IPAddress)]
    return addresses or [DEFAULT_ADDRESS]
