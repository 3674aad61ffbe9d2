"""Plain values for DNS data as the resolver logic sees it: records, queries, failures.

No wire format here (that is :mod:`testbed.dns.wire`, on dnslib) and no I/O. Names are
written without the trailing dot and compared case-insensitively (:func:`normalize_name`).
"""

from __future__ import annotations

from dataclasses import dataclass

RECORD_TYPES = ("NAPTR", "SRV", "A", "AAAA", "CNAME", "SOA", "NS", "TXT")
"""The record types the resolver understands (others are ignored, never an error)."""

FAILURE_REASONS = ("NXDOMAIN", "SERVFAIL", "REFUSED", "FORMERR", "NOTIMP", "TIMEOUT", "ERROR")
"""Why a query gave no records: an rcode, ``TIMEOUT`` (no answer at all) or ``ERROR``."""


def normalize_name(name: str) -> str:
    """``"Sip.Example.COM."`` → ``"sip.example.com"``; the root stays ``"."``."""
    name = name.strip()
    if name in ("", "."):
        return "."
    return name.rstrip(".").lower()


@dataclass(frozen=True, slots=True)
class Query:
    """One DNS question the plan wants answered: ``Query("example.com", "NAPTR")``."""

    name: str
    type: str

    def __post_init__(self) -> None:
        if self.type not in RECORD_TYPES:
            raise ValueError(f"unsupported query type {self.type!r}")

    def __str__(self) -> str:
        return f"{self.type} {self.name}"


@dataclass(frozen=True, slots=True)
class QueryFailed:
    """The answer to a query that produced no data: an error rcode or a timeout.

    NODATA (the name exists, no record of that type) is *not* a failure: it is an empty
    list of records. ``NXDOMAIN`` is listed here so that the trace can tell them apart.
    """

    reason: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.reason not in FAILURE_REASONS:
            raise ValueError(f"unknown failure reason {self.reason!r}")

    def __str__(self) -> str:
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


@dataclass(frozen=True, slots=True)
class NaptrRecord:
    """RFC 3403 NAPTR; for SIP (RFC 3263 §4.1) ``flags`` is ``"s"`` and ``regexp`` empty."""

    order: int
    preference: int
    flags: str
    service: str
    regexp: str
    replacement: str
    name: str = ""
    ttl: int = 0

    type = "NAPTR"

    def __str__(self) -> str:
        return (f'{self.order} {self.preference} "{self.flags}" "{self.service}" '
                f'"{self.regexp}" {self.replacement}')


@dataclass(frozen=True, slots=True)
class SrvRecord:
    """RFC 2782 SRV: ``priority weight port target``; target ``"."`` = no service."""

    priority: int
    weight: int
    port: int
    target: str
    name: str = ""
    ttl: int = 0

    type = "SRV"

    def __str__(self) -> str:
        return f"{self.priority} {self.weight} {self.port} {self.target}"


@dataclass(frozen=True, slots=True)
class AddressRecord:
    """An A (IPv4) or AAAA (IPv6) record; the type follows from the address."""

    address: str
    name: str = ""
    ttl: int = 0

    @property
    def type(self) -> str:
        return "AAAA" if ":" in self.address else "A"

    def __str__(self) -> str:
        return self.address


@dataclass(frozen=True, slots=True)
class CnameRecord:
    """``name`` is an alias of ``target`` (RFC 1034 §3.6.2)."""

    name: str
    target: str
    ttl: int = 0

    type = "CNAME"

    def __str__(self) -> str:
        return self.target


@dataclass(frozen=True, slots=True)
class NsRecord:
    target: str
    name: str = ""
    ttl: int = 0

    type = "NS"

    def __str__(self) -> str:
        return self.target


@dataclass(frozen=True, slots=True)
class TxtRecord:
    strings: tuple[str, ...]
    name: str = ""
    ttl: int = 0

    type = "TXT"

    def __str__(self) -> str:
        return " ".join(f'"{s}"' for s in self.strings)


@dataclass(frozen=True, slots=True)
class SoaRecord:
    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int
    name: str = ""
    ttl: int = 0

    type = "SOA"

    @property
    def negative_ttl(self) -> int:
        """How long a NXDOMAIN/NODATA answer may be cached (RFC 2308 §5)."""
        return min(self.ttl, self.minimum)

    def __str__(self) -> str:
        return (f"{self.mname} {self.rname} {self.serial} {self.refresh} {self.retry} "
                f"{self.expire} {self.minimum}")


Record = (NaptrRecord | SrvRecord | AddressRecord | CnameRecord | NsRecord | TxtRecord
          | SoaRecord)


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """One exchange with a server, or one cache hit, as reports show it.

    ``transport`` is the DNS transport the question went over: ``udp``, ``tcp`` or
    ``cache``.
    """

    time: float
    name: str
    type: str
    server: str
    transport: str
    outcome: str
    summary: str = ""
    attempts: int = 1
    note: str = ""

    def __str__(self) -> str:
        text = f"{self.type} {self.name} @{self.server} {self.transport}: {self.outcome}"
        if self.summary and self.summary != self.outcome:
            text += f" {self.summary}"
        if self.attempts > 1:
            text += f" ({self.attempts} attempts)"
        if self.note:
            text += f" [{self.note}]"
        return text
