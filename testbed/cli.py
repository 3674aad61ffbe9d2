"""The ``testbed`` command line: thin, it parses flags and maps outcomes to exit codes.

    testbed register URI [--transport udp|tcp|tls|wss|auto] [--user U --password P]
                         [--dns HOST:PORT] [--ca FILE | --insecure] ...

Exit codes: 0 success, 1 the operation failed (the line says why), 2 a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from testbed.sip import RemoteProtocolError, SipUri, Timers, parse_uri


class UsageError(Exception):
    """A mistake in the command line: printed as one line, exit code 2."""


def _sip_uri(text: str) -> SipUri:
    has_scheme = text.lower().startswith(("sip:", "sips:"))
    candidate = text if has_scheme else f"sip:{text}"
    try:
        uri = parse_uri(candidate)
    except RemoteProtocolError as exc:
        raise argparse.ArgumentTypeError(f"not a SIP URI: {text!r} ({exc.reason})") from None
    if not isinstance(uri, SipUri):
        raise argparse.ArgumentTypeError(f"not a SIP URI: {text!r}")
    return uri


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _host_map(text: str) -> tuple[str, str]:
    name, sep, address = text.partition("=")
    if not sep or not name or not address:
        raise argparse.ArgumentTypeError(f"expected NAME=ADDRESS, got {text!r}")
    return name.lower(), address


def _seconds(text: str) -> float:
    value = text.strip()
    scale = 1.0
    if value.endswith("ms"):
        value, scale = value[:-2], 0.001
    elif value.endswith("s"):
        value = value[:-1]
    try:
        seconds = float(value) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 500ms or 2s, got {text!r}") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive, got {text!r}")
    return seconds


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """The flags that say how the client reaches a registrar (register and load)."""
    parser.add_argument("--dns", type=_host_port, action="append", default=[],
                        metavar="HOST:PORT", help="DNS server to resolve through (repeatable)")
    parser.add_argument("--host", type=_host_map, action="append", default=[],
                        metavar="NAME=ADDRESS", help="static name to address mapping")
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument("--ca", metavar="FILE", help="CA certificate(s) to trust for TLS/WSS")
    trust.add_argument("--insecure", action="store_true",
                       help="do not verify the server certificate (still reports problems)")
    parser.add_argument("--server-name", help="TLS name to verify (default: the URI host)")
    parser.add_argument("--ws-path", default="/", help="WebSocket path for wss (default /)")
    parser.add_argument("--t1", type=_seconds, default=0.5,
                        help="SIP T1 (default 500ms; Timer F = 64*T1)")
    parser.add_argument("--local", default="127.0.0.1", help="local address to bind")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="testbed",
        description="Reproduce and diagnose SIP transport failures (UDP, TCP, TLS, WSS, AUTO).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    register = commands.add_parser(
        "register", help="register once against any server and print the outcome",
        description="Run the client once against a registrar and print the outcome in one "
                    "line (exit 0 only on success).")
    register.add_argument("uri", type=_sip_uri, metavar="URI",
                          help="registrar URI, e.g. sip:example.com or sips:127.0.0.7:5061")
    register.add_argument("--transport", default="udp",
                          choices=("udp", "tcp", "tls", "wss", "auto"),
                          help="transport mode (auto = RFC 3263 NAPTR/SRV/A discovery)")
    register.add_argument("--user", help="username (and user part of the AOR)")
    register.add_argument("--password", help="digest password")
    register.add_argument("--aor", type=_sip_uri,
                          help="address-of-record (default sip:USER@DOMAIN of the URI)")
    add_connection_options(register)
    register.add_argument("--expires", type=int, default=3600, help="requested expiry, seconds")
    register.add_argument("--keylog", metavar="FILE", help="write TLS keys (SSLKEYLOGFILE format)")
    register.add_argument("--unregister", action="store_true",
                          help="remove the binding again after a successful registration")
    register.add_argument("-v", "--verbose", action="store_true",
                          help="print the resolution steps and every exchange")
    register.set_defaults(handler=_register)

    run = commands.add_parser("run", help="run scenario files or folders",
                              description="Run scenarios; exit 0 only if every expectation held.")
    run.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or folders")
    run.add_argument("--json", metavar="FILE", help="write the results as JSON")
    run.add_argument("--junit", metavar="FILE", help="write the results as JUnit XML")
    run.add_argument("--report-dir", metavar="DIR",
                     help="per-scenario ladder, message log, pcap and TLS key log")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="print the diagnosis and the ladder of every scenario")
    run.set_defaults(handler=_run)

    validate = commands.add_parser("validate", help="check scenario files",
                                   description="Check scenario files; errors name file:line "
                                               "and the field.")
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.set_defaults(handler=_validate)

    listing = commands.add_parser("list", help="the catalogue: scenario, mode, row reproduced")
    listing.add_argument("paths", nargs="*", metavar="PATH", default=["scenarios"])
    listing.add_argument("--markdown", action="store_true",
                         help="print the README's Markdown table instead")
    listing.set_defaults(handler=_list)

    serve = commands.add_parser("serve", help="bring up a scenario's world and keep it up",
                                description="Start the DNS server, registrars and faults of a "
                                            "scenario and print every address, so any "
                                            "softphone can be pointed at it. Ctrl-C stops.")
    serve.add_argument("path", metavar="PATH")
    serve.add_argument("--for", dest="duration", type=_seconds, default=None,
                       help="stop after this long (default: until interrupted)")
    serve.set_defaults(handler=_serve)

    schema = commands.add_parser("schema", help="print the scenario JSON Schema")
    schema.set_defaults(handler=_schema)

    from testbed.load import add_load_command  # testbed load URI ... (many endpoints)

    add_load_command(commands)
    return parser


def _load_all(paths: Sequence[str]) -> tuple[list, list]:
    """Every scenario under ``paths`` and every error met loading them."""
    from testbed.scenario import ScenarioError, discover, load

    scenarios, errors = [], []
    try:
        files = discover(list(paths))
    except ScenarioError as exc:
        return [], [exc]
    for path in files:
        try:
            scenarios.append(load(path))
        except ScenarioError as exc:
            errors.append(exc)
    return scenarios, errors


def _validate(args: argparse.Namespace) -> int:
    from testbed.scenario import ScenarioError, check, discover

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
    from testbed.diagnosis import ROWS
    from testbed.report import catalogue_markdown, catalogue_table

    scenarios, errors = _load_all(args.paths)
    for error in errors:
        print(error, file=sys.stderr)
    render = catalogue_markdown if args.markdown else catalogue_table
    print(render(scenarios, {row.id: row for row in ROWS}))
    return 1 if errors else 0


def _run(args: argparse.Namespace) -> int:
    from twisted.internet import defer, reactor, task

    from testbed.report import (
        failure_details,
        progress_line,
        summary_table,
        write_json,
        write_junit,
    )
    from testbed.scenario import run

    scenarios, errors = _load_all(args.paths)
    for error in errors:
        print(error, file=sys.stderr)
    if not scenarios:
        print("no scenarios to run", file=sys.stderr)
        return 1
    results: list = []

    async def run_all(_reactor: object) -> None:
        for index, scenario in enumerate(scenarios, start=1):
            keylog = _keylog_path(args.report_dir, scenario.name)
            result = await run(scenario, reactor, keylog_path=keylog)
            results.append(result)
            print(progress_line(index, len(scenarios), result), flush=True)
            if not result.passed:
                print(failure_details(result), flush=True)
            if args.verbose and result.diagnosis is not None:
                print("\n".join("    " + line for line in str(result.diagnosis).splitlines()))
            if args.report_dir:
                _write_artefacts(args.report_dir, result, keylog)

    try:
        task.react(lambda _reactor: defer.ensureDeferred(run_all(_reactor)))
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            print("the run was interrupted", file=sys.stderr)
            return int(exit_.code)
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
    from pathlib import Path

    folder = Path(report_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "keys.log"
    path.write_text("")
    return str(path)


def _write_artefacts(report_dir: str, result: object, keylog: str | None) -> None:
    from pathlib import Path

    from testbed.report import write_scenario_report

    write_scenario_report(Path(report_dir), result, keylog)


def _serve(args: argparse.Namespace) -> int:
    from twisted.internet import defer, reactor, task

    from testbed.scenario import ScenarioError, World, WorldError, load

    try:
        scenario = load(args.path)
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 1
    world = World(scenario, reactor)
    try:
        world.start()
    except WorldError as exc:
        print(f"testbed serve: {exc}", file=sys.stderr)
        return 1
    headline = scenario.description.splitlines()[0] if scenario.description else ""
    print(f"world of {scenario.name}: {headline}")
    for endpoint in world.endpoints:
        print(f"  {endpoint}")
    if world.ca is not None and world.workdir is not None:
        ca = world.ca.write(world.workdir)
        print(f"  CA certificate     {ca}")
    users = {u: p for r in scenario.data["registrars"] for u, p in r.get("users", {}).items()}
    for user, password in users.items():
        print(f"  account            {user} / {password}")
    if world.dns_address:
        host, port = world.dns_address
        domain = world.domains[next(iter(world.domains))]
        print(f"  try: dig @{host} -p {port} NAPTR {domain}")
    print("Ctrl-C stops.", flush=True)

    async def keep(_reactor: object) -> None:
        done: defer.Deferred = defer.Deferred()
        if args.duration:
            reactor.callLater(args.duration, done.callback, None)
        try:
            await done
        finally:
            await world.stop()

    try:
        task.react(lambda _reactor: defer.ensureDeferred(keep(_reactor)))
    except SystemExit:
        pass
    return 0


def _schema(args: argparse.Namespace) -> int:
    import json

    from testbed.scenario import SCHEMA

    print(json.dumps(SCHEMA, indent=2))
    return 0


def _register(args: argparse.Namespace) -> int:
    from twisted.internet import defer, reactor, task  # the real reactor only when a command runs

    from testbed.client import ClientConfig, UserAgent

    user = args.user or (args.aor.user if args.aor else None)
    aor = args.aor or SipUri(host=args.uri.host, user=user)
    if aor.user is None:
        raise UsageError("--user (or --aor with a user part) is required")
    t1 = args.t1
    config = ClientConfig(
        aor=aor, registrar=args.uri, transport=args.transport, username=user,
        password=args.password, expires=args.expires,
        timers=Timers(t1=t1, t2=max(4.0 * t1 / 0.5, t1), t4=max(5.0 * t1 / 0.5, t1)),
        ca_file=args.ca, insecure=args.insecure, server_name=args.server_name,
        keylog=args.keylog, ws_path=args.ws_path, dns=args.dns, hosts=dict(args.host),
        local_host=args.local)
    results: list[int] = []

    async def run(_reactor: object) -> None:
        agent = UserAgent(reactor, config)
        agent.start()
        try:
            outcome = await agent.register()
            _print_outcome(outcome, args.verbose or args.transport == "auto")
            if outcome.ok and args.unregister:
                removal = await agent.unregister()
                _print_outcome(removal, args.verbose)
                outcome = removal
            results.append(0 if outcome.ok else 1)
        finally:
            await agent.stop()

    try:
        task.react(lambda _reactor: defer.ensureDeferred(run(_reactor)))
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            return int(exit_.code)
    return results[0] if results else 1


def _print_outcome(outcome: object, verbose: bool) -> None:
    if verbose:
        for step in getattr(outcome, "resolution", []):
            print(f"  resolve: {step}")
        for exchange in getattr(outcome, "exchanges", []):
            result = (f"{exchange.status} {exchange.reason}" if exchange.status
                      else f"{exchange.error}: {exchange.detail}")
            print(f"  {exchange.method} -> {exchange.where} x{exchange.transmissions}: {result}")
    print(outcome)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (UsageError, ValueError) as exc:
        print(f"testbed {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
