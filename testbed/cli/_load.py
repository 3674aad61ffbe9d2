"""``testbed load URI``: many endpoints registering (or calling) at a rate, with figures.

    testbed load URI --transport udp|tcp|tls|wss|auto --endpoints N [--rate R]
                     (--duration D | --count C) [--operation register|call]
                     [--user NAME | --users A,B,.. | --user-prefix P] [--password PW]
                     [--workers K | --cluster ADDRESS [--workers-per-node N]]
                     [--prometheus [HOST:]PORT] [--json FILE] [--stats-csv FILE]
                     [--report-dir DIR]
                     [--stats-interval D] [--server-process] ...

Prints live statistics (the last period and the total side by side), then the counts by
outcome, the rate achieved, retransmissions and the latency percentiles and histogram
per transport. ``--stats-csv`` writes one row per interval (periodic and cumulative
columns, like SIPp's -trace_stat); ``--json`` carries the same intervals. ``--workers K``
(K > 1) runs K workers on a local Ray runtime, ``--cluster`` on an existing Ray cluster
(one worker per node by default); a single worker runs in this process and never
imports Ray. Exit code 0 when every operation succeeded (and no worker was lost), 1
otherwise, 2 for a usage mistake (one line, no traceback). When every operation failed
on authentication (a 401/407 to the credentials, or a 403), one line says which user
names were used and what to pass instead: a served world (``testbed serve``) has its
own accounts (``--user alice --password secret``), not ``alice0..``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import IO, Any

from testbed.load import (
    CONNECTION_MODES,
    DEFAULT_TIME_LIMIT,
    OPERATIONS,
    LiveTracker,
    LoadConfig,
    LoadResult,
    LoadRunner,
    ProcessError,
    ProgressDisplay,
    ServerProcess,
    ServerSpec,
    WorkerInfo,
    WorkerPlan,
    WorkersRun,
    cluster_endpoint,
    run_workers,
    tune_gc,
    write_stats_csv,
)
from testbed.reactor import IReactor
from testbed.report import write_load_page
from testbed.sip import AUTO, MODES, Timers, Transport, fmt_hostport

from ._args import (
    add_connection_options,
    add_transport_option,
    duration,
    positive_float,
    positive_int,
    sip_uri,
)
from ._react import react


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    load = commands.add_parser(
        "load", help="many endpoints registering or calling at a rate; rates and latencies",
        description="Drive N endpoints (users PREFIX0..PREFIXN-1, or the accounts named by "
                    "--user/--users) against a registrar at a "
                    "rate, for a duration or a count, and print success/failure counts by "
                    "error kind, the rate achieved and latency percentiles per transport. "
                    "Exit 0 only if every operation succeeded.")
    load.add_argument("uri", type=sip_uri, metavar="URI",
                      help="registrar URI (with --server-process: the domain to serve)")
    add_transport_option(load, "transport mode (auto = RFC 3263, located once per run)")
    load.add_argument("--endpoints", type=positive_int, default=1, metavar="N",
                      help="distinct endpoints (users), default 1")
    load.add_argument("--rate", type=positive_float, metavar="R",
                      help="operations started per second (default: as fast as the window "
                           "of operations in flight allows)")
    stop = load.add_argument_group("when to stop (at least one; whichever comes first)")
    stop.add_argument("--duration", type=duration, metavar="D", help="e.g. 10s, 500ms")
    stop.add_argument("--count", type=positive_int, metavar="C", help="operations to start")
    load.add_argument("--operation", default="register", choices=OPERATIONS,
                      help="REGISTER (with digest) or a call (INVITE, ACK, BYE)")
    ray = load.add_argument_group("workers on Ray (one reactor per process, results merged)")
    ray.add_argument("--workers", type=positive_int, default=1, metavar="K",
                     help="split the endpoints over K workers on a local Ray runtime "
                          "(one core each; 1, the default, runs in this process)")
    ray.add_argument("--cluster", type=_cluster_address, metavar="ADDRESS",
                     help="run the workers on a Ray cluster: auto, HOST:PORT (the head's "
                          "GCS) or ray://HOST:10001 (Ray Client)")
    ray.add_argument("--workers-per-node", type=positive_int, metavar="N",
                     help="with --cluster: workers on each node with CPUs (default 1)")
    ray.add_argument("--dashboard", action="store_true",
                     help="with a local runtime: start Ray's dashboard too")
    load.add_argument("--prometheus", type=_listen_address, metavar="[HOST:]PORT",
                      help="serve live load metrics for Prometheus at /metrics on this "
                           "port (all interfaces unless HOST is given)")
    load.add_argument("--json", metavar="FILE",
                      help="write the configuration and result (with the intervals)")
    load.add_argument("--report-dir", metavar="DIR",
                      help="an HTML page of the run (DIR/index.html): rates, latency "
                           "percentiles per transport and errors over time, the histogram")
    load.add_argument("--stats-csv", metavar="FILE",
                      help="write one CSV row per interval, periodic and cumulative columns "
                           "(like SIPp's -trace_stat)")
    load.add_argument("--stats-interval", type=duration, default=1.0, metavar="D",
                      help="length of the statistics intervals (default 1s, at least 100ms)")
    load.add_argument("--window", type=positive_int, metavar="W",
                      help="operations in flight at most (default: one per endpoint)")
    load.add_argument("--connections", default="shared", choices=CONNECTION_MODES,
                      help="one socket/connection for all endpoints, or one each")
    who = load.add_mutually_exclusive_group()
    who.add_argument("--user-prefix", metavar="PREFIX",
                     help="usernames PREFIX0..PREFIXN-1 (default alice)")
    who.add_argument("--user", metavar="NAME",
                     help="one account for every endpoint (each its own contact), e.g. the "
                          "account `testbed serve` prints")
    who.add_argument("--users", type=_names, metavar="A,B,...",
                     help="these accounts, in turn over the endpoints")
    load.add_argument("--domain", help="domain of the addresses-of-record (default: URI host)")
    load.add_argument("--password", help="digest password (the same for every user)")
    load.add_argument("--expires", type=int, default=3600, help="requested expiry, seconds")
    add_connection_options(load)
    load.add_argument("--time-limit", type=duration, default=DEFAULT_TIME_LIMIT,
                      help="never issue operations for longer than this (default 300s)")
    load.add_argument("--server-process", action="store_true",
                      help="start our registrar (and a DNS server for the domain) in a "
                           "separate process with the N users, and load it")
    load.add_argument("--no-progress", action="store_true", help="no live progress line")
    load.set_defaults(handler=_load)


def config_from_args(args: argparse.Namespace) -> LoadConfig:
    """The :class:`LoadConfig` of the command line (ValueError for a bad combination)."""
    if args.duration is None and args.count is None:
        raise ValueError("give --duration or --count (or both): a load run must end")
    if args.workers > args.endpoints:
        raise ValueError(f"--workers {args.workers} exceeds --endpoints {args.endpoints}")
    if args.cluster is not None and args.workers > 1:
        raise ValueError("--workers is for a local runtime; with --cluster give "
                         "--workers-per-node")
    if args.workers_per_node is not None and args.cluster is None:
        raise ValueError("--workers-per-node needs --cluster")
    if args.dashboard and args.workers == 1:
        raise ValueError("--dashboard is Ray's: give --workers K (K > 1)")
    return LoadConfig(
        registrar=args.uri, transport=args.transport, endpoints=args.endpoints,
        rate=args.rate, duration=args.duration, count=args.count, operation=args.operation,
        user_prefix=args.user_prefix or "alice",
        users=[args.user] if args.user else list(args.users or []),
        domain=args.domain, password=args.password,
        expires=args.expires, window=args.window, connections=args.connections,
        timers=Timers.scaled(args.t1), time_limit=args.time_limit,
        ca_file=args.ca, insecure=args.insecure, server_name=args.server_name,
        ws_path=args.ws_path, dns=list(args.dns), hosts=dict(args.host),
        local_host=args.local, stats_interval=args.stats_interval)


def _load(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    try:  # opened now: a mistake in the path must not cost a whole run
        stats = open(args.stats_csv, "w", newline="", encoding="utf-8") \
            if args.stats_csv else None
    except OSError as exc:
        raise ValueError(f"--stats-csv {args.stats_csv}: {exc.strerror or exc}") from None
    try:
        return _load_run(args, config, stats)
    finally:
        if stats is not None:
            stats.close()


def _load_run(args: argparse.Namespace, config: LoadConfig, stats: IO[str] | None) -> int:
    server = None
    if args.server_process and config.users:
        raise ValueError("--server-process creates the accounts PREFIX0..N-1: use "
                         "--user-prefix, not --user/--users")
    if args.server_process:
        transports = tuple(m for m in MODES if m != AUTO) if args.transport == AUTO else (
            args.transport,)
        server = ServerProcess(ServerSpec(
            transports=transports, users=(config.first_user + config.endpoints)
            if config.password else 0, user_prefix=config.user_prefix,
            password=config.password or "secret", domain=config.registrar.host, dns=True,
            t1=config.timers.t1, time_limit=config.time_limit + config.drain_seconds + 60))
        try:
            ready = server.start()
        except ProcessError as exc:
            print(f"testbed load: {exc}", file=sys.stderr)
            return 1
        listeners = ", ".join(f"{Transport.parse(t).value} {fmt_hostport((h, p))}"
                              for t, (h, p) in ready["listen"].items())
        print(f"registrar process {ready['pid']} on {ready['host']}: {listeners}; "
              f"DNS {fmt_hostport(server.dns)} for {ready['domain']}", flush=True)
        assert server.dns is not None, "the registrar process was asked for DNS"
        config = dataclasses.replace(config, dns=[server.dns], ca_pem=server.ca_pem,
                                     ca_file=None)
    display = None if args.no_progress else ProgressDisplay(sys.stdout)
    metrics = None
    if args.prometheus is not None:
        from testbed.load import LoadMetrics  # prometheus-client only when asked for

        metrics = LoadMetrics(config.operation)
        host, port = args.prometheus
        try:
            port = metrics.serve(port, host)
        except OSError as exc:
            print(f"testbed load: --prometheus {fmt_hostport((host, port))}: "
                  f"{exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"prometheus metrics on http://{fmt_hostport((host, port))}/metrics",
              flush=True)
    run = None
    try:
        if args.workers > 1 or args.cluster is not None:
            plan = WorkerPlan(workers=args.workers, cluster=args.cluster,
                              workers_per_node=args.workers_per_node or 1,
                              dashboard=args.dashboard)
            run = _run_on_ray(config, plan, display, metrics)
            result = run.result
        else:
            result = _run(config, display, metrics)
    except ProcessError as exc:
        print(f"testbed load: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
        if metrics is not None:
            metrics.close()
    print(result.summary())
    if run is not None:
        print(f"  ray: {run.runtime}; {len(run.workers)} workers ready in {run.ready:.2f} s")
        for lost in run.lost:
            print(f"  lost: worker {lost.index} after {lost.after:.1f} s: {lost.reason}")
    if (refused := authentication_refused(config, result)) is not None:
        print(f"testbed load: {refused}", file=sys.stderr)
    if args.json:
        data: dict[str, Any] = {"config": _public(config.to_json()), "result": result.to_json()}
        if run is not None:
            data["ray"] = {"runtime": run.runtime, "startup_s": round(run.startup, 3),
                           "ready_s": round(run.ready, 3),
                           "workers": [dataclasses.asdict(w) for w in run.workers],
                           "lost": [dataclasses.asdict(w) for w in run.lost]}
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if args.report_dir:
        page = write_load_page(args.report_dir, result, target=str(config.registrar))
        print(f"  report: {page}")
    if stats is not None:
        rows = write_stats_csv(result, stats)
        print(f"  statistics: {rows} intervals of {config.stats_interval:g} s in "
              f"{args.stats_csv}")
    ok = result.failed == 0 and result.unfinished == 0 and result.attempted
    return 0 if ok and (run is None or run.ok) else 1


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give user names separated by commas")
    return names


_AUTH_STATUSES = {401, 403, 407}


def authentication_refused(config: LoadConfig, result: LoadResult) -> str | None:
    """One line when every operation that ended failed on authentication (a challenge
    to the credentials, or 403), saying which users were tried and what to pass."""
    if result.succeeded or not result.failed or not result.errors:
        return None
    if not set(result.errors) <= {"auth", "rejected"}:
        return None
    if not set(result.statuses) <= _AUTH_STATUSES:
        return None
    names = config.user_names()
    what = "REGISTER" if config.operation == "register" else "call"
    if config.password is None:
        return (f"every {what} was challenged for credentials and no "
                f"--password was given (users {names}): pass the account's --password")
    return (f"the server rejected the credentials of every {what} "
            f"(users {names}, {' / '.join(str(s) for s in sorted(result.statuses))}): it "
            "does not have these accounts or this password; pass its accounts with --user "
            "NAME (or --users A,B,.. or --user-prefix P) and --password (`testbed serve` "
            "prints a served world's)")


def _run_on_ray(config: LoadConfig, plan: WorkerPlan, display: ProgressDisplay | None,
                metrics: Any) -> WorkersRun:
    def started(workers: list[WorkerInfo]) -> None:
        for worker in workers:
            print(f"  {worker.describe()}", flush=True)

    def announce(line: str) -> None:
        print(f"ray: {line}", flush=True)

    return run_workers(config, plan, progress=display,
                       progress_interval=display.refresh if display is not None else 1.0,
                       live=metrics.update if metrics is not None else None,
                       started=started, announce=announce)


def _run(config: LoadConfig, display: ProgressDisplay | None, metrics: Any) -> LoadResult:
    """One worker, in this process, on the global reactor."""
    refresh = display.refresh if display is not None else 1.0
    tune_gc()
    results: list[LoadResult] = []

    async def go(reactor: IReactor) -> None:
        runner = LoadRunner(reactor, config, progress=display, progress_interval=refresh)
        if metrics is not None:
            tracker = LiveTracker(runner)

            def report(progress: Any) -> None:
                if display is not None:
                    display(progress)
                metrics.update(tracker.snapshot())

            runner.progress = report
        try:
            results.append(await runner.run())
        finally:
            await runner.stop()

    code = react(go)
    if code or not results:
        raise RuntimeError(f"the load run failed (exit {code})")
    return results[0]


def _cluster_address(text: str) -> str:
    try:
        cluster_endpoint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _listen_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected [HOST:]PORT, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def _public(data: dict[str, Any]) -> dict[str, Any]:
    """The configuration as written to JSON: no CA bytes, no password."""
    data = dict(data)
    data["ca_pem"] = "(given)" if data.get("ca_pem") else None
    data["password"] = "(given)" if data.get("password") else None
    return data
