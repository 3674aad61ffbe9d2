"""``--report-dir``: the artefacts of one scenario run, in ``DIR/<scenario name>/``.

``diagnosis.txt`` and ``result.json`` say what happened; ``ladder.txt``,
``messages.log``, ``capture.pcapng`` and ``keys.log`` show how; ``index.html`` shows it
all as one page (an SVG ladder, the diagnosis, links to the rest).
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterable
from pathlib import Path

from servers.dns import QueryLogEntry
from servers.faults import FaultRecord
from testbed.scenario import ScenarioResult, World
from testbed.transport import CapturedSegment, HostPort, TraceEvent

from ._html_run import write_scenario_page, write_served_page
from ._json_junit import result_json
from ._ladder import Names
from ._ladder_text import WIDTH, ladder, message_log
from ._pcap import KEYS_FILE, write_pcap
from ._pcap_faults import fault_comments
from ._summary import diagnosis_text

LADDER_FILE = "ladder.txt"
MESSAGES_FILE = "messages.log"
PCAP_FILE = "capture.pcapng"


def write_artefacts(report_dir: str | Path, name: str, trace_events: Iterable[TraceEvent],
                    dns_log: Iterable[QueryLogEntry] = (),
                    capture: Iterable[CapturedSegment] | None = None,
                    keylog_text: str | None = None, *,
                    names: Names | None = None,
                    fault_log: Iterable[FaultRecord] = ()) -> dict[str, Path]:
    """Write the ladder, message log, pcap and TLS keys of one scenario.

    ``ladder.txt``, ``messages.log``, ``capture.pcapng`` and ``keys.log`` go into
    ``report_dir/name/``; they are returned by kind (``ladder``, ``messages``, ``pcap``,
    ``keys``).

    ``capture`` is a :class:`~testbed.transport.Capture` or its segments (``None``: a
    pcap with no packets); ``keylog_text`` the SSLKEYLOGFILE lines of the run, embedded
    in the pcap and written as ``keys.log`` (empty when there was no TLS); ``fault_log``
    what the faults did: a comment on each packet they dropped, delayed, refused or
    rewrote.
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
    segments = list(capture) if capture is not None else []
    write_pcap(paths["pcap"], segments, keylog_text or "",
               comments=fault_comments(segments, fault_log))
    return paths


def write_served_ladder(folder: Path, events: Iterable[TraceEvent],
                        dns_log: Iterable[QueryLogEntry] = (), names: Names | None = None,
                        *, owners: Container[str] | None = None, dropped: int = 0) -> Path:
    """``folder/ladder.txt`` of a served world: the events it still holds, of ``owners``
    when given (its servers and relays; the phones it serves are addresses, untraced).

    A world left running keeps its last events (a ring); ``dropped`` of them left it,
    and the ladder says so: the message log and the capture, streamed, have them all.
    """
    kept = [event for event in events if owners is None or event.owner in owners]
    text = ladder(kept, dns_log, names)
    if dropped:
        text = (f"(the last {len(kept)} events; the {dropped} before them left the world's "
                f"memory: {MESSAGES_FILE} and {PCAP_FILE} have every message)\n\n" + text)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LADDER_FILE
    path.write_text(text, encoding="utf-8")
    return path


def write_scenario_report(report_dir: Path, result: ScenarioResult,
                          keylog: str | None, *, in_run: bool = False) -> Path:
    """Write diagnosis.txt, result.json, the ladder, message log and pcap, and the page
    (``index.html``; ``in_run``: it links the run's index one folder up)."""
    folder = Path(report_dir) / result.scenario.name
    folder.mkdir(parents=True, exist_ok=True)
    diagnosis = result.diagnosis
    lines = [f"scenario: {result.scenario.name} ({result.scenario.path})",
             f"result: {'PASS' if result.passed else 'FAIL'}"]
    lines += [f"  {failure}" for failure in result.failures]
    if diagnosis is not None:
        lines += ["", diagnosis_text(diagnosis)]
    lines += ["", "world:"] + [f"  {endpoint}" for endpoint in result.endpoints]
    (folder / "diagnosis.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "result.json").write_text(json.dumps(result_json(result), indent=2) + "\n",
                                        encoding="utf-8")
    keylog_text = Path(keylog).read_text() if keylog and Path(keylog).exists() else None
    write_artefacts(Path(report_dir), result.scenario.name, result.trace_events,
                    result.dns_log, result.capture, keylog_text, names=_names(result),
                    fault_log=result.fault_log)
    write_scenario_page(report_dir, result, in_run=in_run)
    return folder


def write_world_page(report_dir: str | Path, world: World, *, duration: float = 0.0,
                     owners: Container[str] | None = None) -> Path:
    """The page of what a world served (``testbed serve --report-dir``), from what it
    recorded: ``ladder.txt`` (of ``owners``' events when given: a served world's servers
    and relays), ``messages.log`` unless serve already streamed it, and ``index.html``
    in ``report_dir/<scenario>/``, beside the capture and key log if they are there
    (serve streams those). Call it once the world stopped; returns the page's path."""
    scenario = world.scenario
    folder = Path(report_dir) / scenario.name
    events = [event for event in world.trace.events if owners is None or event.owner in owners]
    dns_log = world.dns_log
    names: dict[str | HostPort, str] = dict(world.names)
    write_served_ladder(folder, events, dns_log, names or None, dropped=world.trace.dropped)
    if not (folder / MESSAGES_FILE).exists():
        (folder / MESSAGES_FILE).write_text(message_log(events, names or None, dns_log=dns_log),
                                            encoding="utf-8")
    return write_served_page(report_dir, scenario.name, description=scenario.description,
                             path=scenario.path, events=events, dns_log=dns_log,
                             fault_log=world.fault_log, endpoints=world.endpoints,
                             names=names or None, duration=duration)


def scenario_ladder(result: ScenarioResult, *, width: int = WIDTH) -> str:
    """The ladder of one scenario run (its SIP and DNS exchanges), ``width`` columns."""
    return ladder(result.trace_events, result.dns_log, _names(result), width=width)


def _names(result: ScenarioResult) -> Names | None:
    names: dict[str | HostPort, str] = {host: name for host, name in result.names.items()}
    return names or None
