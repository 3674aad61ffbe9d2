"""``testbed serve PATH``: bring up a scenario's world and keep it up.

The DNS server, registrars and faults start and every address is printed, with the CA
certificate to trust and the accounts, so any softphone can be pointed at the world.
"""

from __future__ import annotations

import argparse
import sys

from twisted.internet import defer

from testbed.netns import serve_advice
from testbed.reactor import IReactor
from testbed.report import PcapStream
from testbed.scenario import (
    SERVE_CAPTURE_LIMIT,
    SERVE_TRACE_LIMIT,
    ScenarioError,
    World,
    WorldError,
    load,
)

from ._args import duration
from ._interrupt import Interruption
from ._react import react
from ._workdir import work_directory


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="bring up a scenario's world and keep it up",
                                description="Start the DNS server, registrars and faults of a "
                                            "scenario and print every address, so any "
                                            "softphone can be pointed at it. Ctrl-C stops.")
    serve.add_argument("path", metavar="PATH")
    serve.add_argument("--for", dest="duration", type=duration, default=None,
                       help="stop after this long (default: until interrupted)")
    serve.add_argument("--keep-temp", action="store_true",
                       help="keep the temporary files (the CA certificate) and print where")
    serve.add_argument("--report-dir", metavar="DIR",
                       help="stream the capture to DIR/<scenario>/capture.pcapng as it goes, "
                            "with the TLS keys (in the file and in keys.log beside it)")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    try:
        scenario = load(args.path)
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 1
    if (advice := serve_advice(scenario)) is not None:  # ports below 1024 without root
        print(f"testbed serve: {advice}", file=sys.stderr)

    async def keep(reactor: IReactor) -> None:
        interruption.attach(reactor)
        # A world left running keeps its last moments in memory; the pcap streams.
        try:
            stream = (PcapStream.in_report_dir(args.report_dir, scenario.name, reactor)
                      if args.report_dir else None)
        except OSError as exc:
            print(f"testbed serve: --report-dir {args.report_dir}: {exc.strerror}",
                  file=sys.stderr)
            failed.append(True)
            return
        world = World(scenario, reactor, workdir=workdir, trace_limit=SERVE_TRACE_LIMIT,
                      capture_limit=SERVE_CAPTURE_LIMIT,
                      keylog_path=str(stream.keylog_path) if stream else None)
        if stream is not None:
            stream.follow(world.capture)
            print(f"streaming the capture to {stream.path}")
        try:
            world.start()
        except WorldError as exc:
            print(f"testbed serve: {exc}", file=sys.stderr)
            failed.append(True)
            await world.stop()
            if stream is not None:
                stream.close()
            return
        _print_world(world)
        done: defer.Deferred[None] = defer.Deferred()
        if args.duration:
            reactor.callLater(args.duration, done.callback, None)
        try:
            await interruption.watch(done)
        except defer.CancelledError:
            pass  # Ctrl-C or SIGTERM: a normal end for a server
        finally:
            await world.stop()
            if stream is not None:
                stream.close()

    failed: list[bool] = []
    # From before the world prints its addresses (and a test or script sends a signal)
    # until its files are removed, SIGINT and SIGTERM stop it cleanly.
    interruption = Interruption()
    with interruption.handling(), work_directory(f"serve-{scenario.name}",
                                                 keep=args.keep_temp) as workdir:
        react(keep)
    return 1 if failed else 0


def _print_world(world: World) -> None:
    scenario = world.scenario
    headline = scenario.description.splitlines()[0] if scenario.description else ""
    print(f"world of {scenario.name}: {headline}")
    for endpoint in world.endpoints:
        print(f"  {endpoint}")
    if world.ca_file is not None:
        print(f"  CA certificate     {world.ca_file}")
    users = {u: p for r in scenario.data["registrars"] for u, p in r.get("users", {}).items()}
    for user, password in users.items():
        print(f"  account            {user} / {password}")
    if world.dns_address:
        host, port = world.dns_address
        domain = world.domains[next(iter(world.domains))]
        print(f"  try: dig @{host} -p {port} NAPTR {domain}")
    print("Ctrl-C stops.", flush=True)
