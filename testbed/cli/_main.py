"""``testbed COMMAND ...``: the parser of every command, and the entry point."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import _catalogue, _check, _load, _register, _run, _serve
from ._args import UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="testbed",
        description="Reproduce and diagnose SIP transport failures (UDP, TCP, TLS, WSS, AUTO).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _register.add_command(commands)
    _run.add_command(commands)
    _check.add_command(commands)
    _catalogue.add_commands(commands)
    _serve.add_command(commands)
    _catalogue.add_schema_command(commands)
    _load.add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except (UsageError, ValueError) as exc:
        print(f"testbed {args.command}: {exc}", file=sys.stderr)
        return 2
    return code
