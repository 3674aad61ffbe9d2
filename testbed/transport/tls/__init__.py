"""TLS for the SIP transports: contexts that verify like a SIP client should, and say why not.

- :mod:`trust <._trust>`: :class:`TrustConfig`, what a client trusts (RFC 3261 §26.3.1);
- :mod:`identity <._identity>`: :func:`check_server_identity`, the server identity check
  of RFC 5922 §7 against the SIP domain, which names how a name is wrong (only in the CN,
  only an IP address, a wildcard, another name);
- :mod:`OpenSSL's name check <._openssl_name>`: OpenSSL is told the name to expect too, so
  a refused name reaches the server as the alert bad_certificate, not internal_error;
- :mod:`failures <._failures>`: :class:`TlsFailure` (one of :data:`TLS_FAILURE_KINDS`),
  :class:`TlsAlert`, :class:`TlsHandshakeRecord` and :func:`tls_failure_from`, which
  explain a failed handshake from OpenSSL's verify errors, the alerts and the error;
- :mod:`key log <._keylog>`: :class:`KeyLog`, SSLKEYLOGFILE lines for Wireshark;
- :mod:`creators <._creators>`: :func:`client_tls_options` and :func:`server_tls_options`,
  the connection creators Twisted's TLS takes, which keep a record per connection.

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
"""

from ._certificates import CertificateSummary, TlsConfigError
from ._creators import (
    TLS_VERSIONS,
    ClientTlsCreator,
    PemCredential,
    ServerCredential,
    ServerTlsCreator,
    client_tls_options,
    parse_tls_version,
    server_tls_options,
)
from ._failures import (
    TLS_FAILURE_KINDS,
    HandshakeRecords,
    TlsAlert,
    TlsFailure,
    TlsFailureKind,
    TlsHandshakeRecord,
    certificate_failure,
    tls_failure_from,
)
from ._identity import check_server_identity
from ._keylog import KeyLog
from ._trust import TrustConfig

__all__ = [
    "TLS_FAILURE_KINDS",
    "TLS_VERSIONS",
    "CertificateSummary",
    "ClientTlsCreator",
    "HandshakeRecords",
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
    "certificate_failure",
    "check_server_identity",
    "client_tls_options",
    "parse_tls_version",
    "server_tls_options",
    "tls_failure_from",
]
