"""What a TLS client trusts: the system store, a CA file or PEM, or nothing (insecure).

RFC 3261 §26.3.1 has a SIP client verify the server's chain; an insecure
:class:`TrustConfig` still names the anchors it diagnoses against, so a report can say
what a verifying client would have rejected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from OpenSSL import SSL, crypto

from ._certificates import TlsConfigError, load_certificates, subject_text


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
            load_certificates(self.ca_pem, "trust: CA PEM")

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
            subjects = [subject_text(c) for c in load_certificates(self.ca_pem, "trust: CA PEM")]
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
            certificates = load_certificates(data, f"CA file {self.ca_file}")
        else:
            assert self.ca_pem is not None
            certificates = load_certificates(self.ca_pem, "trust: CA PEM")
        store = context.get_cert_store()
        assert store is not None
        for certificate in certificates:
            store.add_cert(crypto.X509.from_cryptography(certificate))
