"""What the faults did, as pcapng packet comments: which fault dropped, delayed, refused
or rewrote each packet of the capture.

A fault proxy logs a :class:`~servers.faults.FaultRecord` per decision (time, source,
size, carrier); the capture holds the packets. :func:`fault_comments` pairs them: the
packet a record speaks of is the earliest one from the record's source, on its carrier,
of its size, that no earlier record judged (every packet the proxy reads gets one:
``forwarded``, ``delayed`` or ``dropped``); a delayed packet's forwarded copy is the
first later one with the same bytes. A NAT's ``new-binding`` marks every packet that
uses the external address it gave a client while the binding lived (the proxy rewrote
the address); a port's ``policy`` (a kernel-level drop or reject: no packet reaches
userland) marks every packet sent to that port. A ``rejected`` connection marks its end.
Wireshark shows the comments in the packet list
(``frame.comment``); ``tshark -Y frame.comment`` lists the packets a fault touched.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence

from servers.faults import FaultRecord
from testbed.sip import Transport, fmt_hostport
from testbed.transport import CapturedSegment, HostPort

_SLACK = 0.001  # the record is stamped when the proxy reads the packet: after it left
_WINDOW = 1.0
_NAT_MARK = "without outbound traffic"  # in a binding's detail when a NAT made it

Comments = dict[int, list[str]]
"""Packet comments by index of the segment in the capture."""


def fault_comments(segments: Sequence[CapturedSegment],
                   fault_log: Iterable[FaultRecord]) -> Comments:
    """The comments to attach to ``segments`` (by index) for what the faults did."""
    comments: Comments = defaultdict(list)
    taken: set[int] = set()
    records = list(fault_log)
    by_source = _by_source(segments)
    for record in records:
        if record.action in ("forwarded", "dropped", "delayed"):
            index = _packet_of(segments, by_source, record, taken)
            if index is None:
                continue
            taken.add(index)
            if record.action == "forwarded":
                continue
            comments[index].append(_what(record))
            if record.action == "delayed":
                later = _forwarded_copy(segments, index, record)
                if later is not None:
                    comments[later].append(f"fault {record.fault}: forwarded "
                                           f"{record.delay * 1000:.1f} ms late (delayed)")
        elif record.action == "rejected" and record.source is not None:
            source = _plain(record.source)
            for index, segment in enumerate(segments):
                if (segment.flags in ("FIN", "RST") and source in (segment.src, segment.dst)
                        and 0 <= segment.time - record.time <= _WINDOW):
                    comments[index].append(f"fault {record.fault}: rejected: {record.detail}")
                    break
        elif record.action == "new-binding" and _NAT_MARK in record.detail:
            _mark_rewrites(segments, record, _expiry(records, record), comments)
        elif record.action == "policy" and record.destination is not None:
            _mark_policy(segments, record, comments)
    return dict(comments)


def _plain(address: HostPort) -> HostPort:
    return (address[0], address[1])


def _carrier(transport: str) -> str:
    try:
        return Transport.parse(transport).carrier.value
    except ValueError:
        return transport


_Index = dict[tuple[HostPort, str], tuple[list[float], list[int]]]


def _by_source(segments: Sequence[CapturedSegment]) -> _Index:
    """The packets that carry bytes, by source and carrier: their times and indices."""
    index: _Index = {}
    for number, segment in enumerate(segments):
        if segment.data and not segment.flags:
            times, numbers = index.setdefault((segment.src, segment.transport), ([], []))
            times.append(segment.time)
            numbers.append(number)
    return index


def _packet_of(segments: Sequence[CapturedSegment], by_source: _Index, record: FaultRecord,
               taken: set[int]) -> int | None:
    """The packet ``record`` judged: the proxy judges a source's packets in the order
    they came, and every one gets a record (forwarded, delayed or dropped), so it is the
    earliest one from that source, of that size (else of any size), not judged yet."""
    if record.source is None:
        return None
    times, numbers = by_source.get((_plain(record.source), _carrier(record.transport)),
                                   ([], []))
    low = bisect_left(times, record.time - _WINDOW)
    high = bisect_right(times, record.time + _SLACK)
    candidates = [number for number in numbers[low:high] if number not in taken]
    sized = [number for number in candidates if len(segments[number].data) == record.size]
    chosen = sized or candidates
    return chosen[0] if chosen else None


def _what(record: FaultRecord) -> str:
    text = f"fault {record.fault}: {record.action}"
    if record.action == "delayed":
        text += f" by {record.delay * 1000:.1f} ms"
    if record.size:
        text += f" ({record.size} bytes {record.direction})"
    return text + (f": {record.detail}" if record.detail else "")


def _forwarded_copy(segments: Sequence[CapturedSegment], index: int,
                    record: FaultRecord) -> int | None:
    held = segments[index]
    for later in range(index + 1, len(segments)):
        segment = segments[later]
        if (segment.data == held.data and segment.src != held.src
                and segment.time >= record.time + record.delay - _SLACK):
            return later
    return None


def _expiry(records: Sequence[FaultRecord], binding: FaultRecord) -> float:
    """When the NAT forgot ``binding`` (``inf`` if it never did)."""
    return min((r.time for r in records if r.action == "expired" and r.time >= binding.time
                and r.source == binding.source and r.destination == binding.destination),
               default=float("inf"))


def _mark_rewrites(segments: Sequence[CapturedSegment], record: FaultRecord, until: float,
                   comments: Comments) -> None:
    """Every packet from or to the external address a NAT gave a client, while the
    binding lived."""
    if record.source is None or record.destination is None:
        return
    internal, external = _plain(record.source), _plain(record.destination)
    carrier = _carrier(record.transport)
    for index, segment in enumerate(segments):
        if (segment.transport != carrier or segment.time < record.time - _SLACK
                or segment.time > until):
            continue
        if segment.src == external:
            comments[index].append(f"fault {record.fault}: source {fmt_hostport(internal)} "
                                   f"rewritten as {fmt_hostport(external)}")
        elif segment.dst == external:
            comments[index].append(f"fault {record.fault}: to the NAT's external address "
                                   f"{fmt_hostport(external)}, forwarded to "
                                   f"{fmt_hostport(internal)}")


def _mark_policy(segments: Sequence[CapturedSegment], record: FaultRecord,
                 comments: Comments) -> None:
    """Every packet sent to a port whose fault the kernel carries out (drop, reject)."""
    if "relays to" in record.detail:  # a proxy: its packets are judged one by one
        return
    assert record.destination is not None
    port = _plain(record.destination)
    carrier = _carrier(record.transport)
    for index, segment in enumerate(segments):
        if segment.transport == carrier and segment.dst == port:
            detail = record.detail.removeprefix(f"{record.fault}: ")
            comments[index].append(f"fault {record.fault}: {detail}")
