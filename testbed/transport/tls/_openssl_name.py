"""Telling OpenSSL the server name to expect, so that a refused name gets the right alert.

A client that rejects the server's certificate tells the server why with a TLS alert
(RFC 8446 §6.2, RFC 5246 §7.2.2). OpenSSL derives that alert from the X509 verify error
of the refusal (``ssl_x509err2alert``): expired → certificate_expired, unknown issuer →
unknown_ca, a name that does not match → bad_certificate. A verify callback that refuses a
certificate OpenSSL found fine leaves that error at X509_V_OK, which OpenSSL answers with
internal_error: the alert a name check done only in Python would send.

So OpenSSL checks the name as well (``X509_VERIFY_PARAM_set1_host`` / ``set1_ip``) with the
flags closest to RFC 5922 (never the subject CN; no wildcards unless allowed, then only a
whole left-most label as RFC 6125 §6.4.3), reports X509_V_ERR_HOSTNAME_MISMATCH or
X509_V_ERR_IP_ADDRESS_MISMATCH to the verify callback, and the callback's RFC 5922 check
(:func:`check_server_identity <._identity.check_server_identity>`) has the last word: it
clears OpenSSL's error when the certificate is the SIP domain's after all (a ``sip:`` URI
SAN, say), or keeps it, and OpenSSL sends bad_certificate. One refusal stays unlabelled:
``sip:`` URI SANs naming another domain beside a DNS SAN naming this one, which OpenSSL
accepts and RFC 5922 §7.1 refuses; OpenSSL then has no error to derive an alert from and
sends internal_error.

pyOpenSSL has no API for the verify parameters, so this reaches the ``SSL_CTX`` through
pyOpenSSL's private ``Context._context`` and calls OpenSSL through ``cryptography``'s
published bindings. If either is missing, nothing breaks: refusals are classified the same
and only the alert degrades to internal_error, which :func:`expect_server_name` reports.
"""

from __future__ import annotations

import ipaddress

from cryptography.hazmat.bindings.openssl.binding import Binding
from OpenSSL import SSL

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def expect_server_name(
    context: SSL.Context, host: str, address: _Address | None, *, allow_wildcards: bool
) -> str | None:
    """Have OpenSSL check that the peer's certificate names *host* (or *address*).

    Returns ``None`` when done, else why not, in words for the connection's notes.
    """
    lib = Binding.lib
    ssl_ctx = getattr(context, "_context", None)  # pyOpenSSL's SSL_CTX pointer
    needed = ("SSL_CTX_get0_param", "X509_VERIFY_PARAM_set1_host", "X509_VERIFY_PARAM_set1_ip")
    if ssl_ctx is None or not all(hasattr(lib, name) for name in needed):
        return (
            "OpenSSL is not told the name to expect (no access to its verify parameters): "
            "a refused name is signalled to the server with the alert internal_error"
        )
    param = lib.SSL_CTX_get0_param(ssl_ctx)
    if address is not None:
        packed = address.packed
        done = lib.X509_VERIFY_PARAM_set1_ip(param, packed, len(packed))
    else:
        flags = lib.X509_CHECK_FLAG_NEVER_CHECK_SUBJECT
        flags |= (
            lib.X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS
            if allow_wildcards
            else lib.X509_CHECK_FLAG_NO_WILDCARDS
        )
        lib.X509_VERIFY_PARAM_set_hostflags(param, flags)
        name = host.encode("ascii")
        done = lib.X509_VERIFY_PARAM_set1_host(param, name, len(name))
    if done != 1:
        return f"OpenSSL refused {host} as the name to expect: a refused name gets internal_error"
    return None
