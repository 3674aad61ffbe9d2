"""Authoritative answers from zones, and the response message (no I/O here).

:func:`lookup` decides the rcode and the three record sections (RFC 1034 §4.3.2 for an
authoritative server, RFC 2308 for negative answers, RFC 2782 / RFC 3263 for the
additional records). :func:`build_response` packs them with dnslib and truncates for UDP
(RFC 1035 §4.2.1, RFC 2181 §9, RFC 6891 for the EDNS0 payload size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dnslib import EDNS0, QTYPE, RCODE, RR, SOA, DNSHeader, DNSRecord

from ._zone import Zone, normalize_qname

CLASSIC_UDP_LIMIT = 512
SERVER_UDP_PAYLOAD = 1232
"""The EDNS0 payload size this server advertises (the DNS Flag Day 2020 value)."""
MAX_UDP_PAYLOAD = 4096
_MAX_CNAME_CHAIN = 8


@dataclass
class Reply:
    """What the zones say about one question, before it becomes a message."""

    rcode: int
    authoritative: bool = True
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)

    @property
    def rcode_name(self) -> str:
        return str(RCODE.get(self.rcode))


def find_zone(zones: Sequence[Zone], name: str) -> Zone | None:
    """The zone with the longest origin that contains ``name``."""
    best = None
    for zone in zones:
        if zone.contains(name) and (best is None or len(zone.origin) > len(best.origin)):
            best = zone
    return best


def _negative_soa(zone: Zone) -> RR:
    soa = zone.soa
    minimum = soa.rdata.times[4]
    return RR(soa.rname, QTYPE.SOA, ttl=min(soa.ttl, minimum),
              rdata=SOA(soa.rdata.mname, soa.rdata.rname, soa.rdata.times))


def lookup(zones: Sequence[Zone], qname: str, qtype: str) -> Reply:
    """Answer ``qname``/``qtype`` (``qtype`` a name such as ``"SRV"`` or ``"ANY"``)."""
    zone = find_zone(zones, qname)
    if zone is None:
        return Reply(RCODE.REFUSED, authoritative=False)
    if qtype in ("AXFR", "IXFR", "MAILA", "MAILB"):
        return Reply(RCODE.NOTIMP, authoritative=False)
    reply = Reply(RCODE.NOERROR)
    name = qname
    chain = {name}
    while True:
        rrs = zone.lookup_all(name) if qtype == "ANY" else zone.lookup(name, qtype)
        if rrs:
            reply.answer += rrs
            break
        alias = zone.lookup(name, "CNAME") if qtype != "CNAME" else []
        if alias:
            reply.answer += alias
            target = normalize_qname(alias[0].rdata.label)
            if not zone.contains(target) or target in chain or len(chain) > _MAX_CNAME_CHAIN:
                # Out of this zone (the client asks again) or a loop: stop here.
                return reply
            chain.add(target)
            name = target
            continue
        if not zone.exists(name):
            reply.rcode = RCODE.NXDOMAIN
        reply.authority.append(_negative_soa(zone))
        return reply
    reply.additional = _additional(zones, reply.answer)
    return reply


def _key(rr: RR) -> tuple[str, int, str]:
    return (normalize_qname(rr.rname), rr.rtype, rr.rdata.toZone())


def _additional(zones: Sequence[Zone], answer: list[RR]) -> list[RR]:
    """SRV targets' A/AAAA; for NAPTR "s" the replacement's SRV and their targets'
    addresses; for NAPTR "a" and NS the target's addresses. Only data we are
    authoritative for is added."""
    srvs: list[RR] = []
    hosts: list[str] = []
    for rr in answer:
        rtype = QTYPE.get(rr.rtype)
        if rtype == "SRV":
            hosts.append(normalize_qname(rr.rdata.target))
        elif rtype == "NS":
            hosts.append(normalize_qname(rr.rdata.label))
        elif rtype == "NAPTR":
            flags = bytes(rr.rdata.flags).lower()
            replacement = normalize_qname(rr.rdata.replacement)
            if flags == b"s":
                zone = find_zone(zones, replacement)
                found = zone.lookup(replacement, "SRV") if zone else []
                srvs += found
                hosts += [normalize_qname(s.rdata.target) for s in found]
            elif flags == b"a":
                hosts.append(replacement)
    extra = list(srvs)
    for host in hosts:
        zone = find_zone(zones, host)
        if zone is not None:
            extra += zone.lookup(host, "A") + zone.lookup(host, "AAAA")
    seen = {_key(rr) for rr in answer}
    unique = []
    for rr in extra:
        key = _key(rr)
        if key not in seen:
            seen.add(key)
            unique.append(rr)
    return unique


def udp_limit(request: DNSRecord) -> int:
    """512 bytes, or the requester's EDNS0 payload size (capped at 4096)."""
    for rr in request.ar:
        if rr.rtype == QTYPE.OPT:
            return max(CLASSIC_UDP_LIMIT, min(int(rr.rclass), MAX_UDP_PAYLOAD))
    return CLASSIC_UDP_LIMIT


def has_edns(request: DNSRecord) -> bool:
    return any(rr.rtype == QTYPE.OPT for rr in request.ar)


def build_response(request: DNSRecord, reply: Reply, limit: int | None) -> tuple[bytes, bool]:
    """Pack the reply; with a ``limit`` (UDP) drop additional records first (no TC, RFC
    2181 §9), then authority and trailing answers with TC set. Returns (bytes, TC)."""
    header = DNSHeader(id=request.header.id, qr=1, opcode=request.header.opcode,
                       aa=int(reply.authoritative), rd=request.header.rd, ra=0,
                       rcode=reply.rcode)
    response = DNSRecord(header, questions=list(request.questions[:1]),
                         rr=list(reply.answer), auth=list(reply.authority),
                         ar=list(reply.additional))
    opt = [EDNS0(udp_len=SERVER_UDP_PAYLOAD)] if has_edns(request) else []
    response.ar += opt
    data = response.pack()
    if limit is None or len(data) <= limit:
        return data, False
    response.ar = list(opt)
    data = response.pack()
    if len(data) <= limit:
        return data, False
    response.auth = []
    response.header.tc = 1
    while response.rr:
        response.rr.pop()
        data = response.pack()
        if len(data) <= limit:
            break
    return response.pack(), True


def error_response(request_header: DNSHeader, rcode: int, request: DNSRecord | None = None
                   ) -> bytes:
    """A bare error answer (FORMERR, NOTIMP...) echoing the id and, if known, the question."""
    header = DNSHeader(id=request_header.id, qr=1, opcode=request_header.opcode,
                       rd=request_header.rd, ra=0, rcode=rcode)
    questions = list(request.questions[:1]) if request is not None else []
    packed: bytes = DNSRecord(header, questions=questions).pack()
    return packed
