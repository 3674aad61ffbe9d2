"""``testbed run PATH...``: run scenario files or folders; exit 0 only if all held."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from testbed.load import load_step
from testbed.netns import isolate_worlds
from testbed.reactor import IReactor
from testbed.report import (
    failure_details,
    progress_line,
    summary_table,
    write_json,
    write_junit,
    write_scenario_report,
)
from testbed.scenario import ScenarioResult, run

from ._catalogue import load_all
from ._react import react
from ._workdir import work_directory


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser("run", help="run scenario files or folders",
                              description="Run scenarios; exit 0 only if every expectation held.")
    run.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or folders")
    run.add_argument("--json", metavar="FILE", help="write the results as JSON")
    run.add_argument("--junit", metavar="FILE", help="write the results as JUnit XML")
    run.add_argument("--report-dir", metavar="DIR",
                     help="per-scenario ladder, message log, pcap and TLS key log")
    run.add_argument("--keep-temp", action="store_true",
                     help="keep the worlds' temporary files (CA certificates) and print where")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="print the diagnosis and the ladder of every scenario")
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    scenarios, errors = load_all(args.paths)
    for error in errors:
        print(error, file=sys.stderr)
    if not scenarios:
        print("no scenarios to run", file=sys.stderr)
        return 1
    if (note := isolate_worlds(scenarios)) is not None:  # ports below 1024 without root
        print(f"testbed run: {note}", file=sys.stderr)
    results: list[ScenarioResult] = []

    async def run_all(reactor: IReactor) -> None:
        for index, scenario in enumerate(scenarios, start=1):
            keylog = _keylog_path(args.report_dir, scenario.name)
            result = await run(scenario, reactor, keylog_path=keylog,
                               workdir=workdir / scenario.name, steps={"load": load_step})
            results.append(result)
            print(progress_line(index, len(scenarios), result), flush=True)
            if not result.passed:
                print(failure_details(result), flush=True)
            if args.verbose and result.diagnosis is not None:
                print("\n".join("    " + line for line in str(result.diagnosis).splitlines()))
            if args.report_dir:
                write_scenario_report(Path(args.report_dir), result, keylog)

    with work_directory("run", keep=args.keep_temp, given=args.report_dir) as workdir:
        code = react(run_all)
        if code:
            print("the run was interrupted", file=sys.stderr)
            return code
        print()
        print(summary_table(results))
        if args.json:
            write_json(args.json, results)
        if args.junit:
            write_junit(args.junit, results)
    return 0 if all(r.passed for r in results) and not errors else 1


def _keylog_path(report_dir: str | None, name: str) -> str | None:
    if not report_dir:
        return None
    folder = Path(report_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "keys.log"
    path.write_text("")
    return str(path)
