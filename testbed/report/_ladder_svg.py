"""The ladder as an SVG drawing with a detail for every row: the HTML report's rendering.

It draws the same :class:`~testbed.report._ladder.LadderModel` as the text ladder: a
column per party (the DNS server, the client, each fault proxy or relay, each
registrar, with the addresses each used), an arrow per row in time order, the time in
milliseconds from the first row on the left. What a row is decides how it is drawn
(its ``style``, a CSS class): retransmissions dashed, drops by a fault and messages
never received ending in a cross, refused connections and TLS handshake failures in
their own colours, DNS queries dotted towards the DNS column, notes as a dot on the
party's line. Each row carries a :class:`Detail`: the whole message, the DNS answer or
the TLS failure, shown when the row is clicked.

The geometry is computed here; the template (``ladder.svg.j2``) only writes it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from testbed.sip import fmt_hostport

from ._ladder import LadderModel, LadderRow, Party

COLUMN = 240  # px between two party lines
LEFT = 78  # the time axis
ROW = 30
LINE = 13  # one line of header text
CHAR = 6.2  # the average width of an 11 px sans-serif character
MAX_ADDRESSES = 4

ROLE_ORDER = ("dns", "client", "fault", "registrar", "other")
"""Columns from left to right: the DNS server, the client, faults and relays, registrars."""


@dataclass(frozen=True)
class Detail:
    """What clicking a row shows: a heading, facts (term, value) and the whole text."""

    heading: str
    facts: tuple[tuple[str, str], ...]
    body: str = ""
    body_label: str = ""


@dataclass(frozen=True)
class Column:
    x: float
    name: str
    role: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Arrow:
    """One drawn row. ``x1 == x2`` draws a mark on one line (a note, a timeout)."""

    index: int
    y: float
    x1: float
    x2: float
    style: str
    label: str
    text: str
    title: str
    time_ms: str
    kind: str
    detail: Detail
    src: str = ""
    dst: str = ""
    transport: str = ""
    full: str = ""
    retransmission: int = 0

    @property
    def classes(self) -> str:
        """The CSS classes of the row: its style, and ``retransmission`` too when a
        retransmitted packet was also dropped, delayed or lost (both show)."""
        extra = " retransmission" if self.retransmission and self.style != "retransmission" \
            else ""
        return self.style + extra

    @property
    def right(self) -> bool:
        return self.x2 >= self.x1

    @property
    def text_x(self) -> float:
        return min(self.x1, self.x2) + 6 if self.x1 != self.x2 else self.x1 + 10

    @property
    def head_x(self) -> float:
        """Where the arrow head (or cross) sits: just short of the receiving line."""
        return self.x2 - 4 if self.right else self.x2 + 4


@dataclass(frozen=True)
class LadderView:
    """Everything the template draws."""

    width: float
    height: float
    top: float
    columns: tuple[Column, ...]
    arrows: tuple[Arrow, ...] = field(default_factory=tuple)


def ladder_view(model: LadderModel, roles: Mapping[str, str] | None = None,
                notes: Mapping[str, str] | None = None) -> LadderView:
    """The drawing of ``model``: columns ordered by role (``roles``: party name → one
    of :data:`ROLE_ORDER`; guessed when absent), ``notes`` printed under a name."""
    roles = dict(roles or {})
    parties = sorted(model.parties, key=lambda p: ROLE_ORDER.index(_role(p, roles)))
    header = max((_header_lines(p, notes) for p in parties), key=len, default=())
    top = 24 + LINE * len(header) + 14
    xs = {p.name: LEFT + COLUMN * i + COLUMN / 2 for i, p in enumerate(parties)}
    columns = tuple(Column(xs[p.name], p.name, _role(p, roles), _header_lines(p, notes))
                    for p in parties)
    width = LEFT + COLUMN * max(len(parties), 1) + 10
    arrows = tuple(_arrow(index, row, model, xs, top + ROW * (index + 1), width)
                   for index, row in enumerate(model.rows))
    return LadderView(width, top + ROW * (len(model.rows) + 1), top, columns, arrows)


def _role(party: Party, roles: Mapping[str, str]) -> str:
    role = roles.get(party.name)
    if role in ROLE_ORDER:
        return role
    if party.dns:
        return "dns"
    if party.name == "client":
        return "client"
    if "fault" in party.name or "relay" in party.name:
        return "fault"
    return "other"


def _header_lines(party: Party, notes: Mapping[str, str] | None) -> tuple[str, ...]:
    lines = [notes[party.name]] if notes and notes.get(party.name) else []
    addresses = list(party.addresses) or ([] if lines and party.dns else [party.where])
    lines += addresses[:MAX_ADDRESSES]
    if len(addresses) > MAX_ADDRESSES:
        lines.append(f"+{len(addresses) - MAX_ADDRESSES} more")
    return tuple(_cut(line, COLUMN - 8) for line in lines)


def _cut(text: str, pixels: float) -> str:
    room = max(4, int(pixels / CHAR))
    return text if len(text) <= room else text[:room - 1] + "…"


def _arrow(index: int, row: LadderRow, model: LadderModel, xs: Mapping[str, float],
           y: float, width: float) -> Arrow:
    x1 = xs[row.src_name]
    x2 = xs[row.dst_name] if row.dst_name and row.dst_name != row.src_name else x1
    label = row_label(row)
    room = abs(x2 - x1) - 12 if x1 != x2 else width - x1 - 16
    when = f"{(row.time - model.t0) * 1000:.1f}"
    drawn = _cut(row_label(row, short=True), room)
    return Arrow(index, y, x1, x2, row.style, short_label(row), drawn, f"{when} ms  {label}",
                 when, row.kind, row_detail(row, model.t0), row.src_name, row.dst_name,
                 row.transport, label, row.retransmission)


def short_label(row: LadderRow) -> str:
    """A message's method or status (``REGISTER``, ``401 Unauthorized``); the label of
    any other row."""
    if row.kind != "message" or row.style == "keepalive":
        return row.label
    event = row.sent or row.received
    head = (event.summary if event is not None else row.label).split(" (CSeq", 1)[0]
    if head[:3].isdigit():
        return head
    return head.split(" ", 1)[0] or row.label


def row_label(row: LadderRow, *, short: bool = False) -> str:
    """What the drawing prints on a row: method or status, transport and size for a
    message, with what happened to it; the text ladder's label for any other row.

    ``short`` makes it fit an arrow (``↻2 REGISTER · UDP · 376 B ✗ firewall``); the
    whole one is the row's tooltip and timeline line.
    """
    if row.kind != "message" or row.style == "keepalive":
        return row.label
    text = f"{short_label(row)} · {row.transport} · {len(row.data)} B"
    count, fault, delay = row.retransmission, row.fault, f"{row.delay * 1000:.0f} ms"
    if count:
        text = f"↻{count} {text}" if short else f"↻ {text} (retransmission {count})"
    if row.fault_action == "dropped":
        text += f" ✗ {fault}" if short else f" ✗ dropped by {fault}"
    elif row.fault_action == "delayed":
        text += f" ⏱+{delay} {fault}" if short else f" ⏱ delayed {delay} by {fault}"
    elif row.lost:
        text += " ✗ lost" if short else " ✗ not received"
    return text


def row_detail(row: LadderRow, t0: float) -> Detail:
    """The whole of one row: the message, the DNS answer, the failure."""
    def at(time: float) -> str:
        return f"{(time - t0) * 1000:.3f} ms"

    route = f"{row.src_name} → {row.dst_name}" if row.dst_name else row.src_name
    facts: list[tuple[str, str]] = [("time", at(row.time)), ("transport", row.transport)]
    if row.src is not None and row.src[1]:
        facts.append(("from", f"{row.src_name} {fmt_hostport(row.src)}"))
    if row.dst is not None:
        facts.append(("to", f"{row.dst_name} {fmt_hostport(row.dst)}"))
    if row.query is not None:
        return _dns_detail(row, route, facts)
    if row.kind == "message":
        facts.append(("size", f"{len(row.data)} bytes"))
        if row.sent is not None:
            facts.append(("sent", f"by {row.sent.owner or row.src_name} at {at(row.sent.time)}"))
        if row.received is not None:
            facts.append(("received", f"by {row.received.owner or row.dst_name} at "
                                      f"{at(row.received.time)}"))
        elif row.lost:
            facts.append(("received", "never"))
        if row.retransmission:
            facts.append(("retransmission", f"{row.retransmission} (an identical packet "
                                            "was sent before)"))
        if row.fault_action:
            what = row.fault_action + (f" by {row.delay * 1000:.1f} ms"
                                       if row.fault_action == "delayed" else "")
            facts.append(("fault", f"{row.fault}: {what}"
                                   + (f" ({row.fault_detail})" if row.fault_detail else "")))
        text = row.data.decode("utf-8", errors="backslashreplace").replace("\r\n", "\n")
        return Detail(f"{short_label(row)}: {route}", tuple(facts),
                      text if text.strip() else repr(row.data), "message")
    event = row.event
    if event is not None:
        facts.append(("event", event.kind + (f" (seen by {event.owner})" if event.owner else "")))
        if event.detail:
            facts.append(("detail", event.detail))
    body = event.summary if event is not None else row.label
    label = {"tls-failed": "TLS handshake", "refused": "connection attempt",
             "unanswered": "connection attempt"}.get(row.style, row.kind)
    return Detail(f"{row.label}: {route}", tuple(facts), body, label)


def _dns_detail(row: LadderRow, route: str, facts: list[tuple[str, str]]) -> Detail:
    entry = row.query
    assert entry is not None
    facts += [("query", f"{entry.qtype} {entry.qname}" if entry.qname else "(no question)"),
              ("answer", entry.rcode or "none sent")]
    if entry.truncated:
        facts.append(("truncated", "yes (TC): the client should retry over TCP"))
    if entry.fault:
        facts.append(("fault", entry.fault))
    if entry.note:
        facts.append(("note", entry.note))
    if entry.size:
        facts.append(("size", f"{entry.size} bytes"))
    body = "\n".join(entry.answer) if entry.answer else "(no records in the answer)"
    return Detail(f"DNS {entry.qtype} {entry.qname}: {route}", tuple(facts), body,
                  "DNS answer")
