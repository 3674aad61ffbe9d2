"""What a live deployment publishes in DNS, and what AUTO would make of it.

:func:`discover` asks the DNS servers it is given (never the system resolver) for the
domain's NAPTR records, the SRV records of every SIP transport (both "_sip" and
"_sips" names, so a record published under the wrong scheme is seen), and its A/AAAA
records; then it runs the RFC 3263 plan in AUTO mode for the URI, so the report can
say which target AUTO would pick, and why.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field

from testbed.dns import (
    DEFAULT_SUPPORTED,
    NAPTR_SERVICES,
    SRV_PREFIXES,
    AddressRecord,
    NaptrRecord,
    SrvRecord,
    Target,
)
from testbed.dns.client import DnsClient, DnsError
from testbed.sip import AUTO, SipUri, Transport


@dataclass
class SrvSet:
    """The SRV records of one owner name, and the targets they resolve to."""

    name: str
    transport: Transport
    outcome: str  # "found", "missing" (NXDOMAIN/NODATA) or the failure (SERVFAIL, ...)
    records: list[SrvRecord] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)


@dataclass
class Discovery:
    """What DNS says about a SIP domain, as a support engineer reads it."""

    domain: str
    naptr: list[NaptrRecord] = field(default_factory=list)
    naptr_outcome: str = "not asked"
    srv: list[SrvSet] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    address_outcome: str = "not asked"
    auto_targets: list[Target] = field(default_factory=list)
    auto_trace: list[str] = field(default_factory=list)

    def advertised(self) -> list[Target]:
        """Every target an SRV record advertises, in the order found."""
        return [target for found in self.srv for target in found.targets]

    def lines(self) -> list[str]:
        """The discovery in words, one fact a line."""
        lines = [f"NAPTR {self.domain}: " + (
            "; ".join(f"{r.service} order {r.order} pref {r.preference} → {r.replacement}"
                      for r in self.naptr) if self.naptr else self.naptr_outcome)]
        for found in self.srv:
            text = ("; ".join(f"{r.priority} {r.weight} {r.port} {r.target}"
                              for r in found.records) if found.records else found.outcome)
            lines.append(f"SRV {found.name} ({found.transport}): {text}")
        lines.append(f"A/AAAA {self.domain}: "
                     + (", ".join(self.addresses) if self.addresses else self.address_outcome))
        if self.auto_targets:
            first = self.auto_targets[0]
            lines.append(f"AUTO would use {first.transport} {first.address}:{first.port} "
                         f"({first.reason})")
        else:
            lines.append("AUTO would find no target")
        return lines


async def discover(uri: SipUri, client: DnsClient) -> Discovery:
    """Ask ``client`` everything RFC 3263 could use for ``uri``'s domain."""
    domain = uri.host
    found = Discovery(domain)
    if _is_ip(domain):
        found.naptr_outcome = found.address_outcome = "an IP address: no DNS"
        found.addresses = [domain]
        return found
    answer = await _ask(client, domain, "NAPTR")
    found.naptr_outcome = _outcome(answer)
    if not isinstance(answer, str):
        found.naptr = sorted((r for r in answer if isinstance(r, NaptrRecord)),
                             key=lambda r: (r.order, r.preference))
    for transport in (Transport.UDP, Transport.TCP, Transport.TLS, Transport.WS,
                      Transport.WSS):
        found.srv.append(await _srv(client, f"{SRV_PREFIXES[transport]}.{domain}", transport))
    asked = {srv.name for srv in found.srv}
    for record in found.naptr:  # a NAPTR may point at SRV names of its own choosing
        service = NAPTR_SERVICES.get(record.service.upper())
        name = record.replacement.rstrip(".")
        if service is not None and name and name not in asked:
            asked.add(name)
            found.srv.append(await _srv(client, name, service))
    addresses: list[str] = []
    for family in ("A", "AAAA"):
        records = await _ask(client, domain, family)
        if isinstance(records, str):
            found.address_outcome = records
            continue
        addresses += [r.address for r in records if isinstance(r, AddressRecord)]
    found.addresses = addresses
    if addresses or found.address_outcome == "not asked":
        found.address_outcome = "found" if addresses else "missing"
    resolution = await client.resolve(uri, AUTO, DEFAULT_SUPPORTED, random.Random(0))
    found.auto_targets = list(resolution.targets)
    found.auto_trace = [str(step) for step in resolution.trace]
    return found


async def _srv(client: DnsClient, name: str, transport: Transport) -> SrvSet:
    answer = await _ask(client, name, "SRV")
    found = SrvSet(name, transport, _outcome(answer))
    if isinstance(answer, str):
        return found
    found.records = sorted((r for r in answer if isinstance(r, SrvRecord)),
                           key=lambda r: (r.priority, -r.weight))
    for record in found.records:
        if record.target.rstrip(".") == "":
            continue
        hosts = await _ask(client, record.target, "A")
        for address in ([] if isinstance(hosts, str) else
                        [r.address for r in hosts if isinstance(r, AddressRecord)]):
            found.targets.append(Target(transport, record.target.rstrip("."), record.port,
                                        address, f"SRV {name} {record.priority} "
                                                 f"{record.weight} {record.port} "
                                                 f"{record.target}"))
    return found


async def _ask(client: DnsClient, name: str, rtype: str) -> list[object] | str:
    """The records of the asked type, or why there are none ("missing", "SERVFAIL")."""
    try:
        answer = await client.query(name, rtype)
    except DnsError as exc:
        return f"no answer ({exc})"
    if answer.rcode == "NXDOMAIN":
        return "missing"
    if answer.rcode != "NOERROR":
        return answer.rcode
    return list(answer.of_type(rtype))


def _outcome(answer: list[object] | str) -> str:
    if isinstance(answer, str):
        return answer
    return "found" if answer else "missing"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


__all__ = ["Discovery", "SrvSet", "discover"]
