"""DNS messages on the wire, by dnslib: build a query, read a response.

Pure functions (no sockets, no clock), in a module of their own because dnslib imports
:mod:`socket`: the plan in :mod:`testbed.dns` never needs it. :func:`decode_response`
turns a response into an :class:`Answer` of plain records (:class:`~testbed.dns.Record`),
following a CNAME chain inside the answer section, or raises :class:`MalformedResponse`
for anything that does not belong to the question asked (wrong id, wrong question,
unparsable bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dnslib import CLASS, EDNS0, QTYPE, RCODE, DNSError, DNSHeader, DNSQuestion, DNSRecord

from ._records import (
    AddressRecord,
    CnameRecord,
    NaptrRecord,
    NsRecord,
    Record,
    SoaRecord,
    SrvRecord,
    TxtRecord,
    normalize_name,
)


class MalformedResponse(ValueError):
    """Bytes that are not a response to our question (ignored, like a stray datagram)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A decoded response: rcode, the answer section as records, the flags that matter.

    ``records`` keeps the answer section in order, CNAMEs included; :meth:`of_type`
    gives the records of the asked type at the end of the CNAME chain. ``transport`` is
    ``udp``, ``tcp`` or ``cache``.
    """

    name: str
    type: str
    rcode: str
    records: tuple[Record, ...] = ()
    authority: tuple[Record, ...] = ()
    additional: tuple[Record, ...] = ()
    authoritative: bool = False
    truncated: bool = False
    server: str = ""
    transport: str = "udp"

    def of_type(self, rtype: str | None = None) -> list[Record]:
        rtype = rtype or self.type
        return [r for r in self.records if r.type == rtype]

    @property
    def canonical_name(self) -> str:
        """The name at the end of the CNAME chain (the query name if there is none)."""
        name = normalize_name(self.name)
        for _ in range(len(self.records)):
            alias = next((r for r in self.records if isinstance(r, CnameRecord)
                          and normalize_name(r.name) == name), None)
            if alias is None:
                break
            name = normalize_name(alias.target)
        return name

    @property
    def negative_ttl(self) -> int | None:
        """RFC 2308 §5 cache time for NXDOMAIN/NODATA, from the authority SOA."""
        soa = next((r for r in self.authority if isinstance(r, SoaRecord)), None)
        return None if soa is None else soa.negative_ttl

    def summary(self) -> str:
        if self.rcode != "NOERROR":
            return self.rcode
        if not self.records:
            return "NODATA"
        return "; ".join(f"{r.type} {r}" for r in self.records)


def encode_query(name: str, rtype: str, qid: int, *, edns_payload: int | None = None) -> bytes:
    """A standard query (RD clear: we only talk to authoritative servers)."""
    record = DNSRecord(DNSHeader(id=qid, rd=0), q=DNSQuestion(name, getattr(QTYPE, rtype)))
    if edns_payload:
        record.add_ar(EDNS0(udp_len=edns_payload))
    packed: bytes = record.pack()
    return packed


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _name(label: object) -> str:
    return normalize_name(str(label))


def _record_from_rr(rr: Any) -> Record | None:
    """One dnslib RR as a plain record; None for a type the resolver does not use.

    ``rr`` is a ``dnslib.RR`` (dnslib has no type information: its fields are ``Any``).
    """
    rtype = QTYPE.get(rr.rtype)
    rdata = rr.rdata
    name = _name(rr.rname)
    ttl = int(rr.ttl)
    if rtype in ("A", "AAAA"):
        return AddressRecord(str(rdata), name, ttl)
    if rtype == "CNAME":
        return CnameRecord(name, _name(rdata.label), ttl)
    if rtype == "NS":
        return NsRecord(_name(rdata.label), name, ttl)
    if rtype == "SRV":
        return SrvRecord(rdata.priority, rdata.weight, rdata.port, _name(rdata.target),
                         name, ttl)
    if rtype == "NAPTR":
        return NaptrRecord(rdata.order, rdata.preference, _text(rdata.flags),
                           _text(rdata.service), _text(rdata.regexp),
                           _name(rdata.replacement), name, ttl)
    if rtype == "TXT":
        return TxtRecord(tuple(_text(s) for s in rdata.data), name, ttl)
    if rtype == "SOA":
        serial, refresh, retry, expire, minimum = rdata.times
        return SoaRecord(_name(rdata.mname), _name(rdata.rname), serial, refresh, retry,
                         expire, minimum, name, ttl)
    return None


def _records(rrs: list[Any]) -> tuple[Record, ...]:
    return tuple(r for r in map(_record_from_rr, rrs) if r is not None)


def decode_response(data: bytes, qid: int, name: str, rtype: str, *, server: str = "",
                    transport: str = "udp") -> Answer:
    """Parse ``data`` as the response to query ``qid`` for ``name``/``rtype``."""
    try:
        message = DNSRecord.parse(data)
    except (DNSError, ValueError, UnicodeError, IndexError, KeyError) as exc:
        raise MalformedResponse(f"unparsable response: {exc}") from None
    header = message.header
    if header.id != qid:
        raise MalformedResponse(f"response id {header.id} does not match query id {qid}")
    if not header.qr:
        raise MalformedResponse("a query, not a response (QR clear)")
    # A FORMERR may come without a question section; otherwise it must echo ours.
    if message.questions:
        question = message.questions[0]
        if (_name(question.qname) != normalize_name(name)
                or question.qtype != getattr(QTYPE, rtype) or question.qclass != CLASS.IN):
            raise MalformedResponse(
                f"response is for {question.qname} {QTYPE.get(question.qtype)}, "
                f"not {name} {rtype}")
    rcode = RCODE.get(header.rcode)
    try:
        return Answer(
            name=normalize_name(name), type=rtype, rcode=str(rcode),
            records=_records(message.rr), authority=_records(message.auth),
            additional=_records([rr for rr in message.ar if rr.rtype != QTYPE.OPT]),
            authoritative=bool(header.aa), truncated=bool(header.tc),
            server=server, transport=transport)
    except (TypeError, ValueError, AttributeError) as exc:
        raise MalformedResponse(f"unreadable record data: {exc}") from None


__all__ = ["Answer", "MalformedResponse", "decode_response", "encode_query"]
