"""What a real client program did, judged from what our servers observed.

A program under test (baresip, linphonec, SIPp, any) tells us nothing itself. The
evidence is on our side: what the registrars received and answered (their trace), what
the DNS server was asked, what the fault relays carried, dropped or forgot, and how TLS
handshakes ended at our listeners (:class:`Observed`). :func:`observed_registration`
and :func:`observed_inbound` turn it into the :class:`Outcome` the built-in client
would have reported, so :func:`diagnose`, step expectations, ladders and captures work
unchanged; :func:`program_notes` adds what only this side can tell (:data:`NOTE_IDS`):
a bad certificate accepted, an SRV target never tried, a NAT binding left to expire.

An exchange is as seen from the server: its ``remote`` is the address the client
reached (the registrar's, or the relay's in front of it), so ``tried`` lists what
arrived. What the kernel refuses (nothing listening, a firewall's reject or TCP drop)
never reaches a userland server and is not seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from servers.dns import QueryLogEntry
from servers.faults import FaultRecord
from testbed.client import CallDetails, Exchange, Note, Outcome
from testbed.dns import QueryRecord
from testbed.sip import RemoteProtocolError, Request, Response, fmt_hostport, parse_message
from testbed.transport import TlsFailure, TlsHandshakeRecord, TraceEvent, TransactionFailed
from testbed.transport.tls import TlsFailureKind

from ._findings import FINDING_IDS
from ._table import TLS_CAUSES

HostPort = tuple[str, int]

NOTE_IDS: dict[str, str] = {key: FINDING_IDS[key] for key in (
    "accepted-bad-certificate", "no-srv-failover", "nat-no-keepalive")}
"""The finding ids only server-side observation gives (see :func:`program_notes`)."""

CERTIFICATE_FAILURES: dict[str, TlsFailureKind] = {
    "expired": "expired", "not-yet-valid": "not-yet-valid", "self-signed": "self-signed",
    "untrusted-ca": "untrusted-ca", "wrong-host": "hostname-mismatch", "cn-only": "cn-only",
    "missing-intermediate": "missing-intermediate", "wildcard-mismatch": "wildcard-mismatch",
    "ip-address": "ip-address",
}
"""A served certificate kind (servers.certs) → the TLS failure a verifying client reports."""

_BAD_CERTIFICATE = {
    "expired": "an expired certificate", "not-yet-valid": "a certificate not valid yet",
    "self-signed": "a self-signed certificate",
    "untrusted-ca": "a certificate from a CA it was not given",
    "wrong-host": "a certificate issued for another host",
    "missing-intermediate": "a certificate sent without its intermediate CA",
    "cn-only": "a certificate naming the domain only in its CN",
    "wildcard-mismatch": "a wildcard certificate that does not cover the domain",
    "ip-address": "a certificate naming only an IP address",
}
_CERTIFICATE_ALERTS = {42, 43, 44, 45, 46, 48}  # RFC 8446 §6.2: the client refused our certificate
_KEEPALIVE_SIZES = {2, 4}  # CRLF (UDP) and CRLFCRLF (TCP), RFC 5626 §4.4.1


@dataclass(frozen=True)
class Listener:
    """One listener of one of our registrars: where it is, and where clients reach it."""

    registrar: str
    transport: str  # "UDP", "TCP", "TLS", "WSS"
    address: HostPort  # where the registrar's socket is
    public: HostPort  # where a client reaches it (a relay's address when faults front it)
    certificate: str = ""  # TLS and WSS: the kind of certificate presented

    @property
    def where(self) -> str:
        return f"{fmt_hostport(self.public)}/{self.transport}"


@dataclass(frozen=True)
class Handshake:
    """One TLS connection at one of our listeners, as the server saw it."""

    listener: Listener
    time: float
    peer: HostPort | None
    record: TlsHandshakeRecord


@dataclass
class Observed:
    """Everything our side of the world saw, for judging a client program.

    ``srv`` and ``hosts`` are the zones' SRV records (owner → (priority, weight, port,
    target)) and A records (name → address): a resolver may take them from an answer's
    additional section, which the query log does not show.
    """

    listeners: Sequence[Listener]
    events: Sequence[TraceEvent]
    faults: Sequence[FaultRecord] = ()
    queries: Sequence[QueryLogEntry] = ()
    handshakes: Sequence[Handshake] = ()
    dns_server: str = ""
    srv: Mapping[str, Sequence[tuple[int, int, int, str]]] = field(default_factory=dict)
    hosts: Mapping[str, str] = field(default_factory=dict)

    def listener(self, transport: str, address: HostPort | None) -> Listener | None:
        """The listener a trace event at ``address`` over ``transport`` belongs to."""
        for listener in self.listeners:
            if listener.address == address and listener.transport == transport:
                return listener
        return None

    def listener_behind(self, carrier: str, upstream: HostPort | None) -> Listener | None:
        """The listener a relay carries ``carrier`` (UDP or TCP) traffic to."""
        for listener in self.listeners:
            rides = "UDP" if listener.transport == "UDP" else "TCP"
            if listener.address == upstream and rides == carrier:
                return listener
        return None


# -- exchanges ----------------------------------------------------------------------------


def _parsed(data: bytes) -> Request | Response | None:
    try:
        return parse_message(data)
    except RemoteProtocolError:
        return None


def _branch(message: Request | Response) -> str:
    try:
        return message.top_via.branch or ""
    except RemoteProtocolError:
        return ""


def sip_exchanges(observed: Observed, method: str, since: float, until: float
                  ) -> list[Exchange]:
    """Requests of ``method`` our registrars received in [since, until], with the final
    answer each got; a retransmission (same branch) counts as a transmission."""
    found: dict[tuple[str, HostPort | None, str], Exchange] = {}
    for event in observed.events:
        if not since <= event.time <= until or event.kind not in ("received", "sent"):
            continue
        listener = observed.listener(event.transport, event.local)
        message = _parsed(event.data) if listener is not None else None
        if listener is None or message is None:
            continue
        key = (listener.where, event.remote, _branch(message))
        if event.kind == "received" and isinstance(message, Request) \
                and message.method == method:
            if key in found:
                found[key].transmissions += 1
                continue
            credentials = bool(message.headers.get("Authorization")
                               or message.headers.get("Proxy-Authorization"))
            found[key] = Exchange(method, listener.transport, listener.public, event.time,
                                  branch=key[2], size=len(event.data), error="timeout",
                                  detail="with credentials" if credentials else "",
                                  transmissions=1)
        elif event.kind == "sent" and isinstance(message, Response) and key in found \
                and message.status >= 200 and message.cseq.method == method:
            exchange = found[key]
            exchange.status, exchange.reason = message.status, message.reason
            exchange.ended, exchange.error = event.time, None
            retry = message.headers.get("Retry-After")
            if retry and retry.split()[0].isdigit():
                exchange.retry_after = int(retry.split()[0])
    return list(found.values())


def dropped_exchanges(observed: Observed, method: str, since: float, until: float,
                      merge_into: Sequence[Exchange] = ()) -> list[Exchange]:
    """Datagrams a fault dropped on their way to a registrar, as the requests they were.

    Same-sized datagrams from one source are one request's transmissions; when a later
    transmission got through (a lossy path), they count towards that exchange instead.
    """
    groups: list[tuple[FaultRecord, Listener, list[FaultRecord]]] = []
    for record in observed.faults:
        if (record.action != "dropped" or record.direction != "to-server"
                or record.transport != "UDP" or not since <= record.time <= until):
            continue
        listener = observed.listener_behind("UDP", record.destination)
        if listener is None or record.size in _KEEPALIVE_SIZES:
            continue
        last = groups[-1] if groups else None
        if last and last[0].source == record.source and last[0].size == record.size \
                and last[1] == listener:
            last[2].append(record)
        else:
            groups.append((record, listener, [record]))
    exchanges = []
    for first, listener, records in groups:
        later = [e for e in merge_into if e.remote == listener.public and e.size == first.size
                 and e.started >= first.time]
        if later:
            later[0].transmissions += len(records)
            later[0].started = min(later[0].started, first.time)
            continue
        exchanges.append(Exchange(
            method, "UDP", listener.public, first.time, ended=records[-1].time,
            error="timeout", transmissions=len(records), size=first.size,
            detail=f"{len(records)} datagram(s) of {first.size} bytes dropped by the "
                   f"{first.fault} fault before the registrar ({first.detail})"))
    return exchanges


def refused_exchanges(observed: Observed, method: str, since: float, until: float
                      ) -> list[Exchange]:
    """TCP connections a relay accepted and could not carry to the registrar."""
    exchanges = []
    for record in observed.faults:
        if record.action != "rejected" or not since <= record.time <= until:
            continue
        listener = observed.listener_behind("TCP", record.destination)
        if listener is not None:
            exchanges.append(Exchange(method, listener.transport, listener.public, record.time,
                                      ended=record.time, error="refused", transmissions=0,
                                      detail=record.detail or "connection refused"))
    return exchanges


def client_refusal(handshake: Handshake) -> TlsFailure:
    """Why a client gave up a TLS handshake with us: its alert, and what we presented."""
    record = handshake.record
    alerts = [a for a in record.alerts if not a.sent and a.fatal]
    alert = alerts[0] if alerts else None
    said = f"the client sent the alert {alert.name} ({alert.code})" if alert else \
        "the client closed the connection during the handshake"
    kind = handshake.listener.certificate or "valid"
    if alert is not None and alert.code == 70:
        return TlsFailure("protocol-version", f"{said}: no TLS version in common")
    if kind in CERTIFICATE_FAILURES and (alert is None or alert.code in _CERTIFICATE_ALERTS):
        cause = TLS_CAUSES[CERTIFICATE_FAILURES[kind]]
        return TlsFailure(CERTIFICATE_FAILURES[kind],
                          f"{said}; our listener presents a certificate where {cause}")
    if alert is not None and alert.code in _CERTIFICATE_ALERTS:
        return TlsFailure("handshake", f"{said}, though our certificate is valid: does the "
                                       "client trust the CA, and reach the server by a name "
                                       "the certificate holds?")
    return TlsFailure("handshake", said)


def tls_exchanges(observed: Observed, method: str, since: float, until: float
                  ) -> list[Exchange]:
    """TLS handshakes at our listeners that never completed: the client refused them."""
    exchanges = []
    for handshake in observed.handshakes:
        if handshake.record.handshake_done or not since <= handshake.time <= until:
            continue
        failure = client_refusal(handshake)
        listener = handshake.listener
        exchanges.append(Exchange(method, listener.transport, listener.public, handshake.time,
                                  ended=handshake.time, error="tls", transmissions=0,
                                  tls_failure=failure, detail=f"TLS handshake failed: {failure}"))
    return exchanges


def all_exchanges(observed: Observed, method: str, since: float, until: float
                  ) -> list[Exchange]:
    """Every attempt of ``method`` our side saw, in the order they started."""
    sip = sip_exchanges(observed, method, since, until)
    found = (sip + dropped_exchanges(observed, method, since, until, sip)
             + refused_exchanges(observed, method, since, until)
             + tls_exchanges(observed, method, since, until))
    return sorted(found, key=lambda e: e.started)


# -- DNS ----------------------------------------------------------------------------------


def query_records(observed: Observed, since: float, until: float) -> list[QueryRecord]:
    """The DNS server's log in the words of the client's resolver (:class:`QueryRecord`)."""
    records = []
    for entry in observed.queries:
        if not since <= entry.time <= until:
            continue
        outcome = entry.rcode or "TIMEOUT"
        if outcome == "NOERROR" and not entry.answer:
            outcome = "NODATA"
        summary = "; ".join(_rdata(a) for a in entry.answer[:4])
        records.append(QueryRecord(entry.time, entry.qname, entry.qtype, observed.dns_server,
                                   entry.transport, outcome, summary,
                                   note="truncated" if entry.truncated else entry.note))
    return records


def _rdata(answer: str) -> str:
    """``_sip._udp.x. 300 SRV 10 10 5060 a.x.`` → ``SRV 10 10 5060 a.x.``."""
    parts = answer.split(None, 2)
    return parts[2] if len(parts) == 3 else answer


def resolution(queries: Sequence[QueryRecord], mode: str) -> list[str]:
    """The resolution as the client's queries show it; a fall-back to A in AUTO is named."""
    lines = [f"{q.type} {q.name}: {q.outcome}" + (f" ({q.summary})" if q.summary else "")
             for q in queries]
    asked = {(q.type, q.name.rstrip(".")): q for q in queries}
    answered = [q for q in queries if q.type in ("NAPTR", "SRV") and q.outcome == "NOERROR"]
    a_records = [q for q in queries if q.type in ("A", "AAAA") and q.outcome == "NOERROR"]
    if mode == "auto" and not answered and a_records and any(t == "NAPTR" for t, _ in asked):
        lines.append(f"no NAPTR/SRV records: fell back to A {a_records[0].name.rstrip('.')} "
                     f"({a_records[0].summary})")
    return lines


def srv_targets(observed: Observed, queries: Sequence[QueryRecord]
                ) -> dict[str, list[tuple[str, HostPort]]]:
    """SRV sets the client learnt (asked, or behind a NAPTR answer), each in priority
    order: owner → [(target name, (address, port))]."""
    owners: list[str] = []
    for query in queries:
        if query.outcome != "NOERROR":
            continue
        if query.type == "SRV":
            owners.append(query.name.rstrip("."))
        elif query.type == "NAPTR":
            owners += [part.split()[-1].rstrip(".") for part in query.summary.split("; ")
                       if part.split()]
    sets = {}
    for owner in dict.fromkeys(owners):
        records = sorted(observed.srv.get(owner, ()), key=lambda r: (r[0], -r[1]))
        targets = [(target, (observed.hosts.get(target.rstrip("."), target), port))
                   for _, _, port, target in records if target not in (".", "")]
        if targets:
            sets[owner] = targets
    return sets


# -- outcomes -----------------------------------------------------------------------------


def observed_registration(observed: Observed, *, since: float, until: float,
                          registered: bool, mode: str = "",
                          waited: float | None = None) -> Outcome:
    """The registration of a client program as our side saw it.

    ``registered``: a registrar holds a binding the client made in [since, until] (the
    last REGISTER answered 2xx is the one shown); ``waited`` is how long the step
    waited, for summaries.
    """
    exchanges = all_exchanges(observed, "REGISTER", since, until)
    queries = query_records(observed, since, until)
    lines = resolution(queries, mode)
    accepted = [e for e in exchanges if e.status is not None and 200 <= e.status < 300]
    if registered and accepted:
        success = accepted[-1]
        took = success.ended - since if success.ended is not None else 0.0
        return Outcome("register", True, f"registered over {success.transport} at "
                       f"{success.where} ({took:.2f} s after the step began; seen by our "
                       "registrar)", status=success.status, reason=success.reason,
                       transport=success.transport, remote=success.remote,
                       exchanges=exchanges, resolution=lines, started=since,
                       ended=success.ended or until, queries=queries)
    within = f" within {waited:g} s" if waited is not None else ""
    if not exchanges:
        if queries and not any(q.outcome == "NOERROR" for q in queries):
            return Outcome("register", False, f"not registered{within}: no REGISTER reached "
                           f"our registrars; DNS: {'; '.join(lines[-3:])}", error="dns",
                           resolution=lines, started=since, ended=until, queries=queries)
        asked = f"; DNS: {'; '.join(lines[-2:])}" if lines else ""
        return Outcome("register", False, f"not registered{within}: nothing reached our "
                       f"registrars{asked}", error="timeout", resolution=lines,
                       started=since, ended=until, queries=queries)
    last = exchanges[-1]
    error = last.error
    if last.status is not None and last.status >= 300:
        error = "auth" if last.status in (401, 407) and last.detail else "rejected"
    what = (f"{last.status} {last.reason}" if last.status is not None
            else f"{last.error}: {last.detail}" if last.detail else str(last.error))
    if error == "timeout" and last.status is None and last.detail == "with credentials":
        what = "no answer arrived"
    return Outcome("register", False, f"not registered{within}: last REGISTER to "
                   f"{last.where}: {what}", status=last.status, reason=last.reason,
                   error=error, transport=last.transport, remote=last.remote,
                   exchanges=exchanges, resolution=lines, tls_failure=last.tls_failure,
                   started=since, ended=until, queries=queries)


def observed_inbound(observed: Observed, *, method: str, registrar: str, since: float,
                     until: float, result: Response | TransactionFailed | None,
                     waited: float) -> Outcome:
    """A request our registrar sent to the program's registered contact, and its fate."""
    sent: dict[str, Exchange] = {}
    for event in observed.events:
        if event.owner != registrar or event.kind != "sent" or \
                not since <= event.time <= until:
            continue
        message = _parsed(event.data)
        if not isinstance(message, Request) or message.method != method:
            continue
        branch = _branch(message)
        if branch in sent:
            sent[branch].transmissions += 1
        else:
            remote = event.remote or ("", 0)
            sent[branch] = Exchange(method, event.transport, remote, event.time, branch=branch,
                                    size=len(event.data))
    exchanges = list(sent.values())
    first = exchanges[0] if exchanges else None
    details = CallDetails(first.size, first.transport) if first and method == "INVITE" else None
    if isinstance(result, Response):
        ok = result.status < 300
        if first is not None:
            first.status, first.reason, first.ended = result.status, result.reason, until
        return Outcome("inbound", ok, f"{method} from registrar {registrar} to the client: "
                       f"{result.status} {result.reason}", status=result.status,
                       reason=result.reason, error=None if ok else "rejected",
                       transport=first.transport if first else None,
                       remote=first.remote if first else None, exchanges=exchanges,
                       started=since, ended=until, call=details, received=True)
    reason = result.reason if result is not None else f"no final answer within {waited:g} s"
    kind = "timeout" if result is None or result.kind == "timeout" else "transport"
    if first is not None:
        first.error, first.detail, first.ended = kind, reason, until
    where = f" at {first.where}" if first else ""
    lost = [r for r in observed.faults if r.action == "dropped" and r.direction == "to-client"
            and since <= r.time <= until]
    seen = f"; {lost[0].fault}: {lost[0].detail}" if lost else ""
    return Outcome("inbound", False, f"{method} from registrar {registrar} to the client's "
                   f"binding{where} got no answer ({reason}){seen}", error=kind,
                   transport=first.transport if first else None,
                   remote=first.remote if first else None, exchanges=exchanges,
                   started=since, ended=until, call=details,
                   received=False if lost else None)


# -- what only our side can tell ----------------------------------------------------------


def program_notes(observed: Observed, outcome: Outcome, *, since: float, until: float,
                  waited: float | None = None) -> list[Note]:
    """Findings about a client program from [since, until] (see :data:`NOTE_IDS`)."""
    notes = _accepted_certificates(observed, since, until)
    if not outcome.ok and outcome.operation == "register":
        notes += _no_srv_failover(observed, outcome, waited)
    notes += _nat_without_keepalives(observed, since, until)
    return notes


def _accepted_certificates(observed: Observed, since: float, until: float) -> list[Note]:
    notes = []
    for event in observed.events:
        if event.kind != "received" or not since <= event.time <= until:
            continue
        listener = observed.listener(event.transport, event.local)
        if listener is None or listener.certificate not in _BAD_CERTIFICATE:
            continue
        method = event.summary.split(" ", 1)[0]
        notes.append(Note("accepted-bad-certificate", f"the client accepted "
                          f"{_BAD_CERTIFICATE[listener.certificate]}: its {method} arrived over "
                          f"{listener.transport} at {listener.where}, whose certificate is "
                          f"{listener.certificate} (a verifying client refuses it)"))
    return notes


def _no_srv_failover(observed: Observed, outcome: Outcome, waited: float | None
                     ) -> list[Note]:
    tried = {e.remote for e in outcome.exchanges}
    notes = []
    for owner, targets in srv_targets(observed, outcome.queries).items():
        addresses = list(dict.fromkeys(address for _, address in targets))
        if len(addresses) < 2 or addresses[0] not in tried or tried & set(addresses[1:]):
            continue
        failed = [e for e in outcome.exchanges if e.remote == addresses[0]]
        if any(e.status is not None and e.status < 300 for e in failed):
            continue
        listed = ", ".join(f"{name.rstrip('.')}:{port}" for name, (_, port) in targets)
        within = f" within {waited:g} s" if waited is not None else ""
        how = failed[-1].error or f"{failed[-1].status} {failed[-1].reason}"
        notes.append(Note("no-srv-failover", f"the client never tried the second SRV target: "
                          f"{owner} lists {listed}; the first, {fmt_hostport(addresses[0])}, "
                          f"failed ({how}) and nothing reached {fmt_hostport(addresses[1])}"
                          f"{within}"))
    return notes


def _nat_without_keepalives(observed: Observed, since: float, until: float) -> list[Note]:
    notes = []
    for expiry in observed.faults:
        if expiry.action != "expired" or not since <= expiry.time <= until:
            continue
        client = expiry.source
        outbound = [r for r in observed.faults if r.direction == "to-server"
                    and r.source == client and r.action in ("forwarded", "delayed")
                    and r.time <= expiry.time and r.transport == expiry.transport]
        if any(r.size in _KEEPALIVE_SIZES for r in outbound):
            continue
        last = outbound[-1].time if outbound else None
        idle = f" {expiry.time - last:.1f} s after the client's last packet" \
            if last is not None else ""
        notes.append(Note("nat-no-keepalive", f"no keep-alives seen before the NAT binding "
                          f"expired: {fmt_hostport(client)} (seen by the registrar as "
                          f"{fmt_hostport(expiry.destination)}) lost its {expiry.transport} "
                          f"binding{idle}, having sent no CRLF keep-alive (RFC 5626 §4.4.1)"))
    return notes


__all__ = ["CERTIFICATE_FAILURES", "NOTE_IDS", "Handshake", "Listener", "Observed",
           "all_exchanges", "client_refusal", "observed_inbound", "observed_registration",
           "program_notes", "query_records", "resolution", "srv_targets"]
