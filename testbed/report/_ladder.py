"""The ladder diagram and the message log of one scenario, as plain text.

Both read the :class:`~testbed.transport.TraceEvent` s of every element of the world
(client, registrars, proxies: their traces merged or shared) and, for the ladder, the
DNS server's query log. A message seen by both ends (``sent`` by one, ``received`` by
the other) is one row; retransmissions are marked; a message a traced element sent and
its traced destination never received is marked ``(not received)``.

Participants are named by ``names`` (``{(host, port): name}`` or ``{host: name}``), else
by the owner of the trace that used the address locally, else by the address itself.
Output is deterministic for a given input and readable in 100 columns.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from servers.dns import QueryLogEntry
from testbed.sip import fmt_hostport
from testbed.transport import HostPort, TraceEvent

WIDTH = 100
TIME_WIDTH = 9  # "  12.345 "
MIN_LABEL = 52  # "REGISTER sip:sip.example.com (CSeq 1 REGISTER)" fits on one line
LANE_MIN, LANE_MAX = 9, 18
DNS = "DNS"

_SENT = ("sent", "keepalive-sent")
_RECEIVED = ("received", "keepalive-received")
_FAILURES = ("connect-failed", "tls-failed", "send-failed")

_Key = tuple[object, ...]
"""What pairs a sent message with its receipt (transport, addresses, summary or bytes)."""

Names = Mapping[str | HostPort, str]
"""Participant names by address (``(host, port)``) or by host alone."""


@dataclass
class _Item:
    """One row-to-be: a message (paired sent/received), a connection event, a note."""

    time: float
    kind: str  # "message", "connection", "failure", "note", "dns"
    transport: str
    src: HostPort | None
    dst: HostPort | None
    label: str
    src_name: str = ""
    dst_name: str = ""
    sent: TraceEvent | None = None
    received: TraceEvent | None = None
    lost: bool = False


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


def _items(events: Iterable[TraceEvent], namer: _Namer) -> list[_Item]:
    """Pair each sent message with its receipt; keep the other events worth a row."""
    ordered = sorted(events, key=lambda e: e.time)
    by_summary: dict[_Key, deque[_Item]] = defaultdict(deque)
    by_data: dict[_Key, deque[_Item]] = defaultdict(deque)
    items: list[_Item] = []
    seen_connections: set[_Key] = set()
    sent_data: dict[_Key, int] = defaultdict(int)

    def message(event: TraceEvent, src: HostPort, dst: HostPort, received: bool) -> _Item:
        item = _Item(event.time, "message", event.transport, src, dst, event.summary,
                     sent=None if received else event, received=event if received else None)
        if event.data and event.kind in ("sent", "received"):
            copies = sent_data[(event.transport, src, dst, event.data)]
            sent_data[(event.transport, src, dst, event.data)] += 1
            if copies:
                item.label += f" [retransmission {copies}]"
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
            items.append(_Item(event.time, "failure", event.transport, _hp(event.local),
                               _hp(event.remote), _failure_label(event),
                               src_name=namer(event.local, event.owner)))
        elif event.kind == "bad-message":
            items.append(_Item(event.time, "failure", event.transport, _hp(event.remote),
                               _hp(event.local), f"✗ malformed: {_with_detail(event)}",
                               dst_name=namer(event.local, event.owner)))
        elif event.kind == "timeout":
            items.append(_Item(event.time, "failure", event.transport, _hp(event.local), None,
                               f"✗ {event.summary}", src_name=namer(event.local, event.owner)))
        elif event.kind == "note":
            items.append(_Item(event.time, "note", event.transport, _hp(event.local), None,
                               f"· {event.summary}", src_name=namer(event.local, event.owner)))
    for item in items:
        if item.kind == "message" and item.sent is not None and item.received is None:
            item.lost = namer(item.dst) in namer.owners and item.sent.kind == "sent"
    return items


def _address(address: HostPort) -> HostPort:
    """A plain ``(host, port)``: IPv6 addresses come with flow info and scope id."""
    return (address[0], address[1])


def _hp(address: HostPort | None) -> HostPort | None:
    return None if address is None else _address(address)


def _take(table: dict[_Key, deque[_Item]], keys: list[_Key]) -> _Item | None:
    for key in keys:
        queue = table.get(key)
        if queue:
            return queue.popleft()
    return None


def _discard(by_summary: dict[_Key, deque[_Item]], by_data: dict[_Key, deque[_Item]],
             item: _Item) -> None:
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


def _connection(event: TraceEvent) -> _Item:
    local, remote = _hp(event.local), _hp(event.remote)
    if event.kind == "closed":
        return _Item(event.time, "connection", event.transport, local, remote,
                     f"{event.transport} connection closed"
                     + (f": {event.detail}" if event.detail else ""))
    server_side = "(server)" in event.summary
    src, dst = (remote, local) if server_side else (local, remote)
    extra = event.summary.split(",", 1)[1].strip() if "," in event.summary else ""
    return _Item(event.time, "connection", event.transport, src, dst,
                 f"{event.transport} connected" + (f", {extra}" if extra else ""))


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
               dns_client: str) -> list[_Item]:
    items = []
    for entry in dns_log:
        client = (entry.client[0], entry.client[1])
        qname, qtype = entry.qname, entry.qtype
        question = f"{qtype} {qname}?" if qname else "(no question)"
        items.append(_Item(entry.time, "dns", entry.transport.upper(),
                           client, None, f"{question} → {_dns_outcome(entry)}",
                           src_name=namer.dns_source(client, dns_client),
                           dst_name=dns_name))
    return items


def _rows(events: Iterable[TraceEvent], dns_log: Iterable[QueryLogEntry], names: Names | None,
          dns_name: str, dns_client: str) -> tuple[_Namer, list[_Item]]:
    events = list(events)
    namer = _Namer(names, events)
    items = _items(events, namer) + _dns_items(dns_log, namer, dns_name, dns_client)
    items.sort(key=lambda i: i.time)  # stable: equal times keep the traces' order
    _name_items(items, namer)
    return namer, items


def _name_items(items: list[_Item], namer: _Namer) -> None:
    for item in items:
        if not item.src_name:
            item.src_name = namer(item.src)
        if not item.dst_name and item.dst is not None:
            item.dst_name = namer(item.dst)


# -- the ladder -------------------------------------------------------------------------


def ladder(events: Iterable[TraceEvent], dns_log: Iterable[QueryLogEntry] = (),
           names: Names | None = None, *, dns_name: str = DNS, dns_client: str = "client",
           width: int = WIDTH) -> str:
    """A plain-text sequence diagram of the SIP and DNS exchanges, one row per message.

    ``dns_log`` is the DNS server's query log (``QueryLogEntry``); each query is drawn
    from ``dns_client`` (the traced element that resolves) to a ``dns_name`` column,
    unless ``names`` names the query's source address or host.
    """
    namer, items = _rows(events, dns_log, names, dns_name, dns_client)
    if not items:
        return "(no messages)\n"
    participants = _participants(items, namer, dns_name)
    lanes = len(participants)
    lane = max(LANE_MIN, min(LANE_MAX, (width - TIME_WIDTH - MIN_LABEL) // lanes))
    centers = {name: TIME_WIDTH + i * lane + lane // 2 for i, name in enumerate(participants)}
    area = TIME_WIDTH + lanes * lane
    t0 = items[0].time

    lines = ["Participants:"]
    column = max(len(name) for name in participants) + 2
    for name in participants:
        where = _addresses(items, name, dns_name)
        lines.extend(textwrap.wrap(where, width, initial_indent=f"  {name:<{column}}",
                                   subsequent_indent=" " * (column + 2)) or [f"  {name}"])
    lines.append("Times in seconds from the first row; ✗ failed, [retransmission N] "
                 "repeats an identical packet.")
    lines.append("")
    lines.extend(_header(participants, centers, width))
    lines.append(" time(s)".ljust(TIME_WIDTH) + _lanes(centers, area)[TIME_WIDTH:])
    for item in items:
        row = list(_lanes(centers, area))
        _draw(row, item, centers)
        prefix = f"{item.time - t0:8.3f} " + "".join(row)[TIME_WIDTH:]
        label = item.label
        if item.kind == "message" and item.lost:
            label += " (not received)"
        room = max(20, width - area - 2)
        chunks = textwrap.wrap(label, room, break_long_words=True,
                               break_on_hyphens=False) or [""]
        lines.append(prefix + "  " + chunks[0])
        bars = _lanes(centers, area)
        lines.extend(bars + "  " + chunk for chunk in chunks[1:])
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _participants(items: list[_Item], namer: _Namer, dns_name: str) -> list[str]:
    """Named ones in the order of ``names``, then by first appearance; the DNS last."""
    seen = [name for item in items for name in (item.src_name, item.dst_name) if name]
    appearing = dict.fromkeys(seen)
    first = [name for name in namer.order if name in appearing]
    rest = [name for name in appearing if name not in first]
    ordered = first + [name for name in rest if name != dns_name]
    return ordered + ([dns_name] if dns_name in appearing else [])


def _header(participants: list[str], centers: dict[str, int], width: int) -> list[str]:
    """Names centred over their lanes.

    A name that would touch the one before it goes on the next line (staggered), so long
    names are never cut.
    """
    lines: list[list[str]] = []
    for name in participants:
        start = max(0, centers[name] - len(name) // 2)
        lo, hi = max(0, start - 1), start + len(name) + 1  # a space on each side
        for line in lines:
            if all(cell == " " for cell in line[lo:hi]):
                break
        else:
            line = [" "] * width
            lines.append(line)
        line[start:start + len(name)] = list(name)
    return ["".join(line).rstrip() for line in lines]


def _addresses(items: list[_Item], name: str, dns_name: str) -> str:
    found: dict[str, None] = {}
    for item in items:
        for address, who in ((item.src, item.src_name), (item.dst, item.dst_name)):
            if who == name and address is not None and address[1]:
                if item.kind == "dns":  # one socket per query: name the host only
                    found[f"{address[0]} (DNS queries)"] = None
                else:
                    found[f"{fmt_hostport(address)}/{item.transport}"] = None
    if name == dns_name and not found:
        return "the DNS server (its query log)"
    return ", ".join(found) or "-"


def _lanes(centers: dict[str, int], area: int) -> str:
    row = [" "] * area
    for x in centers.values():
        row[x] = "│"
    return "".join(row)


def _draw(row: list[str], item: _Item, centers: dict[str, int]) -> None:
    a = centers[item.src_name]
    if not item.dst_name or item.dst_name == item.src_name:
        row[a] = "✗" if item.kind == "failure" else "●"
        return
    b = centers[item.dst_name]
    body = "┄" if item.kind == "connection" else "─"
    step = 1 if b > a else -1
    for x in range(a + step, b, step):
        row[x] = body
    failed = item.kind == "failure" or (item.kind == "message" and item.lost)
    row[b - step] = "✗" if failed else ("▶" if step > 0 else "◀")
    tag = item.transport
    lo, hi = min(a, b) + 1, max(a, b) - 1  # the body, head included
    span = hi - lo + 1
    if span >= len(tag) + 4:
        start = lo + (span - len(tag)) // 2
        row[start:start + len(tag)] = list(tag)


# -- the message log --------------------------------------------------------------------


def message_log(events: Iterable[TraceEvent], names: Names | None = None, *,
                dns_log: Iterable[QueryLogEntry] = (), dns_name: str = DNS,
                dns_client: str = "client") -> str:
    """Every message in full, once, with a header line.

    The header says the time (from the same origin as the ladder's), who to whom,
    transport, addresses and size; connection events, failures and DNS queries are
    single lines between the messages.
    """
    _, items = _rows(events, dns_log, names, dns_name, dns_client)
    if not items:
        return "(no messages)\n"
    t0 = items[0].time
    out: list[str] = []
    for item in items:
        when = f"{item.time - t0:+.3f}"
        route = f"{fmt_hostport(item.src)} → {fmt_hostport(item.dst)}" if item.dst else \
            fmt_hostport(item.src)
        who = f"{item.src_name} → {item.dst_name}" if item.dst_name else item.src_name
        event = item.sent or item.received
        if item.kind != "message" or event is None or event.kind.startswith("keepalive"):
            out.append(f"--- {when}  {who}  {item.transport}  {route}  {item.label}")
            continue
        seen = []
        if item.sent is not None:
            seen.append(f"sent by {item.sent.owner or item.src_name}")
        if item.received is not None:
            seen.append(f"received by {item.received.owner or item.dst_name} at "
                        f"{item.received.time - t0:+.3f}")
        elif item.lost:
            seen.append("not received")
        out.append(f"=== {when}  {who}  {item.transport}  {route}  "
                   f"({len(event.data)} bytes; {', '.join(seen)})")
        out.append(f"    {item.label}")
        text = event.data.decode("utf-8", errors="backslashreplace")
        text = text.replace("\r\n", "\n")
        out.append(text.rstrip("\n") if text.strip() else repr(event.data))
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
