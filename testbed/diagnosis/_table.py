"""The troubleshooting table in code, and the classifier that picks a row with evidence.

Each :class:`Row` is one line of the table a support engineer works from: symptom,
likely cause, solution. :func:`diagnose` reads what the client recorded (its
:class:`Outcome` s, their exchanges and resolution steps) and returns a
:class:`Diagnosis`: the row and the evidence that led there, in plain words. An outcome
that fits no row says so (``unclassified``); a diagnosis is data, never an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from testbed.client import Exchange, Outcome

from ._findings import Finding, findings_of


@dataclass(frozen=True)
class Row:
    """One row of the troubleshooting table."""

    id: str
    symptom: str
    cause: str
    solution: str


ROWS: tuple[Row, ...] = (
    Row("registration-timeout", "Registration timeout",
        "Firewall blocking the port or protocol (or nothing at that address answers)",
        "Check firewall rules for the registrar's port and protocol; check the registrar's "
        "address and that it is up."),
    Row("connection-refused", "Connection refused",
        "Nothing listening on that port/transport, or a firewall rejecting it",
        "Check the registrar listens on the configured port and transport, and that the "
        "client's transport matches (UDP/TCP 5060, TLS 5061, WSS 443)."),
    Row("tls-handshake-failure", "TLS handshake failure",
        "Certificate problem (expired, not yet valid, self-signed, wrong host name, "
        "untrusted CA) or no common TLS version",
        "Install a valid certificate for the SIP domain, add the CA to the client's trust "
        "store, make the certificate name match the domain, enable TLS 1.2 or later."),
    Row("message-too-large", "Calls fail but registration works (large INVITE lost over UDP)",
        "The INVITE exceeds the path MTU; oversized UDP datagrams are dropped (or fragments "
        "are)",
        "Use TCP or TLS (RFC 3261 §18.1.1: switch to TCP above 1300 bytes), or trim the SDP "
        "(fewer codecs)."),
    Row("intermittent-udp-loss", "Intermittent failures, retransmissions",
        "Packet loss on the UDP path",
        "Fix the lossy link or its QoS, or use TCP/TLS, where the network retransmits."),
    Row("nat-timeout", "Registered, but incoming calls stop arriving after a while",
        "NAT binding expired: without outbound traffic the NAT forgets the mapping",
        "Enable keep-alives shorter than the NAT timeout (RFC 5626 CRLF, OPTIONS), "
        "re-register more often, or use TCP/TLS with keep-alives."),
    Row("wss-no-websocket", "WSS connection fails",
        "The server does not offer WebSocket (RFC 7118) on that port and path, or not the "
        "'sip' subprotocol",
        "Enable SIP over WebSocket on the server, check the path (e.g. /ws) and that it "
        "answers 101 with Sec-WebSocket-Protocol: sip."),
    Row("auto-fallback-udp", "AUTO mode quietly uses UDP 5060",
        "Missing NAPTR/SRV records: RFC 3263 falls back to A/AAAA with UDP on port 5060",
        "Publish NAPTR and SRV records for the domain (or choose the transport explicitly)."),
    Row("dns-failure", "Registrar name does not resolve",
        "The records are missing: the name does not exist (NXDOMAIN) or has no usable "
        "NAPTR, SRV or A/AAAA record",
        "Publish the records in the zone (NAPTR, SRV, A/AAAA) and check the name the "
        "client resolves."),
    Row("dns-server-failure", "DNS lookups fail at the server",
        "The DNS server fails instead of answering (SERVFAIL, REFUSED or no answer at "
        "all): the records may well exist",
        "Fix the DNS server the client asks: is it up and reachable on port 53, does it "
        "load the zone (its logs), does it serve this client and this domain (REFUSED: "
        "recursion, ACLs, or a zone it is not authoritative for), is DNSSEC validation "
        "failing (SERVFAIL)? Query it directly with dig."),
    Row("auth-failure", "Registration rejected with 401/407 again and again",
        "Wrong username, password or realm",
        "Check the credentials configured on the client against the registrar's."),
    Row("rejected", "The server answers with an error",
        "The registrar refuses the request (e.g. 403, 404, 486, 503)",
        "Read the status and reason phrase; check the account and the server's state."),
    Row("healthy", "No problem", "Registration and calls work over the chosen transport",
        "Nothing to fix."),
    Row("unclassified", "Unrecognised failure", "The outcome fits no row of the table",
        "Read the evidence and the message log."),
)
ROW_IDS = tuple(row.id for row in ROWS)
_BY_ID = {row.id: row for row in ROWS}

QUICK_REFERENCE: tuple[tuple[str, str, str, str], ...] = (
    ("udp", "UDP", "5060", "small messages on a clean network; needs keep-alives behind NAT"),
    ("tcp", "TCP", "5060", "large messages (over 1300 bytes), lossy paths, NAT with keep-alives"),
    ("tls", "TLS", "5061", "encrypted signalling; a valid certificate for the SIP domain"),
    ("wss", "WSS", "443", "browsers and WebRTC; the server must speak RFC 7118 WebSocket"),
    ("auto", "NAPTR/SRV", "from DNS", "RFC 3263 lets DNS choose; needs NAPTR/SRV records"),
)
"""Mode, transport, default port, when to use it."""

TLS_CAUSES = {
    "expired": "the server certificate has expired",
    "not-yet-valid": "the server certificate is not valid yet (clock or issuance date)",
    "self-signed": "the server certificate is self-signed",
    "untrusted-ca": "the server certificate is signed by a CA the client does not trust",
    "hostname-mismatch": "the server certificate does not name the SIP domain",
    "missing-intermediate": "the server sends its certificate without the intermediate CA "
                            "certificate that links it to the trusted root",
    "cn-only": "the server certificate names the SIP domain only in its subject CN, "
               "without a subjectAltName",
    "wildcard-mismatch": "the server certificate has only a wildcard name for the SIP domain, "
                         "and SIP matches no wildcard",
    "ip-address": "the server certificate names only an IP address, not the SIP domain",
    "protocol-version": "no common TLS version (the server offers only TLS 1.0/1.1)",
    "handshake": "the TLS handshake failed",
}


@dataclass(frozen=True)
class Diagnosis:
    """A row of the table, made specific, with the evidence behind it."""

    row: str
    symptom: str
    cause: str
    solution: str
    evidence: tuple[str, ...] = field(default=())
    findings: tuple[Finding, ...] = field(default=())

    @property
    def finding_ids(self) -> tuple[str, ...]:
        """The ids of the findings, in order, each once."""
        return tuple(dict.fromkeys(finding.id for finding in self.findings))

    def __str__(self) -> str:
        lines = [f"Symptom: {self.symptom}", f"Likely cause: {self.cause}",
                 f"Solution: {self.solution}"]
        lines += [f"Evidence: {line}" for line in self.evidence]
        lines += [f"Finding: {finding}" for finding in self.findings]
        return "\n".join(lines)

    def one_line(self) -> str:
        evidence = f" {self.evidence[0]}." if self.evidence else ""
        return f"{self.symptom}:{evidence} Likely cause: {self.cause}. {self.solution}"


def _make(row_id: str, evidence: Sequence[str], cause: str | None = None) -> Diagnosis:
    row = _BY_ID[row_id]
    return Diagnosis(row.id, row.symptom, cause or row.cause, row.solution, tuple(evidence))


def _exchange_line(exchange: Exchange, t1: float | None = None) -> str:
    waited = (exchange.ended or exchange.started) - exchange.started
    if exchange.error == "timeout" and exchange.transmissions == 0:
        return (f"connection to {exchange.where} not established: no answer to the TCP "
                f"SYN in {waited:.1f} s")
    if exchange.error == "timeout":
        timer = "Timer B" if exchange.method == "INVITE" else "Timer F"
        return (f"{exchange.transmissions} transmission(s) of {exchange.method} to "
                f"{exchange.where}, no response in {waited:.1f} s ({timer})")
    if exchange.status is not None:
        return f"{exchange.method} to {exchange.where}: {exchange.status} {exchange.reason}"
    return f"{exchange.method} to {exchange.where}: {exchange.error} ({exchange.detail})"


def diagnose(outcomes: Sequence[Outcome], *, mode: str = "", large_limit: int = 1300) -> Diagnosis:
    """Classify a run's outcomes into one row of the troubleshooting table, with the
    findings of the whole journey."""
    outcomes = list(outcomes)
    return replace(_main_row(outcomes, mode, large_limit),
                   findings=findings_of(outcomes, mode=mode))


def _main_row(outcomes: list[Outcome], mode: str, large_limit: int) -> Diagnosis:
    failed = [o for o in outcomes if not o.ok]
    for outcome in failed:
        found = _classify_failure(outcome, outcomes, large_limit)
        if found is not None:
            return found
    if failed:
        first = failed[0]
        return _make("unclassified", [first.summary])
    return _classify_success(outcomes, mode)


_SERVER_FAILURES = ("SERVFAIL", "REFUSED", "TIMEOUT", "ERROR", "FORMERR", "NOTIMP")


def _server_failures(outcome: Outcome) -> list[str]:
    """The DNS queries of ``outcome`` that the server failed (not NXDOMAIN, not NODATA)."""
    return [str(q) for q in outcome.queries
            if q.transport != "cache" and q.outcome in _SERVER_FAILURES]


def _classify_failure(outcome: Outcome, outcomes: list[Outcome],
                      large_limit: int) -> Diagnosis | None:
    last = outcome.exchanges[-1] if outcome.exchanges else None
    error = outcome.error
    evidence = [_exchange_line(e) for e in outcome.exchanges]
    if error == "tls":
        kind = getattr(outcome.tls_failure, "kind", "handshake")
        detail = str(outcome.tls_failure) if outcome.tls_failure else ""
        cause = TLS_CAUSES.get(kind, TLS_CAUSES["handshake"])
        return _make("tls-handshake-failure", [detail] + evidence if detail else evidence,
                     cause=f"{cause[0].upper()}{cause[1:]}")
    if error == "websocket":
        return _make("wss-no-websocket", evidence)
    if error in ("refused", "unreachable"):
        return _make("connection-refused", evidence)
    if error == "dns":
        failures = _server_failures(outcome)
        if failures:
            return _make("dns-server-failure", failures[:3] + outcome.resolution[-1:])
        return _make("dns-failure", outcome.resolution[-3:] or [outcome.summary])
    if error == "auth":
        return _make("auth-failure", evidence + ([last.detail] if last and last.detail else []))
    if error == "timeout":
        if outcome.operation == "inbound" and not (
                outcome.call is not None and last is not None and last.transport == "UDP"
                and outcome.call.invite_size > large_limit):
            return _make("nat-timeout", [outcome.summary] + _last_outbound(outcomes, outcome))
        if outcome.operation in ("call", "options", "inbound") and last is not None \
                and last.transport == "UDP":
            answered = [o for o in outcomes if o.ok and o.transport == "UDP"
                        and o.operation in ("register", "options")]
            size = last.size or (outcome.call.invite_size if outcome.call else 0)
            if answered and size > large_limit:
                return _make("message-too-large", [
                    f"{last.method} of {size} bytes over UDP: {_exchange_line(last)}",
                    f"{answered[-1].operation.upper()} answered over the same path: "
                    f"{answered[-1].summary}"])
        return _make("registration-timeout", evidence)
    if error == "rejected" and outcome.status is not None:
        return _make("rejected", evidence)
    return None


def _last_outbound(outcomes: list[Outcome], inbound: Outcome) -> list[str]:
    """How long after the client's last request the inbound request failed."""
    done = [o for o in outcomes if o.operation in ("register", "options") and o.ok]
    if not done:
        return []
    idle = inbound.started - done[-1].ended
    return [f"it came {idle:.1f} s after the client's last request "
            f"({done[-1].summary})"]


def _classify_success(outcomes: list[Outcome], mode: str) -> Diagnosis:
    retransmitted = [e for o in outcomes for e in o.exchanges
                     if e.transport == "UDP" and e.transmissions > 1]
    if retransmitted:
        return _make("intermittent-udp-loss", [
            f"{e.method} to {e.where} needed {e.transmissions} transmissions"
            for e in retransmitted])
    registered = [o for o in outcomes if o.operation == "register" and o.ok]
    if mode == "auto" and registered and registered[0].transport == "UDP":
        # Only a fall-back to the A/AAAA records counts: UDP chosen by SRV is deliberate.
        fallback = [step for step in registered[0].resolution if "fell back" in step]
        failures = _server_failures(registered[0])
        if fallback and failures:  # the records were not missing: the server failed
            return _make("dns-server-failure", failures[:2] + fallback[:1]
                         + [registered[0].summary],
                         cause="The DNS server failed the NAPTR/SRV lookups; RFC 3263 "
                               "treats a failed lookup like a missing record, so AUTO fell "
                               "back to the A/AAAA record (UDP 5060 for a sip: URI)")
        if fallback:
            misses = [step for step in registered[0].resolution
                      if "NXDOMAIN" in step or "NODATA" in step or "no NAPTR" in step]
            return _make("auto-fallback-udp", misses[:2] + fallback[:1]
                         + [registered[0].summary])
    return _make("healthy", [o.summary for o in outcomes][:3])
