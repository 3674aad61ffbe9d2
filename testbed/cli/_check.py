"""``testbed check URI``: the quick-reference matrix against a live deployment.

    testbed check URI [--dns HOST:PORT] [--user U --password P] [--ca FILE | --insecure]
                      [--transports udp,tcp,tls,wss] [--json FILE] [--junit FILE]
                      [--report-dir DIR]
"""

from __future__ import annotations

import argparse
import ipaddress
import shutil

from testbed.check import DEFAULT_TRANSPORTS, CheckReport, ProbeSettings, run_check
from testbed.dns.client import DnsClient
from testbed.reactor import IReactor
from testbed.report import check_text, write_check_json, write_check_junit, write_check_page
from testbed.sip import Timers

from ._args import UsageError, add_connection_options, sip_uri, transport_list
from ._react import react


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "check", help="check a live deployment: DNS discovery, every target and transport",
        description="Walk a live deployment as the quick reference does: NAPTR/SRV/A "
                    "discovery and what AUTO would pick, then every advertised target and "
                    "requested transport (connect, TLS certificate, WebSocket upgrade, "
                    "OPTIONS, REGISTER with digest when credentials are given, a "
                    "1,400-byte request over UDP). Exit 0 only when everything works.")
    check.add_argument("uri", type=sip_uri, metavar="URI",
                       help="the SIP domain or registrar, e.g. sip:example.com")
    check.add_argument("--user", help="username for REGISTER (with --password)")
    check.add_argument("--password", help="digest password")
    check.add_argument("--transports", type=transport_list, default=None,
                       metavar="LIST", help="transports to check (default udp,tcp,tls,wss)")
    check.add_argument("--json", metavar="FILE", help="write the report as JSON")
    check.add_argument("--junit", metavar="FILE", help="write a JUnit file, a case per check")
    check.add_argument("--report-dir", metavar="DIR",
                       help="write an HTML page of the check: DIR/index.html")
    add_connection_options(check)
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    uri = args.uri
    addresses = [address for name, address in args.host if name == uri.host.lower()]
    if not args.dns and not addresses and not _is_ip(uri.host):
        raise UsageError(f"no DNS server given: --dns HOST:PORT (the system resolver is "
                         f"never used), or --host {uri.host}=ADDRESS")
    if args.password is not None and not (args.user or uri.user):
        raise UsageError("--password needs --user")
    settings = ProbeSettings(
        uri=uri, user=args.user, password=args.password, ca_file=args.ca,
        insecure=args.insecure, server_name=args.server_name, ws_path=args.ws_path,
        timers=Timers.scaled(args.t1), local_host=args.local)
    reports: list[CheckReport] = []

    async def run(reactor: IReactor) -> None:
        dns = DnsClient(list(args.dns), reactor) if args.dns else None
        try:
            reports.append(await run_check(
                reactor, settings, dns, transports=args.transports or DEFAULT_TRANSPORTS,
                required=args.transports or (),
                addresses=addresses or ([uri.host] if _is_ip(uri.host) else [])))
        finally:
            if dns is not None:
                dns.close()

    code = react(run)
    if code or not reports:
        return code or 1
    report = reports[0]
    print(check_text(report, width=shutil.get_terminal_size((100, 20)).columns))
    if args.json:
        write_check_json(args.json, report)
    if args.junit:
        write_check_junit(args.junit, report)
    if args.report_dir:
        write_check_page(args.report_dir, report)
    return 0 if report.ok else 1


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
