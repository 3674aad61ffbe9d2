"""RFC 3263 / RFC 2782 server location: from DNS answers to ordered SIP targets.

The logic is sans-IO (:class:`Rfc3263Plan`, :func:`order_srv`, the wire codec): no
sockets, no clock, randomness from a seeded :class:`random.Random`. The Twisted adapter
:class:`DnsClient` (the only module here that imports Twisted) asks the DNS servers it
is given, never the system resolver.
"""

import importlib

from ._plan import (
    DEFAULT_PORTS,
    DEFAULT_SUPPORTED,
    MODES,
    NAPTR_SERVICES,
    SECURE_TRANSPORTS,
    SRV_PREFIXES,
    TRANSPORTS,
    PlanError,
    Resolution,
    ResolutionStep,
    Rfc3263Plan,
    Target,
)
from ._records import (
    AddressRecord,
    CnameRecord,
    NaptrRecord,
    NsRecord,
    Query,
    QueryFailed,
    Record,
    SoaRecord,
    SrvRecord,
    TxtRecord,
    normalize_name,
)
from ._srv import order_srv

_LAZY = {
    # The Twisted adapter, and the dnslib codec (dnslib itself imports socket): loaded
    # on first use, so the selection logic never pulls in Twisted or socket.
    "DnsClient": "_client", "DnsError": "_client", "DnsTimeout": "_client",
    "DnsUnreachable": "_client", "QueryRecord": "_client", "parse_server": "_client",
    "Answer": "_wire", "MalformedResponse": "_wire", "decode_response": "_wire",
    "encode_query": "_wire",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "DEFAULT_PORTS", "DEFAULT_SUPPORTED", "MODES", "NAPTR_SERVICES", "SECURE_TRANSPORTS",
    "SRV_PREFIXES", "TRANSPORTS",
    "AddressRecord", "Answer", "CnameRecord", "DnsClient", "DnsError", "DnsTimeout",
    "DnsUnreachable", "MalformedResponse", "NaptrRecord", "NsRecord", "PlanError", "Query",
    "QueryFailed", "QueryRecord", "Record", "Resolution", "ResolutionStep", "Rfc3263Plan",
    "SoaRecord", "SrvRecord", "Target", "TxtRecord", "decode_response", "encode_query",
    "normalize_name", "order_srv", "parse_server",
]
