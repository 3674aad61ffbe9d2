"""``testbed serve PATH``: bring up a scenario's world and keep it up, showing its traffic.

The DNS server, registrars and faults start and every address is printed, with the CA
certificate to trust and the accounts, so any softphone can be pointed at the world.
The addresses are the same at every start (derived from the scenario's name), or the
one ``--address`` pins. Each message the world's servers and relays see is one live
line as it happens (``-q`` silences them); ``--report-dir`` writes the capture (as it
goes, with the TLS keys), the message log (as it goes) and, when serving stops, the
ladder and the HTML page.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from twisted.internet import defer

from testbed.netns import serve_advice
from testbed.reactor import IReactor
from testbed.report import LiveLog, PcapStream, write_world_page
from testbed.scenario import (
    SERVE_CAPTURE_LIMIT,
    SERVE_TRACE_LIMIT,
    AddressError,
    AddressPlan,
    ScenarioError,
    World,
    WorldError,
    check_local_address,
    load,
)

from ._args import duration
from ._interrupt import Interruption
from ._react import react
from ._serve_accounts import print_world
from ._workdir import work_directory

MESSAGES_FILE = "messages.log"


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve", help="bring up a scenario's world and keep it up; show its traffic",
        description="Start the DNS server, registrars and faults of a scenario and print "
                    "every address and account, so any softphone can be pointed at it; "
                    "then print a line per message the world sees. Ctrl-C stops.")
    serve.add_argument("path", metavar="PATH")
    serve.add_argument("--for", dest="duration", type=duration, default=None,
                       help="stop after this long (default: until interrupted)")
    serve.add_argument("--keep-temp", action="store_true",
                       help="keep the temporary files (the CA certificate) and print where")
    serve.add_argument("--report-dir", metavar="DIR",
                       help="write DIR/<scenario>/: capture.pcapng with the TLS keys (and "
                            "keys.log) and messages.log as it goes, ladder.txt and the "
                            "HTML page (index.html) when serving stops")
    serve.add_argument("--address", metavar="IP",
                       help="put every address a phone reaches on IP (an address of this "
                            "machine; a LAN one for a hardware phone). Default: 127.A.B.N "
                            "derived from the scenario's name, the same at every start")
    serve.add_argument("-q", "--quiet", action="store_true",
                       help="no line per message (the report dir still has them all)")
    serve.set_defaults(handler=_serve)


def _plan(args: argparse.Namespace, name: str) -> AddressPlan:
    """The address plan of the command line; AddressError for a bad --address."""
    if args.address is None:
        return AddressPlan.stable(name)
    address = check_local_address(args.address)
    if not ipaddress.ip_address(address).is_loopback:
        print(f"testbed serve: warning: --address {address} is not a loopback address: "
              "anything on that network can reach this world and register with the "
              "accounts printed below; serve it only on a network you trust",
              file=sys.stderr, flush=True)
    return AddressPlan.pin(address, name)


def _serve(args: argparse.Namespace) -> int:
    try:
        scenario = load(args.path)
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        plan = _plan(args, scenario.name)
    except AddressError as exc:
        print(f"testbed serve: {exc}", file=sys.stderr)
        return 1
    if (advice := serve_advice(scenario)) is not None:  # ports below 1024 without root
        print(f"testbed serve: {advice}", file=sys.stderr)
    folder = Path(args.report_dir) / scenario.name if args.report_dir else None

    async def keep(reactor: IReactor) -> None:
        interruption.attach(reactor)
        # A world left running keeps its last moments in memory; the pcap and the
        # message log stream to files.
        try:
            stream = (PcapStream.in_report_dir(args.report_dir, scenario.name, reactor)
                      if args.report_dir else None)
        except OSError as exc:
            print(f"testbed serve: --report-dir {args.report_dir}: {exc.strerror}",
                  file=sys.stderr)
            failed.append(True)
            return
        world = World(scenario, reactor, workdir=workdir, trace_limit=SERVE_TRACE_LIMIT,
                      capture_limit=SERVE_CAPTURE_LIMIT, address_plan=plan,
                      keylog_path=str(stream.keylog_path) if stream else None)
        if stream is not None:
            stream.follow(world.capture)
            print(f"streaming the capture to {stream.path}")
        try:
            world.start()
        except WorldError as exc:
            hint = ("; with --address every registrar a phone reaches and the DNS server "
                    "share that one address, so two registrars on the same port cannot be "
                    "pinned" if plan.pinned is not None else "")
            print(f"testbed serve: {exc}{hint}", file=sys.stderr)
            failed.append(True)
            await world.stop()
            if stream is not None:
                stream.close()
            return
        live = LiveLog({*world.registrars, "faults"}, world.names,
                       echo=None if args.quiet else _Echo(reactor),
                       messages=folder / MESSAGES_FILE if folder is not None else None,
                       dns_server=world.dns_address, clock=reactor)
        world.trace.listeners.append(live.event)
        if world.dns is not None:
            world.dns.on_query = live.dns
        print_world(world, plan)
        started = reactor.seconds()
        done: defer.Deferred[None] = defer.Deferred()
        if args.duration:
            reactor.callLater(args.duration, done.callback, None)
        try:
            await interruption.watch(done)
        except defer.CancelledError:
            pass  # Ctrl-C or SIGTERM: a normal end for a server
        finally:
            await world.stop()
            live.close()
            if stream is not None:
                stream.close()
            if folder is not None:
                _write_report(world, folder, live, stream,
                              reactor.seconds() - started)

    failed: list[bool] = []
    # From before the world prints its addresses (and a test or script sends a signal)
    # until its files are removed, SIGINT and SIGTERM stop it cleanly.
    interruption = Interruption()
    with interruption.handling(), work_directory(f"serve-{scenario.name}",
                                                 keep=args.keep_temp) as workdir:
        react(keep)
    return 1 if failed else 0


class _Echo:
    """Live lines to stdout, flushed once per reactor turn (not once per line: a busy
    world prints thousands a second)."""

    def __init__(self, reactor: IReactor) -> None:
        self.reactor = reactor
        self.pending = False
        self.closed = False

    def __call__(self, line: str) -> None:
        if self.closed:
            return
        try:
            print(line)
        except OSError:  # stdout closed (`| head`): the world serves on, silently
            self.closed = True
            return
        if not self.pending:
            self.pending = True
            self.reactor.callLater(0, self.flush)

    def flush(self) -> None:
        self.pending = False
        try:
            sys.stdout.flush()
        except OSError:
            self.closed = True


def _write_report(world: World, folder: Path, live: LiveLog,
                  stream: PcapStream | None, duration: float) -> None:
    """The page and ladder of what the world still holds, and where everything went."""
    try:
        page = write_world_page(folder.parent, world, duration=duration, owners=live.owners)
    except OSError as exc:
        print(f"testbed serve: {folder}: {exc.strerror}", file=sys.stderr)
        return
    wrote = [page.name, "ladder.txt", f"{MESSAGES_FILE} ({live.lines} lines)"]
    if stream is not None:
        wrote.append(f"{stream.path.name} ({stream.packets} packets)")
        wrote.append(stream.keylog_path.name if stream.keylog_path else "")
    print(f"report written to {folder}: {', '.join(w for w in wrote if w)}", flush=True)
    for error in (live.error, stream.error if stream is not None else None):
        if error:
            print(f"testbed serve: {error}", file=sys.stderr)
