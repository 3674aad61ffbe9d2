"""RFC 3263 / RFC 2782 server location: from DNS answers to ordered SIP targets.

This package is sans-IO (:class:`Rfc3263Plan`, :func:`order_srv`, the records): no
sockets, no clock, randomness from a seeded :class:`random.Random`, transports in the
vocabulary of :mod:`testbed.sip` (:class:`~testbed.sip.Transport`). Two public modules
sit beside it, imported only by those who need them:

* :mod:`testbed.dns.wire`: the wire codec on dnslib (which imports :mod:`socket`);
* :mod:`testbed.dns.client`: :class:`~testbed.dns.client.DnsClient`, the Twisted adapter
  that asks the DNS servers it is given, never the system resolver.
"""

from ._plan import (
    DEFAULT_SUPPORTED,
    NAPTR_SERVICES,
    SRV_PREFIXES,
    PlanError,
    QueryResult,
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
    QueryRecord,
    Record,
    SoaRecord,
    SrvRecord,
    TxtRecord,
    normalize_name,
)
from ._srv import order_srv

__all__ = [
    # RFC 3263 resolution
    "DEFAULT_SUPPORTED", "NAPTR_SERVICES", "SRV_PREFIXES", "PlanError", "QueryResult",
    "Resolution", "ResolutionStep", "Rfc3263Plan", "Target",
    # records, questions, failures
    "AddressRecord", "CnameRecord", "NaptrRecord", "NsRecord", "Query", "QueryFailed",
    "QueryRecord", "Record", "SoaRecord", "SrvRecord", "TxtRecord", "normalize_name",
    # RFC 2782 ordering
    "order_srv",
]
