"""The ladder diagram and the message log of one scenario, as plain text.

Both read the :class:`~testbed.transport.TraceEvent` s of every element of the world
(client, registrars, proxies: their traces merged or shared) and, for the ladder, the
DNS server's query log. A message seen by both ends (``sent`` by one, ``received`` by
the other) is one row; retransmissions are marked; a message a traced element sent and
its traced destination never received is marked ``(not received)``.

Participants are named by ``names`` (``{(host, port): name}`` or ``{host: name}``), else
by the owner of the trace that used the address locally, else by the address itself.
Output is deterministic for a given input and readable in 100 columns.

One model, several renderings: :func:`ladder_model` pairs the events into
:class:`LadderRow` s between :class:`Party` s (what each row is: a message, a
retransmission, a drop by a fault, a refused connection, a TLS handshake failure, a DNS
query...); :func:`ladder` draws it as text, :func:`message_log` lists it in full, and
the HTML report draws it as SVG (``_ladder_svg``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from servers.dns import QueryLogEntry
from servers.faults import FaultRecord
from testbed.sip import Transport, fmt_hostport
from testbed.transport import HostPort, TraceEvent

DNS = "DNS"

_SENT = ("sent", "keepalive-sent")
_RECEIVED = ("received", "keepalive-received")
_FAILURES = ("connect-failed", "tls-failed", "send-failed")

_Key = tuple[object, ...]
"""What pairs a sent message with its receipt (transport, addresses, summary or bytes)."""

Names = Mapping[str | HostPort, str]
"""Participant names by address (``(host, port)``) or by host alone."""


@dataclass
class LadderRow:
    """One row of a ladder: a message (its sending and receipt paired), a connection
    event, a failure, a note, or a DNS query.

    ``kind`` is ``message``, ``connection``, ``failure``, ``note`` or ``dns``;
    :attr:`style` says how to draw it. ``sent``/``received`` are the trace events of a
    message (either may be missing), ``event`` the one event of any other row, ``query``
    the DNS server's log entry of a query. ``retransmission`` counts the identical
    packets sent before this one; ``fault`` names the fault that ``fault_action``
    (``dropped`` or ``delayed``) this message, with ``fault_detail``.
    """

    time: float
    kind: str
    transport: str
    src: HostPort | None
    dst: HostPort | None
    label: str
    src_name: str = ""
    dst_name: str = ""
    sent: TraceEvent | None = None
    received: TraceEvent | None = None
    lost: bool = False
    retransmission: int = 0
    event: TraceEvent | None = None
    query: QueryLogEntry | None = None
    fault: str = ""
    fault_action: str = ""
    fault_detail: str = ""
    delay: float = 0.0

    @property
    def data(self) -> bytes:
        """The message's bytes (empty for rows that are not messages)."""
        event = self.sent or self.received
        return event.data if event is not None else b""

    @property
    def style(self) -> str:
        """What the row shows, for a drawing: ``message``, ``retransmission``,
        ``dropped`` (by a fault), ``delayed`` (by a fault), ``lost`` (sent, never
        received), ``keepalive``, ``connection``, ``refused``, ``tls-failed``,
        ``unanswered`` (a connection attempt timed out), ``failure``, ``timeout``,
        ``malformed``, ``note`` or ``dns``."""
        if self.kind == "message":
            event = self.sent or self.received
            if self.fault_action == "dropped":
                return "dropped"
            if self.lost:
                return "lost"
            if self.fault_action == "delayed":
                return "delayed"
            if event is not None and event.kind.startswith("keepalive"):
                return "keepalive"
            return "retransmission" if self.retransmission else "message"
        if self.kind == "failure" and self.event is not None:
            kind = self.event.kind
            if kind == "tls-failed":
                return "tls-failed"
            if kind == "connect-failed":
                refused = "refused" in (self.event.summary + self.event.detail).lower()
                return "refused" if refused else "unanswered"
            return {"timeout": "timeout", "bad-message": "malformed"}.get(kind, "failure")
        return self.kind




@dataclass(frozen=True)
class Party:
    """A column of the ladder: a participant's name and the addresses it used."""

    name: str
    addresses: tuple[str, ...]
    dns: bool = False

    @property
    def where(self) -> str:
        """The addresses as one line (``the DNS server (its query log)`` for a DNS
        server seen only through its log)."""
        if self.dns and not self.addresses:
            return "the DNS server (its query log)"
        return ", ".join(self.addresses) or "-"


@dataclass(frozen=True)
class LadderModel:
    """The rows of a ladder in time order and its parties (named ones first, in the
    order of ``names``, then by first appearance, the DNS server last). ``t0`` is the
    first row's time: every rendering counts from it."""

    parties: tuple[Party, ...]
    rows: tuple[LadderRow, ...]
    dns_name: str = DNS

    @property
    def t0(self) -> float:
        return self.rows[0].time if self.rows else 0.0


class _Namer:
    """Address → participant name: ``names`` (exact, then host), owners, the address."""

    def __init__(self, names: Names | None, events: list[TraceEvent]) -> None:
        self.exact: dict[HostPort, str] = {}
        self.hosts: dict[str, str] = {}
        for key, value in (names or {}).items():
            if isinstance(key, str):
                self.hosts[key] = value
            else:
                self.exact[(key[0], key[1])] = value
        self.learned: dict[HostPort, str] = {}
        for event in events:
            if event.owner and event.local is not None:
                self.learned.setdefault((event.local[0], event.local[1]), event.owner)
        self.order = list(dict.fromkeys((names or {}).values()))
        self.owners = {event.owner for event in events if event.owner}

    def __call__(self, address: HostPort | None, owner: str = "") -> str:
        """The participant name of ``address``.

        By ``names`` (address, then host), then the owner that used the address, then
        the only owner seen on that host (a port nobody listens on: a refused
        connection), else the address itself.
        """
        if address is None:
            return owner or "?"
        address = (address[0], address[1])
        known = self._known(address)
        if known is not None:
            return known
        on_host = {name for (host, _), name in self.learned.items() if host == address[0]}
        return on_host.pop() if len(on_host) == 1 else fmt_hostport(address)

    def dns_source(self, address: HostPort, dns_client: str) -> str:
        """Who sent a DNS query.

        ``names``, else ``dns_client`` when it is traced (the resolver's socket is no
        trace's and, on loopback, takes the server's address as its source), else the
        host alone (one column for every query socket).
        """
        known = self._known((address[0], address[1]))
        if known is not None:
            return known
        return dns_client if dns_client in self.owners else address[0]

    def _known(self, address: HostPort) -> str | None:
        """The name ``names`` gives the address (then its host), else its owner's."""
        for name in (self.exact.get(address), self.hosts.get(address[0]),
                     self.learned.get(address)):
            if name is not None:
                return name
        return None


def _ka_key(event: TraceEvent) -> str:
    summary = event.summary.lower()
    return "pong" if "pong" in summary else "ping"


def _items(events: Iterable[TraceEvent], namer: _Namer) -> list[LadderRow]:
    """Pair each sent message with its receipt; keep the other events worth a row."""
    ordered = sorted(events, key=lambda e: e.time)
    by_summary: dict[_Key, deque[LadderRow]] = defaultdict(deque)
    by_data: dict[_Key, deque[LadderRow]] = defaultdict(deque)
    items: list[LadderRow] = []
    seen_connections: set[_Key] = set()
    sent_data: dict[_Key, int] = defaultdict(int)

    def message(event: TraceEvent, src: HostPort, dst: HostPort, received: bool) -> LadderRow:
        item = LadderRow(event.time, "message", event.transport, src, dst, event.summary,
                     sent=None if received else event, received=event if received else None)
        if event.data and event.kind in ("sent", "received"):
            copies = sent_data[(event.transport, src, dst, event.data)]
            sent_data[(event.transport, src, dst, event.data)] += 1
            if copies:
                item.label += f" [retransmission {copies}]"
                item.retransmission = copies
        return item

    for event in ordered:
        if event.kind in _SENT and event.local and event.remote:
            src, dst = _address(event.local), _address(event.remote)
            item = message(event, src, dst, received=False)
            family = "msg" if event.kind == "sent" else _ka_key(event)
            summary = event.summary if event.kind == "sent" else ""
            by_summary[(family, event.transport, src, dst, summary)].append(item)
            if event.kind == "sent":
                by_data[(event.transport, src, dst, event.data)].append(item)
            items.append(item)
    for event in ordered:
        if event.kind in _RECEIVED and event.local and event.remote:
            src, dst = _address(event.remote), _address(event.local)
            keys: list[_Key]
            if event.kind == "received":
                keys = [("msg", event.transport, src, dst, event.summary)]
            else:
                keys = [(_ka_key(event), event.transport, src, dst, "")]
            match = _take(by_summary, keys)
            if match is None and event.kind == "received":
                match = _take(by_data, [(event.transport, src, dst, event.data)])
            if match is not None:
                match.received = event
                _discard(by_summary, by_data, match)
                continue
            items.append(message(event, src, dst, received=True))
        elif event.kind in ("connected", "closed"):
            pair = frozenset((_hp(event.local), _hp(event.remote))) if event.local and \
                event.remote else None
            key = (event.kind, event.transport, pair)
            if pair is not None and key in seen_connections:
                continue
            seen_connections.add(key)
            items.append(_connection(event))
        elif event.kind in _FAILURES:
            items.append(LadderRow(event.time, "failure", event.transport, _hp(event.local),
                               _hp(event.remote), _failure_label(event),
                               src_name=namer(event.local, event.owner), event=event))
        elif event.kind == "bad-message":
            items.append(LadderRow(event.time, "failure", event.transport, _hp(event.remote),
                               _hp(event.local), f"✗ malformed: {_with_detail(event)}",
                               dst_name=namer(event.local, event.owner), event=event))
        elif event.kind == "timeout":
            items.append(LadderRow(event.time, "failure", event.transport, _hp(event.local), None,
                               f"✗ {event.summary}", src_name=namer(event.local, event.owner),
                               event=event))
        elif event.kind == "note":
            items.append(LadderRow(event.time, "note", event.transport, _hp(event.local), None,
                               f"· {event.summary}", src_name=namer(event.local, event.owner),
                               event=event))
    for item in items:
        if item.kind == "message" and item.sent is not None and item.received is None:
            item.lost = namer(item.dst) in namer.owners and item.sent.kind == "sent"
    return items


def _address(address: HostPort) -> HostPort:
    """A plain ``(host, port)``: IPv6 addresses come with flow info and scope id."""
    return (address[0], address[1])


def _hp(address: HostPort | None) -> HostPort | None:
    return None if address is None else _address(address)


def _take(table: dict[_Key, deque[LadderRow]], keys: list[_Key]) -> LadderRow | None:
    for key in keys:
        queue = table.get(key)
        if queue:
            return queue.popleft()
    return None


def _discard(by_summary: dict[_Key, deque[LadderRow]], by_data: dict[_Key, deque[LadderRow]],
             item: LadderRow) -> None:
    for table in (by_summary, by_data):
        for queue in table.values():
            if item in queue:
                queue.remove(item)
                return


def _with_detail(event: TraceEvent) -> str:
    return event.summary + (f" ({event.detail})" if event.detail else "")


def _failure_label(event: TraceEvent) -> str:
    if event.kind == "send-failed":
        return f"✗ send failed: {_with_detail(event)}"
    return f"✗ {event.summary}"


def _connection(event: TraceEvent) -> LadderRow:
    local, remote = _hp(event.local), _hp(event.remote)
    if event.kind == "closed":
        return LadderRow(event.time, "connection", event.transport, local, remote,
                     f"{event.transport} connection closed"
                     + (f": {event.detail}" if event.detail else ""), event=event)
    server_side = "(server)" in event.summary
    src, dst = (remote, local) if server_side else (local, remote)
    extra = event.summary.split(",", 1)[1].strip() if "," in event.summary else ""
    return LadderRow(event.time, "connection", event.transport, src, dst,
                 f"{event.transport} connected" + (f", {extra}" if extra else ""), event=event)


def _dns_outcome(entry: QueryLogEntry) -> str:
    rcode = entry.rcode
    answers = len(entry.answer)
    if rcode is None:
        text = "no answer"
    elif rcode == "NOERROR":
        text = f"{answers} answer{'s' if answers != 1 else ''}" if answers else \
            "no records (NOERROR)"
    else:
        text = rcode
    if entry.truncated:
        text += ", truncated (TC)"
    if entry.fault:
        text += f" [fault: {entry.fault}]"
    if entry.note and rcode is None and not entry.fault:
        text += f" ({entry.note})"
    return text


def _dns_items(dns_log: Iterable[QueryLogEntry], namer: _Namer, dns_name: str,
               dns_client: str) -> list[LadderRow]:
    items = []
    for entry in dns_log:
        client = (entry.client[0], entry.client[1])
        qname, qtype = entry.qname, entry.qtype
        question = f"{qtype} {qname}?" if qname else "(no question)"
        items.append(LadderRow(entry.time, "dns", entry.transport.upper(),
                           client, None, f"{question} → {_dns_outcome(entry)}",
                           src_name=namer.dns_source(client, dns_client),
                           dst_name=dns_name, query=entry))
    return items


def ladder_model(events: Iterable[TraceEvent], dns_log: Iterable[QueryLogEntry] = (),
                 names: Names | None = None, *, dns_name: str = DNS,
                 dns_client: str = "client",
                 fault_log: Iterable[FaultRecord] = ()) -> LadderModel:
    """The rows and parties of a ladder (see :func:`ladder` for the arguments).

    ``fault_log`` (the faults' records) marks the messages a fault dropped or delayed.
    """
    events = list(events)
    namer = _Namer(names, events)
    items = _items(events, namer) + _dns_items(dns_log, namer, dns_name, dns_client)
    items.sort(key=lambda i: i.time)  # stable: equal times keep the traces' order
    _name_items(items, namer)
    items = _mark_faults(items, fault_log)
    parties = tuple(Party(name, _addresses(items, name), name == dns_name)
                    for name in _participants(items, namer, dns_name)) if items else ()
    return LadderModel(parties, tuple(items), dns_name)


def _mark_faults(items: list[LadderRow], fault_log: Iterable[FaultRecord]) -> list[LadderRow]:
    """Mark the message each ``dropped``/``delayed`` record speaks of: the earliest one
    sent before it from the record's source, on its carrier, of its size (else of any
    size), that no earlier record judged (the proxy judges a source's packets in order,
    each one ``forwarded``, ``delayed`` or ``dropped``).

    The note a fault left in the trace for a record that now marks a message is left out
    (the message says it); the others stay.
    """
    taken: set[int] = set()
    sent: dict[tuple[HostPort, str], tuple[list[float], list[int]]] = {}
    for index, item in enumerate(items):
        if item.kind == "message" and item.sent is not None and item.src is not None:
            times, indices = sent.setdefault((item.src, _carrier(item.transport)), ([], []))
            times.append(item.time)
            indices.append(index)
    notes: dict[str, list[float]] = defaultdict(list)  # the notes marks replace
    for record in fault_log:
        if record.action not in ("forwarded", "dropped", "delayed") or record.source is None:
            continue
        times, indices = sent.get((_address(record.source), _carrier(record.transport)),
                                  ([], []))
        window = indices[bisect_left(times, record.time - _FAULT_WINDOW):
                         bisect_right(times, record.time + _FAULT_SLACK)]
        candidates = [index for index in window if index not in taken]
        sized = [index for index in candidates if len(items[index].data) == record.size]
        chosen = (sized or candidates)[:1] if record.size else candidates[:1]
        for index in chosen:
            taken.add(index)
            if record.action == "forwarded":
                continue
            item = items[index]
            item.fault, item.fault_action = record.fault, record.action
            item.fault_detail, item.delay = record.detail, record.delay
            notes[_note_summary(record)].append(record.time)
    return [item for item in items if not (
        item.kind == "note" and item.event is not None
        and any(abs(item.time - t) <= _FAULT_SLACK for t in notes.get(item.event.summary, ())))]


def _note_summary(record: FaultRecord) -> str:
    """The summary of the trace note a fault leaves for ``record``."""
    summary = f"fault {record.fault}: {record.action}"
    if record.size:
        summary += f" {record.size} bytes {record.direction}"
    return summary


_FAULT_SLACK = 0.001  # a record is stamped when the proxy reads the packet: after it left
_FAULT_WINDOW = 1.0


def _carrier(transport: str) -> str:
    try:
        return Transport.parse(transport).carrier.value
    except ValueError:
        return transport


def _name_items(items: list[LadderRow], namer: _Namer) -> None:
    for item in items:
        if not item.src_name:
            item.src_name = namer(item.src)
        if not item.dst_name and item.dst is not None:
            item.dst_name = namer(item.dst)


def _participants(items: list[LadderRow], namer: _Namer, dns_name: str) -> list[str]:
    """Named ones in the order of ``names``, then by first appearance; the DNS last."""
    seen = [name for item in items for name in (item.src_name, item.dst_name) if name]
    appearing = dict.fromkeys(seen)
    first = [name for name in namer.order if name in appearing]
    rest = [name for name in appearing if name not in first]
    ordered = first + [name for name in rest if name != dns_name]
    return ordered + ([dns_name] if dns_name in appearing else [])


def _addresses(items: list[LadderRow], name: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for item in items:
        for address, who in ((item.src, item.src_name), (item.dst, item.dst_name)):
            if who == name and address is not None and address[1]:
                if item.kind == "dns":  # one socket per query: name the host only
                    found[f"{address[0]} (DNS queries)"] = None
                else:
                    found[f"{fmt_hostport(address)}/{item.transport}"] = None
    return tuple(found)
