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
    register.add_argument("--dns", type=_host_port, action="append", default=[],
                          metavar="HOST:PORT", help="DNS server to resolve through (repeatable)")
    register.add_argument("--host", type=_host_map, action="append", default=[],
                          metavar="NAME=ADDRESS", help="static name to address mapping")
    trust = register.add_mutually_exclusive_group()
    trust.add_argument("--ca", metavar="FILE", help="CA certificate(s) to trust for TLS/WSS")
    trust.add_argument("--insecure", action="store_true",
                       help="do not verify the server certificate (still reports problems)")
    register.add_argument("--server-name", help="TLS name to verify (default: the URI host)")
    register.add_argument("--ws-path", default="/", help="WebSocket path for wss (default /)")
    register.add_argument("--expires", type=int, default=3600, help="requested expiry, seconds")
    register.add_argument("--t1", type=_seconds, default=0.5,
                          help="SIP T1 (default 500ms; Timer F = 64*T1)")
    register.add_argument("--keylog", metavar="FILE", help="write TLS keys (SSLKEYLOGFILE format)")
    register.add_argument("--unregister", action="store_true",
                          help="remove the binding again after a successful registration")
    register.add_argument("--local", default="127.0.0.1", help="local address to bind")
    register.add_argument("-v", "--verbose", action="store_true",
                          help="print the resolution steps and every exchange")
    register.set_defaults(handler=_register)
    return parser


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
