"""Findings: every notable event of a run's journey, healthy or not.

The diagnosis names one row of the troubleshooting table (where the client ended up);
the findings list what happened on the way: a refused or silent target before the
failover, a DNS server that failed or truncated, a request moved to TCP by RFC 3261
§18.1.1, retransmissions, stale nonces, a certificate accepted only because trust was
insecure. Each finding has an ``id`` (a troubleshooting row, or one of the event ids
of :data:`FINDING_IDS`), a sentence and its evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from testbed.client import Exchange, Outcome
from testbed.dns import QueryRecord

FINDING_IDS: dict[str, str] = {
    "connection-refused": "a target refused the connection (or ICMP said port unreachable)",
    "registration-timeout": "a target never answered (Timer F/B, or no TCP SYN-ACK)",
    "tls-handshake-failure": "a target's TLS handshake failed",
    "wss-no-websocket": "a target did not set up the WebSocket",
    "transport-error": "a connection failed under a request",
    "server-unavailable": "a target answered 503 Service Unavailable",
    "failover": "the client moved on to another target (RFC 3263 §4.3)",
    "dns-servfail": "a DNS query was answered SERVFAIL",
    "dns-refused": "a DNS query was answered REFUSED",
    "dns-timeout": "a DNS query got no answer",
    "dns-error": "a DNS query failed (FORMERR, NOTIMP, connection error)",
    "dns-truncated": "a DNS answer came truncated over UDP and was retried over TCP",
    "auto-fallback-udp": "AUTO fell back to the A/AAAA records (UDP 5060 for sip:)",
    "udp-to-tcp-switch": "a request too large for UDP went over TCP (RFC 3261 §18.1.1)",
    "large-udp-request": "a request too large for UDP was sent over UDP anyway",
    "retransmissions": "requests over UDP were retransmitted before their answer",
    "stale-nonce": "the server answered stale=true and the client re-authenticated",
    "insecure-trust": "a certificate was accepted only because trust was insecure",
    # Seen only from the servers' side, when a real client program is under test:
    "accepted-bad-certificate": "the client accepted a certificate it should have refused "
                                "(a request arrived over TLS from a listener with a bad one)",
    "no-srv-failover": "the client never tried the next SRV target after the first failed",
    "nat-no-keepalive": "no keep-alives seen before the NAT binding expired",
}
"""Every finding id, with what it means."""

_EXCHANGE_ERRORS = {
    "refused": "connection-refused", "unreachable": "connection-refused",
    "timeout": "registration-timeout", "tls": "tls-handshake-failure",
    "websocket": "wss-no-websocket", "transport": "transport-error",
}
_DNS_OUTCOMES = {
    "SERVFAIL": "dns-servfail", "REFUSED": "dns-refused", "TIMEOUT": "dns-timeout",
    "FORMERR": "dns-error", "NOTIMP": "dns-error", "ERROR": "dns-error",
}


@dataclass(frozen=True)
class Finding:
    """One notable event: its id, a sentence, and the evidence behind it."""

    id: str
    sentence: str
    evidence: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return f"[{self.id}] {self.sentence}"


def findings_of(outcomes: Sequence[Outcome], *, mode: str = "") -> tuple[Finding, ...]:
    """The findings of a run, in the order they happened, each event once. ``mode`` is
    the client's transport mode: a fall-back to A/AAAA is notable only in AUTO (with an
    explicit transport it is the rule, RFC 3263 §4.2)."""
    found: list[Finding] = []
    for outcome in outcomes:
        found += _dns_findings(outcome.queries)
        if mode.lower() == "auto":
            found += _fallback_findings(outcome)
        found += _exchange_findings(outcome)
        found += [Finding(note.id, note.text, (outcome.summary,)) for note in outcome.notes]
    return tuple(_unique(found))


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for finding in findings:
        key = (finding.id, finding.sentence)
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return unique


def _dns_findings(queries: Sequence[QueryRecord]) -> list[Finding]:
    found = []
    for query in queries:
        if query.transport == "cache":
            continue
        kind = _DNS_OUTCOMES.get(query.outcome)
        if kind is not None:
            found.append(Finding(kind, f"{query.type} {query.name} at {query.server}: "
                                       f"{query.outcome}", (str(query),)))
        if "truncated" in query.note:
            found.append(Finding("dns-truncated", f"{query.type} {query.name} at "
                                 f"{query.server}: truncated over UDP, asked again over TCP",
                                 (str(query),)))
    return found


def _fallback_findings(outcome: Outcome) -> list[Finding]:
    fallback = [step for step in outcome.resolution if "fell back to A" in step]
    if not fallback:
        return []
    return [Finding("auto-fallback-udp", fallback[0], tuple(outcome.resolution[-3:]))]


def _exchange_findings(outcome: Outcome) -> list[Finding]:
    found: list[Finding] = []
    exchanges = outcome.exchanges
    for index, exchange in enumerate(exchanges):
        later = exchanges[index + 1:]
        moved = next((e for e in later if _target(e) != _target(exchange)), None)
        kind = _EXCHANGE_ERRORS.get(exchange.error or "")
        if kind is not None:
            found.append(Finding(kind, _failed(exchange), (_line(exchange),)))
        elif exchange.status == 503:
            wait = (f" with Retry-After {exchange.retry_after} s"
                    if exchange.retry_after is not None else "")
            found.append(Finding("server-unavailable", f"{exchange.where} answered 503 "
                                 f"{exchange.reason}{wait}", (_line(exchange),)))
        if moved is not None and (kind is not None or exchange.status == 503):
            found.append(Finding("failover", f"after {exchange.where} failed, the client "
                                 f"tried {moved.where}", (_line(exchange), _line(moved))))
        if exchange.transport == "UDP" and exchange.transmissions > 1:
            found.append(Finding("retransmissions", f"{exchange.method} to {exchange.where} "
                                 f"needed {exchange.transmissions} transmissions",
                                 (_line(exchange),)))
    return found


def _target(exchange: Exchange) -> tuple[str, str, int]:
    return (exchange.transport, *exchange.remote)


def _failed(exchange: Exchange) -> str:
    if exchange.error == "timeout" and exchange.transmissions == 0:
        return f"{exchange.where}: connection not established ({exchange.detail})"
    if exchange.error == "timeout":
        return (f"{exchange.where}: no answer to {exchange.method} after "
                f"{exchange.transmissions} transmission(s)")
    if exchange.error == "tls" and exchange.tls_failure is not None:
        return f"{exchange.where}: TLS handshake failed: {exchange.tls_failure}"
    return f"{exchange.where}: {exchange.error}: {exchange.detail}"


def _line(exchange: Exchange) -> str:
    """One exchange as evidence."""
    waited = (exchange.ended or exchange.started) - exchange.started
    if exchange.status is not None:
        return (f"{exchange.method} to {exchange.where}: {exchange.status} {exchange.reason} "
                f"after {exchange.transmissions} transmission(s), {waited * 1000:.0f} ms")
    return (f"{exchange.method} to {exchange.where}: {exchange.error} ({exchange.detail}) "
            f"after {exchange.transmissions} transmission(s), {waited * 1000:.0f} ms")


__all__ = ["FINDING_IDS", "Finding", "findings_of"]
