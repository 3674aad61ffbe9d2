"""The mock authoritative DNS server: zones and faults as data, UDP and TCP on Twisted.

Wire format by dnslib. See :class:`DnsServer`, :class:`Zone` and :mod:`._faults` for
the data each takes; every mistake in that data raises :class:`DnsConfigError`. With
``forward=(host, port)`` the server relays what its zones do not cover to a real DNS
server, answers passed back unchanged, its faults acting in front (:mod:`._forward`).
"""

from ._authority import (
    CLASSIC_UDP_LIMIT,
    SERVER_UDP_PAYLOAD,
    Reply,
    build_response,
    find_zone,
    lookup,
)
from ._faults import FAULT_KINDS, Fault, FaultTable, parse_fault, parse_faults
from ._server import QUERY_LOG_LIMIT, DnsServer, Listening, QueryLogEntry
from ._zone import RECORD_TYPES, DnsConfigError, Zone

__all__ = [
    "CLASSIC_UDP_LIMIT", "FAULT_KINDS", "QUERY_LOG_LIMIT", "RECORD_TYPES", "SERVER_UDP_PAYLOAD",
    "DnsConfigError", "DnsServer", "Fault", "FaultTable", "Listening", "QueryLogEntry",
    "Reply", "Zone", "build_response", "find_zone", "lookup", "parse_fault", "parse_faults",
]
