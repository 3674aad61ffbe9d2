"""The HTML report of a run: ``DIR/index.html`` and a page per scenario.

``DIR/index.html`` is the run at a glance: the counts, and a table of every requested
scenario (result, transport, troubleshooting row, findings, time) filtered in the page
by result, transport and row, each name linking to its page. A scenario's page,
``DIR/<scenario>/index.html`` beside its other artefacts, holds the diagnosis and the
findings, the world, the SVG ladder (click an arrow for the whole message, DNS answer
or TLS detail), the timeline in milliseconds, and links to the capture, the key log and
the message log. ``testbed serve --report-dir`` writes the same page for what it served.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from servers.dns import QueryLogEntry
from servers.faults import FaultRecord
from testbed.diagnosis import Diagnosis
from testbed.scenario import Endpoint, ScenarioResult
from testbed.sip import fmt_hostport
from testbed.transport import TraceEvent

from ._html import PAGE_FILE, write_page
from ._ladder import DNS, LadderModel, Names, Party, ladder_model
from ._ladder_svg import LadderView, ladder_view
from ._status import NOT_RUN, PASSED, SKIPPED, Entry, counts, identity, status, totals_line
from ._summary import format_duration

ARTEFACTS = (
    ("capture (pcapng, TLS keys inside)", "capture.pcapng"),
    ("TLS key log", "keys.log"),
    ("message log", "messages.log"),
    ("text ladder", "ladder.txt"),
    ("diagnosis", "diagnosis.txt"),
    ("result (JSON)", "result.json"),
)
"""The files a scenario's page links to, when they are in its folder."""

_STATUS_TEXT = {PASSED: "PASS", "failed": "FAIL", NOT_RUN: "NOT RUN", SKIPPED: "SKIP",
                "served": "SERVED"}


def page_path(report_dir: str | Path, name: str) -> Path:
    """Where the page of scenario ``name`` goes: ``report_dir/name/index.html``."""
    return Path(report_dir) / name / PAGE_FILE


def write_scenario_page(report_dir: str | Path, result: ScenarioResult, *,
                        in_run: bool = False) -> Path:
    """The page of one scenario run, beside its artefacts; ``in_run`` links the run's
    index (``../index.html``)."""
    scenario = result.scenario
    path = page_path(report_dir, scenario.name)
    outcome = status(result)
    page = {
        "name": scenario.name, "status": outcome, "status_text": _STATUS_TEXT[outcome],
        "what": f"scenario, {scenario.mode.upper()}, row {scenario.row}",
        "path": scenario.path, "description": scenario.description.strip(),
        "duration": format_duration(result.duration), "failures": list(result.failures),
        "error": result.skipped or result.error or "", "diagnosis": result.diagnosis,
        "index": f"../{PAGE_FILE}" if in_run else "",
        "endpoints": _endpoints(result.endpoints),
        "artefacts": _artefacts(path.parent),
        "ladder": world_ladder(result.trace_events, result.dns_log, result.fault_log,
                               result.endpoints, result.names),
    }
    return write_page(path, "scenario.html.j2", page=page)


def write_served_page(report_dir: str | Path, name: str, *, description: str = "",
                      path: str = "", events: Iterable[TraceEvent] = (),
                      dns_log: Iterable[QueryLogEntry] = (),
                      fault_log: Iterable[FaultRecord] = (),
                      endpoints: Sequence[Endpoint] = (),
                      names: Names | None = None, duration: float = 0.0) -> Path:
    """The scenario page of what ``testbed serve`` served: its world, ladder and
    artefacts; no verdict (a served world is judged by whoever used it)."""
    page_file = page_path(report_dir, name)
    page = {
        "name": name, "status": "served", "status_text": _STATUS_TEXT["served"],
        "what": "what testbed serve served", "path": path,
        "description": description.strip(), "duration": format_duration(duration),
        "failures": [], "error": "", "diagnosis": None, "index": "",
        "endpoints": _endpoints(endpoints), "artefacts": _artefacts(page_file.parent),
        "ladder": world_ladder(events, dns_log, fault_log, endpoints, names),
    }
    return write_page(page_file, "scenario.html.j2", page=page)


def world_ladder(events: Iterable[TraceEvent], dns_log: Iterable[QueryLogEntry],
                 fault_log: Iterable[FaultRecord], endpoints: Sequence[Endpoint],
                 names: Names | None) -> LadderView:
    """The drawing of a world's exchanges, its columns named and ordered by the world's
    endpoints (DNS server, client, faults and relays, registrars)."""
    given: dict[str | tuple[str, int], str] = dict(names or {})
    model = ladder_model(events, dns_log, given or None, fault_log=fault_log)
    if model.rows:
        model = replace(model, parties=model.parties + _silent_parties(model, endpoints))
    roles, notes = _roles(model, endpoints, given)
    return ladder_view(model, roles, notes)


def _silent_parties(model: LadderModel, endpoints: Sequence[Endpoint]) -> tuple[Party, ...]:
    """A column for each element of the world that no row reaches (a registrar behind a
    firewall that dropped everything, a DNS server nobody asked): its absence is the
    finding, so it is drawn."""
    used = {address.rsplit("/", 1)[0] for party in model.parties
            for address in party.addresses}
    names = {party.name for party in model.parties}
    silent: dict[str, list[str]] = {}
    for endpoint in endpoints:
        where = fmt_hostport((endpoint.host, endpoint.port))
        if endpoint.role == "dns":
            name = DNS
        elif endpoint.role.startswith("registrar "):
            name = endpoint.role.removeprefix("registrar ")
            name += " (external)" if endpoint.note.startswith("external") else ""
        elif endpoint.role in ("fault proxy", "relay"):
            name = "fault proxy"
        else:
            continue
        if name in names or where in used:
            continue
        silent.setdefault(name, []).append(f"{where}/{endpoint.transport}")
    return tuple(Party(name, tuple(addresses), name == DNS)
                 for name, addresses in silent.items())


def _roles(model: LadderModel, endpoints: Sequence[Endpoint], names: Names
           ) -> tuple[dict[str, str], dict[str, str]]:
    """Each party's role and a note for its header, from the endpoint at its address."""
    at: dict[tuple[str, int], Endpoint] = {(e.host, e.port): e for e in endpoints}
    hosts: dict[str, Endpoint] = {e.host: e for e in endpoints}
    roles: dict[str, str] = {"client": "client", DNS: "dns"}
    notes: dict[str, str] = {}
    for party in model.parties:
        if party.dns:
            dns = next((e for e in endpoints if e.role == "dns"), None)
            if dns is not None:
                notes[party.name] = f"DNS server {fmt_hostport((dns.host, dns.port))}"
            continue
        endpoint = None
        for address in party.addresses:
            hostport = address.rsplit("/", 1)[0]
            host, _, port = hostport.rpartition(":")
            host = host.strip("[]")
            endpoint = at.get((host, int(port))) if port.isdigit() else None
            endpoint = endpoint or (hosts.get(host) if names.get(host) == party.name else None)
            if endpoint is not None:
                break
        if endpoint is None:
            continue
        role = endpoint.role.split()[0]
        roles[party.name] = {"registrar": "registrar", "fault": "fault", "relay": "fault",
                             "client": "client",
                             "dns": "dns"}.get(role, "other")
        notes[party.name] = endpoint.note or endpoint.role
    return roles, notes


def _endpoints(endpoints: Iterable[Endpoint]) -> list[dict[str, str]]:
    return [{"role": e.role, "transport": e.transport, "note": e.note,
             "address": fmt_hostport((e.host, e.port))} for e in endpoints]


def _artefacts(folder: Path) -> list[tuple[str, str]]:
    return [(label, name) for label, name in ARTEFACTS if (folder / name).exists()]


# -- the run's index ----------------------------------------------------------------------


def write_index(report_dir: str | Path, entries: Sequence[Entry], *,
                interrupted: str | None = None) -> Path:
    """``report_dir/index.html``: the counts and the filterable table of ``entries``,
    each linking to its page when it has one."""
    report_dir = Path(report_dir)
    rows = [_index_row(report_dir, entry) for entry in entries]
    filters = [(key, label, sorted({str(r[key]) for r in rows if r[key]}))
               for key, label in (("status", "result"), ("transport", "transport"),
                                  ("row", "row"))]
    filters = [("result" if key == "status" else key, label, options)
               for key, label, options in filters]
    run = {"totals": totals_line(entries), "counts": counts(entries), "rows": rows,
           "filters": filters, "interrupted": interrupted or ""}
    return write_page(report_dir / PAGE_FILE, "index.html.j2", run=run)


def _index_row(report_dir: Path, entry: Entry) -> dict[str, Any]:
    ident = identity(entry)
    outcome = status(entry)
    page = page_path(report_dir, ident.name)
    diagnosis: Diagnosis | None = entry.diagnosis if isinstance(entry, ScenarioResult) else None
    summary = (getattr(entry, "skipped", None) or (diagnosis.symptom if diagnosis is not None
               else getattr(entry, "reason", "") or getattr(entry, "error", "") or ""))
    return {
        "name": ident.name, "status": outcome, "status_text": _STATUS_TEXT[outcome],
        "transport": ident.mode.upper(), "row": ident.row,
        "findings": list(diagnosis.finding_ids) if diagnosis is not None else [],
        "time": format_duration(ident.duration), "summary": summary,
        "page": f"{ident.name}/{PAGE_FILE}"
        if isinstance(entry, ScenarioResult) and page.exists() else "",
    }
