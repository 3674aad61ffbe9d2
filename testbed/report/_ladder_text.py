"""The ladder as plain text (``ladder.txt``, the console) and the message log.

Both render a :class:`~testbed.report._ladder.LadderModel`: one row per message, the
parties as columns, times in seconds from the first row.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from servers.dns import QueryLogEntry
from testbed.sip import fmt_hostport
from testbed.transport import TraceEvent

from ._ladder import DNS, LadderModel, LadderRow, Names, ladder_model

WIDTH = 100
TIME_WIDTH = 9  # "  12.345 "
MIN_LABEL = 52  # "REGISTER sip:sip.example.com (CSeq 1 REGISTER)" fits on one line
LANE_MIN, LANE_MAX = 9, 18


def ladder(events: Iterable[TraceEvent], dns_log: Iterable[QueryLogEntry] = (),
           names: Names | None = None, *, dns_name: str = DNS, dns_client: str = "client",
           width: int = WIDTH) -> str:
    """A plain-text sequence diagram of the SIP and DNS exchanges, one row per message.

    ``dns_log`` is the DNS server's query log (``QueryLogEntry``); each query is drawn
    from ``dns_client`` (the traced element that resolves) to a ``dns_name`` column,
    unless ``names`` names the query's source address or host.
    """
    model = ladder_model(events, dns_log, names, dns_name=dns_name, dns_client=dns_client)
    return ladder_text(model, width=width)


def ladder_text(model: LadderModel, *, width: int = WIDTH) -> str:
    """The plain-text rendering of ``model`` in ``width`` columns."""
    items = list(model.rows)
    if not items:
        return "(no messages)\n"
    participants = [party.name for party in model.parties]
    lanes = len(participants)
    lane = max(LANE_MIN, min(LANE_MAX, (width - TIME_WIDTH - MIN_LABEL) // lanes))
    centers = {name: TIME_WIDTH + i * lane + lane // 2 for i, name in enumerate(participants)}
    area = TIME_WIDTH + lanes * lane
    t0 = items[0].time

    lines = ["Participants:"]
    column = max(len(name) for name in participants) + 2
    for party in model.parties:
        name, where = party.name, party.where
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


def _lanes(centers: dict[str, int], area: int) -> str:
    row = [" "] * area
    for x in centers.values():
        row[x] = "│"
    return "".join(row)


def _draw(row: list[str], item: LadderRow, centers: dict[str, int]) -> None:
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
    model = ladder_model(events, dns_log, names, dns_name=dns_name, dns_client=dns_client)
    items = list(model.rows)
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
