"""``testbed register URI``: run the client once against any server, print the outcome.

    testbed register URI [--transport udp|tcp|tls|wss|auto] [--user U --password P]
                         [--dns HOST:PORT] [--ca FILE | --insecure] ...
"""

from __future__ import annotations

import argparse

from testbed.client import ClientConfig, Outcome, UserAgent
from testbed.reactor import IReactor
from testbed.sip import SipUri, Timers

from ._args import UsageError, add_connection_options, add_transport_option, sip_uri
from ._react import react


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    register = commands.add_parser(
        "register", help="register once against any server and print the outcome",
        description="Run the client once against a registrar and print the outcome in one "
                    "line (exit 0 only on success).")
    register.add_argument("uri", type=sip_uri, metavar="URI",
                          help="registrar URI, e.g. sip:example.com or sips:127.0.0.7:5061")
    add_transport_option(register, "transport mode (auto = RFC 3263 NAPTR/SRV/A discovery)")
    register.add_argument("--user", help="username (and user part of the AOR)")
    register.add_argument("--password", help="digest password")
    register.add_argument("--aor", type=sip_uri,
                          help="address-of-record (default sip:USER@DOMAIN of the URI)")
    add_connection_options(register)
    register.add_argument("--expires", type=int, default=3600, help="requested expiry, seconds")
    register.add_argument("--keylog", metavar="FILE", help="write TLS keys (SSLKEYLOGFILE format)")
    register.add_argument("--unregister", action="store_true",
                          help="remove the binding again after a successful registration")
    register.add_argument("-v", "--verbose", action="store_true",
                          help="print the resolution steps and every exchange")
    register.set_defaults(handler=_register)


def _register(args: argparse.Namespace) -> int:
    user = args.user or (args.aor.user if args.aor else None)
    aor = args.aor or SipUri(host=args.uri.host, user=user)
    if aor.user is None:
        raise UsageError("--user (or --aor with a user part) is required")
    config = ClientConfig(
        aor=aor, registrar=args.uri, transport=args.transport, username=user,
        password=args.password, expires=args.expires, timers=Timers.scaled(args.t1),
        ca_file=args.ca, insecure=args.insecure, server_name=args.server_name,
        keylog=args.keylog, ws_path=args.ws_path, dns=args.dns, hosts=dict(args.host),
        local_host=args.local)
    results: list[int] = []

    async def run(reactor: IReactor) -> None:
        agent = UserAgent(reactor, config)
        agent.start()
        try:
            outcome: Outcome = await agent.register()
            _print_outcome(outcome, args.verbose or args.transport == "auto")
            if outcome.ok and args.unregister:
                removal: Outcome = await agent.unregister()
                _print_outcome(removal, args.verbose)
                outcome = removal
            results.append(0 if outcome.ok else 1)
        finally:
            await agent.stop()

    code = react(run)
    if code:
        return code
    return results[0] if results else 1


def _print_outcome(outcome: Outcome, verbose: bool) -> None:
    if verbose:
        for step in outcome.resolution:
            print(f"  resolve: {step}")
        for exchange in outcome.exchanges:
            result = (f"{exchange.status} {exchange.reason}" if exchange.status
                      else f"{exchange.error}: {exchange.detail}")
            print(f"  {exchange.method} -> {exchange.where} x{exchange.transmissions}: {result}")
    print(outcome)
