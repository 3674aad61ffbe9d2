"""``testbed COMMAND ...``: the parser of every command, and the entry point."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from importlib import metadata

from . import _catalogue, _check, _load, _register, _run, _serve
from ._args import UsageError

DISTRIBUTION = "sip-transport-testbed"
"""The name the package is installed under (pyproject.toml's ``project.name``)."""


def version() -> str:
    """The installed package's version, from its metadata."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="testbed",
        description="Reproduce and diagnose SIP transport failures (UDP, TCP, TLS, WSS, AUTO).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
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
    """Run one command; its exit code.

    A closed output (``testbed list | head -1``) ends the command quietly with exit code
    1, as Python's documentation on SIGPIPE advises; Ctrl-C outside a run, with 130.
    """
    try:
        return _main(argv)
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null so that this flush
        # cannot fail a second time (https://docs.python.org/3/library/signal.html).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        # The command is done. Every object goes to the permanent generation, which the
        # interpreter's exit does not collect: that collection takes a third of a second
        # once Twisted is loaded, and an interrupted run must end within a second.
        gc.freeze()


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except (UsageError, ValueError) as exc:
        print(f"testbed {args.command}: {exc}", file=sys.stderr)
        return 2
    sys.stdout.flush()
    return code
