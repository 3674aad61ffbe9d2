"""``testbed check``: the quick-reference matrix against a live deployment.

Discovery first (NAPTR, SRV, A/AAAA, what AUTO would pick), then one probe per target:
every target an SRV record advertises for a requested transport, and, for a requested
transport nothing advertises, the domain's address at that transport's default port
(RFC 3263 §4.2). The report passes only when everything checked works.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from testbed.diagnosis import ROWS, Diagnosis, Finding
from testbed.dns import Target
from testbed.dns.client import DnsClient
from testbed.reactor import IReactor
from testbed.sip import Transport

from ._discovery import Discovery, discover
from ._probe import ProbeSettings, TargetCheck, probe

DEFAULT_TRANSPORTS = (Transport.UDP, Transport.TCP, Transport.TLS, Transport.WSS)
"""The quick reference's four transports, checked unless ``--transports`` says otherwise."""


@dataclass
class CheckReport:
    """The discovery and every target's verdict."""

    uri: str
    discovery: Discovery
    checks: list[TargetCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def findings(self) -> list[Finding]:
        seen: set[tuple[str, str]] = set()
        unique = []
        for check in self.checks:
            for finding in check.findings:
                if (finding.id, finding.sentence) not in seen:
                    seen.add((finding.id, finding.sentence))
                    unique.append(finding)
        return unique


def plan_targets(discovery: Discovery, transports: Sequence[Transport], *,
                 explicit_port: int | None = None) -> tuple[list[Target], list[str]]:
    """The targets to probe, in transport order, and notes about what is left out (a
    transport nothing advertises, on a domain without an address, cannot be tried)."""
    targets: list[Target] = []
    notes: list[str] = []
    advertised = discovery.advertised()
    for transport in transports:
        mine = [t for t in advertised if t.transport is transport]
        if mine:
            targets += mine
            continue
        port = explicit_port or transport.default_port
        if not discovery.addresses:
            notes.append(f"{transport}: nothing advertised and {discovery.domain} has no "
                         "address: not checked")
            continue
        for address in discovery.addresses:
            targets.append(Target(transport, discovery.domain, port, address,
                                  f"not advertised: {discovery.domain} at the default "
                                  f"{transport} port {port} (RFC 3263 §4.2)"))
    skipped = sorted({str(t.transport) for t in advertised if t.transport not in transports})
    if skipped:
        notes.append(f"advertised but not requested (--transports): {', '.join(skipped)}")
    return targets, notes


async def run_check(reactor: IReactor, settings: ProbeSettings, dns: DnsClient | None, *,
                    addresses: Sequence[str] = (),
                    transports: Sequence[Transport] = DEFAULT_TRANSPORTS,
                    required: Sequence[Transport] = ()) -> CheckReport:
    """Discover ``settings.uri`` through ``dns`` (or take ``addresses`` when there is no
    DNS server, e.g. for an IP literal or a ``--host`` mapping), then probe each target.

    A transport in ``required`` (asked for by name) that cannot even be tried is a
    failed check; one of the default list is a note.
    """
    uri = settings.uri
    if dns is not None:
        discovery = await discover(uri, dns)
    else:
        discovery = Discovery(uri.host, naptr_outcome="no DNS server given",
                              address_outcome="from --host" if addresses else "none",
                              addresses=list(addresses))
    targets, notes = plan_targets(discovery, transports, explicit_port=uri.port)
    report = CheckReport(str(uri), discovery, notes=notes)
    for target in targets:
        report.checks.append(await probe(reactor, settings, target))
    if required:
        tried = {check.transport for check in report.checks}
        for transport in required:
            if transport not in tried:
                report.checks.append(unreachable(transport, discovery))
    return report


def unreachable(transport: Transport, discovery: Discovery) -> TargetCheck:
    """A requested transport with nowhere to go: nothing advertised, no address."""
    row = next(r for r in ROWS if r.id == "dns-failure")
    diagnosis = Diagnosis(row.id, row.symptom,
                          f"Nothing advertises {transport} for {discovery.domain} (no SRV "
                          "record) and the domain has no A/AAAA record to fall back to",
                          row.solution, tuple(discovery.lines()))
    return TargetCheck(transport, discovery.domain, "nothing advertised", False, diagnosis)


__all__ = ["DEFAULT_TRANSPORTS", "CheckReport", "plan_targets", "run_check", "unreachable"]
