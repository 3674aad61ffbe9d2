"""The commands that read scenario files without running them: validate, list, schema."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from testbed.diagnosis import ROWS
from testbed.report import catalogue_markdown, catalogue_table
from testbed.scenario import SCHEMA, Scenario, ScenarioError, check, discover, load


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = commands.add_parser("validate", help="check scenario files",
                                   description="Check scenario files; errors name file:line "
                                               "and the field.")
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.set_defaults(handler=_validate)

    listing = commands.add_parser("list", help="the catalogue: scenario, mode, row reproduced")
    listing.add_argument("paths", nargs="*", metavar="PATH", default=[],
                         help="files or folders (default: the current directory)")
    listing.add_argument("--markdown", action="store_true",
                         help="print the README's Markdown table instead")
    listing.set_defaults(handler=_list)


def add_schema_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schema = commands.add_parser("schema", help="print the scenario JSON Schema")
    schema.set_defaults(handler=_schema)


def load_all(paths: Sequence[str]) -> tuple[list[Scenario], list[ScenarioError]]:
    """Every scenario under ``paths`` and every error met loading them."""
    scenarios, errors = [], []
    try:
        files = discover(paths)
    except ScenarioError as exc:
        return [], [exc]
    for path in files:
        try:
            scenarios.append(load(path))
        except ScenarioError as exc:
            errors.append(exc)
    return scenarios, errors


def _validate(args: argparse.Namespace) -> int:
    try:
        files = discover(args.paths)
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 1
    bad = 0
    for path in files:
        errors, _ = check(path.read_text(encoding="utf-8"), str(path))
        for error in errors:
            print(error, file=sys.stderr)
        bad += bool(errors)
    print(f"{len(files) - bad} valid, {bad} invalid")
    return 1 if bad or not files else 0


def _list(args: argparse.Namespace) -> int:
    scenarios, errors = load_all(args.paths)
    for error in errors:
        print(error, file=sys.stderr)
    render = catalogue_markdown if args.markdown else catalogue_table
    print(render(scenarios, {row.id: row for row in ROWS}))
    return 1 if errors else 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(SCHEMA, indent=2))
    return 0
