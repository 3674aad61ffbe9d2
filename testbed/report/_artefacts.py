"""The ``--report-dir`` artefacts of one scenario: ladder, message log, pcap, TLS keys."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from testbed.transport import CapturedSegment, TraceEvent

from ._ladder import Names, ladder, message_log
from ._pcap import KEYS_FILE, write_pcap

LADDER_FILE = "ladder.txt"
MESSAGES_FILE = "messages.log"
PCAP_FILE = "capture.pcapng"


def write_artefacts(report_dir: str | Path, name: str, trace_events: Iterable[TraceEvent],
                    dns_log: Iterable[object] = (),
                    capture: Iterable[CapturedSegment] | None = None,
                    keylog_text: str | None = None, *,
                    names: Names | None = None) -> dict[str, Path]:
    """Write ``ladder.txt``, ``messages.log``, ``capture.pcapng`` and ``keys.log`` into
    ``report_dir/name/`` and return them by kind (``ladder``, ``messages``, ``pcap``,
    ``keys``).

    ``capture`` is a :class:`~testbed.transport.Capture` or its segments (``None``: a
    pcap with no packets); ``keylog_text`` the SSLKEYLOGFILE lines of the run, embedded
    in the pcap and written as ``keys.log`` (empty when there was no TLS).
    """
    folder = Path(report_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    events = list(trace_events)
    dns_entries = list(dns_log)
    paths = {"ladder": folder / LADDER_FILE, "messages": folder / MESSAGES_FILE,
             "pcap": folder / PCAP_FILE, "keys": folder / KEYS_FILE}
    paths["ladder"].write_text(ladder(events, dns_entries, names), encoding="utf-8")
    paths["messages"].write_text(message_log(events, names, dns_log=dns_entries),
                                 encoding="utf-8")
    write_pcap(paths["pcap"], list(capture) if capture is not None else [],
               keylog_text or "")
    return paths
