"""``testbed run PATH...``: run scenario files or folders; exit 0 only if all held.

Every requested scenario is reported (console, ``--json``, ``--junit``): passed,
failed, skipped (a client program under test that is not installed, outside CI) or not
run. SIGINT or SIGTERM stops the run at once: the scenario in flight is
cancelled (its world stopped), it and the rest are reported as not run, and the exit
code is 130 or 143. Exit 0 only when every requested scenario ran and passed (or was
skipped).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from twisted.internet import defer

from testbed.load import load_step
from testbed.netns import isolate_worlds
from testbed.reactor import IReactor
from testbed.report import (
    NOT_RUN,
    Entry,
    NotRun,
    RunConsole,
    counts,
    make_console,
    write_index,
    write_json,
    write_junit,
    write_scenario_report,
)
from testbed.scenario import Scenario, ScenarioResult, run

from ._catalogue import load_all
from ._interrupt import Interruption
from ._react import react
from ._workdir import work_directory


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser("run", help="run scenario files or folders",
                              description="Run scenarios; exit 0 only if every requested "
                                          "scenario ran and its expectations held (1 if "
                                          "not; 130/143 when interrupted by SIGINT/SIGTERM).")
    run.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or folders")
    run.add_argument("--json", metavar="FILE", help="write the results as JSON")
    run.add_argument("--junit", metavar="FILE", help="write the results as JUnit XML")
    run.add_argument("--report-dir", metavar="DIR",
                     help="an HTML report (DIR/index.html, a page per scenario) and each "
                          "scenario's ladder, message log, pcap and TLS key log")
    run.add_argument("--keep-temp", action="store_true",
                     help="keep the worlds' temporary files (CA certificates) and print where")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="print the diagnosis, the findings and the ladder of every scenario")
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    interruption = Interruption()
    with interruption.handling():
        return _run_scenarios(args, interruption)


def _run_scenarios(args: argparse.Namespace, interruption: Interruption) -> int:
    scenarios, errors = load_all(args.paths)
    for error in errors:
        print(error, file=sys.stderr)
    if not scenarios:
        print("no scenarios to run", file=sys.stderr)
        return 1
    if (note := isolate_worlds(scenarios)) is not None:  # ports below 1024 without root
        print(f"testbed run: {note}", file=sys.stderr)
    report_dir = Path(args.report_dir) if args.report_dir else None
    console = RunConsole(make_console(), verbose=args.verbose, report_dir=report_dir)
    entries: list[Entry] = []
    output_closed: list[bool] = []

    async def run_all(reactor: IReactor) -> None:
        interruption.attach(reactor)
        total = len(scenarios)
        for index, scenario in enumerate(scenarios, start=1):
            if interruption.signal is not None:
                return
            console.started(index, total, scenario.name, reactor)
            entry = await _run_one(scenario, reactor, interruption, workdir, report_dir)
            entries.append(entry)
            try:
                console.finished(index, total, entry)
            except BrokenPipeError:
                output_closed.append(True)
                return
            if isinstance(entry, NotRun):
                return

    with work_directory("run", keep=args.keep_temp, given=args.report_dir) as workdir:
        code = react(run_all)
    reason = ("the run was interrupted by " + interruption.name if interruption.signal
              else "the output was closed" if output_closed
              else f"the run stopped (exit {code})")
    entries += [NotRun.of(scenario, reason) for scenario in scenarios[len(entries):]]
    entries += [NotRun.unloaded(error.path, str(error)) for error in errors]
    try:
        if not output_closed:
            console.summary(entries)
    except BrokenPipeError:
        output_closed.append(True)
    finally:
        console.close()
    if report_dir is not None:
        write_index(report_dir, entries, interrupted=interruption.name or None)
    if args.json:
        write_json(args.json, entries, interrupted=interruption.name or None,
                   report_dir=report_dir)
    if args.junit:
        write_junit(args.junit, entries, report_dir=report_dir)
    if interruption.signal is not None:
        print(f"interrupted: {counts(entries)[NOT_RUN]} not run", file=sys.stderr)
        return interruption.exit_code
    if output_closed:
        raise BrokenPipeError("the output was closed")  # the entry point leaves quietly
    if code:
        return code
    every_passed = all(isinstance(e, ScenarioResult) and (e.passed or e.skipped)
                       for e in entries)
    return 0 if every_passed else 1


async def _run_one(scenario: Scenario, reactor: IReactor, interruption: Interruption,
                   workdir: Path, report_dir: Path | None) -> Entry:
    """Run one scenario; a :class:`NotRun` if a signal cancelled it in flight."""
    keylog = _keylog_path(report_dir, scenario.name)
    started = reactor.seconds()
    running = defer.ensureDeferred(run(scenario, reactor, keylog_path=keylog,
                                       workdir=workdir / scenario.name,
                                       steps={"load": load_step}))
    try:
        result = await interruption.watch(running)
    except defer.CancelledError:
        return NotRun.of(scenario, f"interrupted by {interruption.name} while running",
                         reactor.seconds() - started)
    if report_dir is not None:
        write_scenario_report(report_dir, result, keylog, in_run=True)
    return result


def _keylog_path(report_dir: Path | None, name: str) -> str | None:
    if report_dir is None:
        return None
    folder = report_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "keys.log"
    path.write_text("")
    return str(path)
