"""``testbed check``: a live deployment against the quick reference.

    report = await run_check(reactor, ProbeSettings(uri, user="alice", password="s"),
                             DnsClient([("192.0.2.53", 53)], reactor))
    report.discovery.lines()      # NAPTR, SRV, A/AAAA found or missing; what AUTO picks
    report.checks                 # one TargetCheck per target and transport: ok, row, ...
    report.ok                     # everything advertised and requested works

It walks what DNS advertises with the same user agent and diagnosis as the scenarios,
so a failure reads as a row of the troubleshooting table with its findings.
"""

from ._check import DEFAULT_TRANSPORTS, CheckReport, plan_targets, run_check
from ._discovery import Discovery, SrvSet, discover
from ._probe import LARGE_REQUEST, ProbeSettings, TargetCheck, probe, target_name

__all__ = [
    "DEFAULT_TRANSPORTS", "LARGE_REQUEST", "CheckReport", "Discovery", "ProbeSettings",
    "SrvSet", "TargetCheck", "discover", "plan_targets", "probe", "run_check", "target_name",
]
