"""``python -m testbed.bench``: the benchmarks, in one bounded run; figures, never asserts.

Phases (``--only`` picks some; each is bounded in time, every figure is the median of
``--runs`` short runs of ``--seconds``):

    parse       parse_message µs per REGISTER and per 200 OK
    client      REGISTER/s of our client against our registrar, UDP TCP TLS WSS
    sipp        our client against SIPp's UAS, and SIPp's UAC against SIPp's UAS (UDP, TCP)
    registrar   SIPp's UAC against our registrar, and against Kamailio if installed
    dns         DNS queries/s against our DNS server
    memory      RSS per registered TCP and TLS endpoint at 1,000 and 10,000 endpoints
    hardening   what the registrar's authorisation, limits and connection policy cost:
                its CPU per registration in process, on and off (alternating rounds);
                REGISTER/s and server CPU per request over UDP and TCP, on and off (runs
                interleaved, both servers up at once): our client with digest, and
                SIPp's UAC if installed
    soak        1,000,000 requests against ``testbed serve``: its RSS and rate over time
    barrage     200,000 malformed messages per transport (UDP, TCP) and seed at a served
                registrar, an OPTIONS every 100 that must be answered; then 300,000
                malformed DNS queries (half UDP, half TCP) at its DNS server, a query
                every 100 that must be answered
    ray         our client on 1 and 2 local Ray workers; Ray's start-up time (:mod:`._ray`)

``make bench`` runs all but the soak and the barrage; ``make soak`` those two
(``--only soak,barrage``), which take longer (an hour or so: a million requests, a
million bad messages).

Servers (ours, SIPp, Kamailio) run in processes of their own; our client runs in this
process, on its reactor, except in the ``sipp`` phase: there it runs in one or two
processes of its own, as SIPp does (each side of a comparison is probed at a few
windows and process counts, and measured at its best: :mod:`._compare`). Ratios compare
figures taken in the same run (the machines we run on vary by ±15% from run to run).
Results go to ``reports/bench.json`` with the machine they were taken on; a table is
printed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

from twisted.internet import defer, threads

from servers.loopback import find_free_loopback
from testbed.load import (
    LoadConfig,
    LoadResult,
    LoadRunner,
    ProcessError,
    ServerProcess,
    ServerSpec,
    run_load,
    run_processes,
    sip_zone,
    tune_gc,
)
from testbed.reactor import IReactor
from testbed.sip import SipUri, parse_uri

from . import _kamailio, _nsd, _sipp
from ._barrage import barrage
from ._compare import Setting, Side, compare
from ._dns import measure
from ._dns_barrage import dns_barrage
from ._kamailio import kamailio_version
from ._parse import parse_figures
from ._ray import ray_phase
from ._registrar_cost import registrar_cost
from ._report import table
from ._served import ServedWorld
from ._sipp import sipp_version
from ._soak import soak

P = ParamSpec("P")
R = TypeVar("R")

PHASES = ("parse", "client", "sipp", "registrar", "dns", "memory", "hardening", "ray",
          "soak", "barrage")
DEFAULT_PHASES = PHASES[:8]
"""What ``make bench`` runs; the soak and the barrage are ``make soak``."""
TARGETS: dict[str, Any] = {
    "registrar_vs_kamailio": 0.5,
    "client_vs_sipp": {"UDP": 0.5, "TCP": 0.3, "TLS": 0.3, "WSS": 0.3},
    "dns_vs_nsd": 0.1,
}
ANCHORS: dict[str, Any] = {
    # ANCHORS.md, measured on a machine like ours (2 shared cores): reference only.
    "sipp_uac_to_uas": {"UDP": 74_300, "TCP": 80_700, "TLS": 51_000},
    "kamailio_registrar": {"UDP": 21_500, "TCP": 20_200, "TLS": 13_900},
    "kamailio_kib_per_tcp_endpoint": 17,
}
ENDPOINTS = 1000
"""Distinct users in the throughput runs (the registrar's location table holds them)."""
WINDOW = 100
"""Operations in flight in our client's throughput runs (SIPp's ``-l`` is the same)."""
BARRAGE_EVERY = 100
"""Bad messages between two liveness checks of the barrage."""
CLIENT_SETTINGS = (Setting(50), Setting(200), Setting(100, 2), Setting(400, 2))
"""Our client's settings tried before a comparison (the best is kept and reported): a
window in one process, or split over two (both cores), as SIPp's are."""
SIPP_SETTINGS = (Setting(100), Setting(400), Setting(400, 2))
"""SIPp UAC's calls in flight (``-l``) tried before a comparison, in one SIPp or split
over two at once (their rates summed)."""
SIPP_WINDOWS = (Setting(100), Setting(400))
"""SIPp UAC's windows against a registrar (one SIPp: the server is what is compared)."""
DNS_WINDOWS = (100, 500)
"""dnsperf's queries outstanding (``-q``) tried against each DNS server."""
KAMAILIO_CHILDREN = 4
"""Kamailio's UDP and TCP worker processes (``children``, ``tcp_children``)."""


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    from importlib.metadata import PackageNotFoundError, version

    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def package(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    import ssl

    memory = None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            memory = int(meminfo.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_model": model,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_mib": memory,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "twisted": package("twisted"),
        "pyopenssl": package("pyopenssl"),
        "openssl": ssl.OPENSSL_VERSION,
        "os": platform.platform(),
        "sipp": sipp_version(),
        "kamailio": kamailio_version(),
        "nsd": _nsd.nsd_version(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "shared": "other sessions load this machine: only same-run ratios mean anything",
    }


class Bench:
    """The phases, their results, and the bookkeeping of one run."""

    def __init__(self, args: argparse.Namespace, reactor: IReactor) -> None:
        self.args = args
        self.reactor = reactor
        self.work = Path(tempfile.mkdtemp(prefix="testbed-bench-"))
        self.data: dict[str, Any] = {"machine": machine_info(),
                           "settings": {"runs": args.runs, "seconds": args.seconds,
                                        "endpoints": ENDPOINTS, "window": WINDOW,
                                        "memory_endpoints": args.memory,
                                        "memory_endpoints_tls": args.memory_tls,
                                        "soak_requests": args.soak_requests,
                                        "soak_t1_ms": args.soak_t1 * 1000,
                                        "soak_rate": args.soak_rate,
                                        "barrage_messages": args.barrage,
                                        "barrage_seeds": args.barrage_seeds,
                                        "dns_barrage_queries": args.dns_barrage,
                                        "registrar_cost": args.registrar_cost},
                           "anchors": ANCHORS, "targets": TARGETS, "phases": {},
                           "notes": []}

    def note(self, text: str) -> None:
        self.data["notes"].append(text)
        print(f"  note: {text}", flush=True)

    def say(self, text: str) -> None:
        print(text, flush=True)

    # -- helpers ------------------------------------------------------------------------

    async def median_of(self, label: str,
                        measure: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        runs = []
        for _ in range(self.args.runs):
            runs.append(await measure())
        rates = [r["rate"] for r in runs]
        median = statistics.median(rates)
        self.say(f"  {label:<52} {median:>10,.0f}/s   runs: "
                 + ", ".join(f"{r:,.0f}" for r in rates))
        return {"rate": median, "runs": runs}

    def _load_config(self, uri: str, transport: str, *, ca_pem: bytes | None = None,
                     seconds: float | None = None, window: int = WINDOW,
                     password: str | None = None) -> LoadConfig:
        return LoadConfig(registrar=_sip_uri(uri), transport=transport.lower(),
                          endpoints=ENDPOINTS, window=window, password=password,
                          duration=seconds or self.args.seconds, domain="example.com",
                          server_name="example.com", ca_pem=ca_pem, drain=10.0,
                          seed=int(time.monotonic_ns() % 1000))

    async def our_client(self, uri: str, transport: str, *, ca_pem: bytes | None = None,
                         seconds: float | None = None, window: int = WINDOW,
                         password: str | None = None) -> dict[str, Any]:
        config = self._load_config(uri, transport, ca_pem=ca_pem, seconds=seconds,
                                   window=window, password=password)
        return self._client_figures(await run_load(self.reactor, config))

    @staticmethod
    def _client_figures(result: LoadResult) -> dict[str, Any]:
        latency = result.latency()
        return {"rate": result.rate_achieved, "succeeded": result.succeeded,
                "failed": result.failed, "unfinished": result.unfinished,
                "errors": dict(result.errors), "p50_ms": _ms(latency.p50),
                "p99_ms": _ms(latency.p99)}

    async def blocking(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a blocking call (a SIPp run) off the reactor thread."""
        result: R = await threads.deferToThread(function, *args, **kwargs)
        return result

    # -- phases -------------------------------------------------------------------------

    async def parse(self) -> dict[str, Any]:
        figures = parse_figures()
        for name, value in figures.items():
            self.say(f"  {name:<52} {value:>10.1f} µs/message")
        return figures

    async def client(self) -> dict[str, Any]:
        out = {}
        spec = ServerSpec(transports=("udp", "tcp", "tls", "wss"), domain="example.com")
        with ServerProcess(spec) as server:
            for transport in ("UDP", "TCP", "TLS", "WSS"):
                uri = server.uri(transport)
                out[transport] = await self.median_of(
                    f"our client → our registrar, {transport}",
                    partial(self.our_client, uri, transport, ca_pem=server.ca_pem))
        return out

    async def sipp(self) -> dict[str, Any]:
        """Our client and SIPp's UAC, each against SIPp's UAS, each at its best setting
        (window, and one or two processes)."""
        if _sipp.sipp_binary() is None:
            self.note("SIPp not found: apt-get install -y -q sip-tester (phase skipped)")
            return {"skipped": "sipp not installed"}
        folder = self.work / "sipp"
        _sipp.write_sipp_scenarios(folder, ENDPOINTS)
        out: dict[str, Any] = {}
        for transport in ("UDP", "TCP"):
            out[transport] = await self._client_vs_sipp(folder, transport, CLIENT_SETTINGS)
        return out

    async def _client_vs_sipp(self, folder: Path, transport: str,
                              client_settings: tuple[Setting, ...]) -> dict[str, Any]:
        uas = _sipp.SippUas(folder, "127.0.0.1", transport, seconds=600)
        uas.start()
        try:
            uri = f"sip:127.0.0.1:{uas.port}" + (";transport=tcp" if transport == "TCP" else "")
            ours = Side("ours", f"our client → SIPp UAS, {transport}",
                        partial(self._client_at, uri, transport), client_settings)
            theirs = Side("sipp", f"SIPp UAC → SIPp UAS, {transport}",
                          partial(self._sipp_uac, folder, ("127.0.0.1", uas.port), transport),
                          SIPP_SETTINGS)
            return await self.compare(ours, theirs, TARGETS["client_vs_sipp"][transport])
        finally:
            uas.stop()

    async def _client_at(self, uri: str, transport: str, setting: Setting,
                         seconds: float) -> dict[str, Any]:
        """Our client at ``setting``, in processes of its own as SIPp is (started
        together, their results merged; this process only waits)."""
        config = self._load_config(uri, transport, seconds=seconds, window=setting.window)
        result = await self.blocking(run_processes, config, setting.processes)
        return self._client_figures(result) | {"processes": setting.processes}

    async def compare(self, ours: Side, theirs: Side, target: float) -> dict[str, Any]:
        return await compare(ours, theirs, runs=self.args.runs, seconds=self.args.seconds,
                             probe_seconds=self.args.probe_seconds, target=target,
                             say=self.say)

    async def _sipp_uac(self, folder: Path, target: tuple[str, int], transport: str,
                        setting: Setting | None = None,
                        seconds: float | None = None) -> dict[str, Any]:
        """SIPp's UAC at ``setting``: its window split over that many SIPp processes run
        at once, their rates and counts summed."""
        chosen = setting or Setting(WINDOW)
        share = max(1, chosen.window // chosen.processes)
        runs = await defer.gatherResults([
            threads.deferToThread(_sipp.run_uac, folder, target, transport,
                                  seconds=seconds or self.args.seconds, limit=share)
            for _ in range(chosen.processes)])
        for run in runs:
            if run.error:
                self.note(f"SIPp {transport}: {run.error}")
        return {"rate": sum(run.rate for run in runs),
                "successful": sum(run.successful for run in runs),
                "failed": sum(run.failed for run in runs),
                "retransmissions": sum(run.retransmissions for run in runs),
                "seconds": round(max(run.seconds for run in runs), 3)}

    async def registrar(self) -> dict[str, Any]:
        """SIPp's UAC against our registrar and against Kamailio, alternately."""
        if _sipp.sipp_binary() is None:
            self.note("SIPp not found: apt-get install -y -q sip-tester (phase skipped)")
            return {"skipped": "sipp not installed"}
        folder = self.work / "sipp"
        _sipp.write_sipp_scenarios(folder, ENDPOINTS)
        out: dict[str, Any] = {}
        with ServerProcess(ServerSpec(transports=("udp", "tcp"))) as server:
            if _kamailio.kamailio_binary() is None:
                self.note("Kamailio not installed (apt-get install -y -q kamailio): registrar "
                          "ratios use ANCHORS.md's figures, not the same run")
                for transport in ("UDP", "TCP"):
                    alone = await self.median_of(
                        f"SIPp UAC → our registrar, {transport}",
                        partial(self._sipp_uac, folder, server.address(transport), transport))
                    reference = ANCHORS["kamailio_registrar"][transport]
                    out[transport] = {"ours": alone, "kamailio": None,
                                      "ratio_to_anchor": alone["rate"] / reference}
                return out
            kamailio = _kamailio.Kamailio(self.work / "kamailio", find_free_loopback([]),
                                          children=KAMAILIO_CHILDREN)
            try:
                kamailio.start()
            except RuntimeError as exc:
                self.note(str(exc))
                return out
            try:
                for transport in ("UDP", "TCP"):
                    ours = Side("ours", f"SIPp UAC → our registrar, {transport}",
                                partial(self._sipp_uac, folder, server.address(transport),
                                        transport), SIPP_WINDOWS)
                    theirs = Side("kamailio", f"SIPp UAC → Kamailio, {transport}",
                                  partial(self._sipp_uac, folder, kamailio.address, transport),
                                  SIPP_WINDOWS)
                    out[transport] = await self.compare(ours, theirs,
                                                        TARGETS["registrar_vs_kamailio"])
                    out[transport]["kamailio"]["children"] = KAMAILIO_CHILDREN
                    out[transport]["ours"]["processes"] = 1
            finally:
                kamailio.stop()
        return out

    async def dns(self) -> dict[str, Any]:
        """dnsperf against our DNS server and against NSD serving the same zone."""
        spec = ServerSpec(transports=("udp",), dns=True, domain="example.com")
        with ServerProcess(spec) as server:
            address = server.dns
            assert address is not None, "the registrar process was asked for DNS"
            missing = _nsd.dns_tools()
            if missing is not None:
                self.note(f"{missing} (DNS phase: our closed-loop client, no ratio)")
                return await self.median_of("DNS queries/s, our server (UDP)",
                                            lambda: self._dns_run(address))
            zone = sip_zone(spec.domain, server.host,
                            {t: server.address(t) for t in spec.transports})
            wanted = _nsd.questions(zone)
            nsd = _nsd.Nsd(self.work / "nsd", find_free_loopback([]), zone)
            nsd.start()
            try:
                ours = Side("ours", "dnsperf → our DNS server (NAPTR, SRV, A)",
                            partial(self._dnsperf, address, wanted), DNS_WINDOWS)
                theirs = Side("nsd", "dnsperf → NSD, one server process",
                              partial(self._dnsperf, nsd.address, wanted), DNS_WINDOWS)
                out = await self.compare(ours, theirs, TARGETS["dns_vs_nsd"])
            finally:
                nsd.stop()
        out["questions"] = wanted
        out["nsd"]["version"] = _nsd.nsd_version()
        out["rate"] = out["ours"]["rate"]
        return out

    async def _dnsperf(self, server: tuple[str, int], wanted: list[str], setting: Setting,
                       seconds: float) -> dict[str, Any]:
        run = await self.blocking(_nsd.run_dnsperf, self.work / "dnsperf", server, wanted,
                                  seconds=seconds, outstanding=setting.window)
        if run.error:
            self.note(run.error)
        return {"rate": run.qps, "sent": run.sent, "completed": run.completed,
                "lost": run.lost}

    async def _dns_run(self, address: tuple[str, int]) -> dict[str, Any]:
        figures = await measure(self.reactor, address, "example.com",
                                seconds=self.args.seconds)
        figures["rate"] = figures.pop("qps")
        return figures

    async def ray(self) -> dict[str, Any]:
        return await ray_phase(self, ENDPOINTS, WINDOW)

    async def memory(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for transport in ("TCP", "TLS"):
            out[transport] = {}
            counts = self.args.memory if transport == "TCP" else self.args.memory_tls
            for count in counts:
                figures = await self._memory_run(transport, count)
                out[transport][str(count)] = figures
                self.say(f"  memory per registered {transport} endpoint, {count:>6,} "
                         f"endpoints {figures['kib_per_endpoint']:>9.1f} KiB "
                         f"(RSS {figures['rss_before_kib'] / 1024:.0f} → "
                         f"{figures['rss_after_kib'] / 1024:.0f} MiB, "
                         f"{figures['bindings']:,} bindings, {figures['seconds']:.0f} s)")
        return out

    async def _memory_run(self, transport: str, count: int) -> dict[str, Any]:
        started = time.monotonic()
        spec = ServerSpec(transports=(transport.lower(),), domain="example.com",
                          time_limit=900)
        with ServerProcess(spec) as server:
            before = server.command("gc")
            config = LoadConfig(registrar=_sip_uri(server.uri(transport)),
                                transport=transport.lower(), endpoints=count, count=count,
                                window=200, connections="per-endpoint", domain="example.com",
                                server_name="example.com", ca_pem=server.ca_pem,
                                time_limit=600, drain=30, connect_timeout=30)
            runner = LoadRunner(self.reactor, config)
            try:
                result = await runner.run()
                after = server.command("gc")  # every endpoint still connected
            finally:
                await runner.stop()
        delta = after["rss_kib"] - before["rss_kib"]
        return {"endpoints": count, "registered": result.succeeded,
                "failed": result.failed, "bindings": after["bindings"],
                "connections": after["flows"], "rss_before_kib": before["rss_kib"],
                "rss_after_kib": after["rss_kib"],
                "kib_per_endpoint": delta / max(after["bindings"], 1),
                "seconds": time.monotonic() - started}


    async def hardening(self) -> dict[str, Any]:
        """What the registrar's authorisation, limits and connection policy cost: the
        same load against a registrar with them on and one with them off, both up at
        once and the runs alternating (on, off, on, off...), so that whatever else
        loads the machine weighs on both alike. Our client registers with digest (so
        the authorisation runs); SIPp's UAC, when installed, without (the registrar
        phase's load, where the server's work is all there is to measure)."""
        # Many short rounds: the least disturbed ones give the minimum.
        per_round = min(50, self.args.registrar_cost)
        cost = registrar_cost(rounds=max(1, self.args.registrar_cost // per_round),
                              per_round=per_round)
        self.say(f"  registrar CPU per digest registration (in process, "
                 f"{cost['registrations']:,} each): hardening on {cost['on']['min_us']:.1f} µs, "
                 f"off {cost['off']['min_us']:.1f} µs (minimum of the rounds), on/off "
                 f"{cost['ratio_min']:.3f}; medians {cost['on']['median_us']:.1f} and "
                 f"{cost['off']['median_us']:.1f} µs, {cost['ratio_median']:.3f}")
        out: dict[str, Any] = {"registrar_cpu": cost}
        loads: list[tuple[str, int, Callable[[ServerProcess, str], Awaitable[dict[str, Any]]]]]
        loads = [("our client, digest", ENDPOINTS, lambda server, transport: self.our_client(
            server.uri(transport), transport, password="secret"))]
        if _sipp.sipp_binary() is not None:
            folder = self.work / "sipp"
            _sipp.write_sipp_scenarios(folder, ENDPOINTS)
            loads.append(("SIPp UAC", 0, lambda server, transport: self._sipp_uac(
                folder, server.address(transport), transport)))
        else:
            self.note("SIPp not found: the hardening phase measures with our client only")
        for name, users, load in loads:
            specs = [ServerSpec(transports=("udp", "tcp"), users=users, password="secret",
                                hardening=on) for on in (True, False)]
            with ServerProcess(specs[0]) as on, ServerProcess(specs[1]) as off:
                servers = {"on": on, "off": off}
                for transport in ("UDP", "TCP"):
                    runs: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
                    for _ in range(self.args.runs):
                        for mode, server in servers.items():
                            runs[mode].append(await _with_server_cpu(server, load, transport))
                    entry = {mode: {key: statistics.median(r[key] for r in runs[mode])
                                    for key in ("rate", "cpu_us_per_request")}
                             for mode in runs}
                    on_, off_ = entry["on"], entry["off"]
                    figures = out.setdefault(name, {})[transport] = {
                        "on": {**on_, "runs": runs["on"]}, "off": {**off_, "runs": runs["off"]},
                        "ratio": on_["rate"] / off_["rate"] if off_["rate"] else None,
                        "cpu_ratio": on_["cpu_us_per_request"] / off_["cpu_us_per_request"]
                        if off_["cpu_us_per_request"] else None}
                    self.say(f"  {name} → our registrar, {transport}: hardening on "
                             f"{on_['rate']:,.0f}/s {on_['cpu_us_per_request']:,.0f} µs CPU/"
                             f"request, off {off_['rate']:,.0f}/s "
                             f"{off_['cpu_us_per_request']:,.0f} µs; on/off rate "
                             f"{figures['ratio'] or 0:.3f}, CPU {figures['cpu_ratio'] or 0:.3f}"
                             "   rates on: " + ", ".join(f"{r['rate']:,.0f}" for r in runs["on"])
                             + "; off: " + ", ".join(f"{r['rate']:,.0f}" for r in runs["off"]))
        return out

    async def soak(self) -> dict[str, Any]:
        return await soak(self.reactor, self.work / "soak", requests=self.args.soak_requests,
                          t1=self.args.soak_t1, rate=self.args.soak_rate, say=self.say)

    async def barrage(self) -> dict[str, Any]:
        world = ServedWorld(self.work / "barrage", t1=0.5)
        await threads.deferToThread(world.start)
        out: dict[str, Any] = {"runs": [], "dns": []}
        try:
            for transport in ("UDP", "TCP"):
                for seed in self.args.barrage_seeds:
                    out["runs"].append(await barrage(
                        self.reactor, world, transport, count=self.args.barrage, seed=seed,
                        every=BARRAGE_EVERY, say=self.say))
            for transport, count in (("UDP", (self.args.dns_barrage + 1) // 2),
                                     ("TCP", self.args.dns_barrage // 2)):
                out["dns"].append(await dns_barrage(
                    self.reactor, world, transport, count=count,
                    seed=self.args.barrage_seeds[0], every=BARRAGE_EVERY, say=self.say))
            out["alive"] = world.alive()
        finally:
            world.stop()
        return out


async def _with_server_cpu(
        server: ServerProcess, load: Callable[[ServerProcess, str], Awaitable[dict[str, Any]]],
        transport: str) -> dict[str, Any]:
    """Run ``load``; its figures with the server's CPU time per request it received
    (CPU time, unlike a rate, hardly moves with what else loads the machine)."""
    before = server.command("stats")
    figures = await load(server, transport)
    after = server.command("stats")
    received = after["messages"].get("received", 0) - before["messages"].get("received", 0)
    cpu = after["cpu_s"] - before["cpu_s"]
    return {**figures, "server_requests": received,
            "cpu_us_per_request": cpu / received * 1e6 if received else 0.0}


def _sip_uri(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri), text
    return uri


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


async def _run(reactor: IReactor, args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args, reactor)
    machine = bench.data["machine"]
    bench.say(f"SIP transport testbed benchmarks — {machine['date']}")
    bench.say(f"  {machine['cpu_model']}, {machine['cores']} cores, Python {machine['python']},"
              f" Twisted {machine['twisted']}, {machine['sipp'] or 'no SIPp'}, "
              f"{'Kamailio ' + machine['kamailio'] if machine['kamailio'] else 'no Kamailio'}")
    try:
        for phase in args.only:
            bench.say(f"[{phase}]")
            started = time.monotonic()
            try:
                bench.data["phases"][phase] = await getattr(bench, phase)()
            except (ProcessError, RuntimeError, OSError) as exc:
                bench.note(f"{phase} failed: {exc}")
                bench.data["phases"][phase] = {"error": str(exc)}
            bench.data.setdefault("durations", {})[phase] = round(time.monotonic() - started, 1)
            gc.collect()
    finally:
        if args.keep_work:
            bench.note(f"work files kept in {bench.work}")
        else:
            shutil.rmtree(bench.work, ignore_errors=True)
    return bench.data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testbed.bench",
        description="Benchmarks: print the figures, write them as JSON; assert nothing.")
    parser.add_argument("--only", default=",".join(DEFAULT_PHASES),
                        help=f"comma-separated phases among {', '.join(PHASES)} "
                             f"(default: {', '.join(DEFAULT_PHASES)})")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--probe-seconds", type=float, default=1.0,
                        help="seconds per run when looking for a side's best window")
    parser.add_argument("--memory-tls", default="1000",
                        help="endpoint counts of the memory phase over TLS (handshakes are "
                             "slow on a shared machine: 1,000 keeps make bench near 6 min)")
    parser.add_argument("--memory", default="1000,10000",
                        help="endpoint counts of the memory phase over TCP")
    parser.add_argument("--soak-requests", type=int, default=1_000_000,
                        help="requests of the soak phase")
    parser.add_argument("--soak-t1", type=float, default=0.02,
                        help="T1 of the soaked world, seconds (default 0.02, as the "
                             "catalogue's worlds; Timer J = 64 x T1 keeps 64 x T1 x rate "
                             "completed transactions: 0.5 adds a plateau, see the README)")
    parser.add_argument("--soak-rate", type=float, default=None,
                        help="requests/s of the soak (default: as fast as it goes)")
    parser.add_argument("--barrage", type=int, default=200_000,
                        help="malformed messages per transport and seed")
    parser.add_argument("--barrage-seeds", default="1,2", help="seeds of the barrage")
    parser.add_argument("--dns-barrage", type=int, default=300_000,
                        help="malformed DNS queries of the barrage (half UDP, half TCP)")
    parser.add_argument("--registrar-cost", type=int, default=15_000,
                        help="digest registrations per mode of the hardening phase's "
                             "in-process measurement (rounds of 50)")
    parser.add_argument("--json", default="reports/bench.json", help="where to write results")
    parser.add_argument("--quick", action="store_true",
                        help="one 2 s run per figure, memory at 1,000 only, a soak of "
                             "20,000 requests, a barrage of 2,000 and 3,000 DNS queries "
                             "(a smoke test)")
    parser.add_argument("--keep-work", action="store_true", help="keep SIPp/Kamailio files")
    args = parser.parse_args(argv)
    args.only = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in args.only if p not in PHASES]
    if unknown:
        parser.error(f"unknown phase(s) {', '.join(unknown)}; choose among {', '.join(PHASES)}")
    args.memory = [int(n) for n in args.memory.split(",") if n.strip()]
    args.memory_tls = [int(n) for n in args.memory_tls.split(",") if n.strip()]
    try:
        args.barrage_seeds = [int(n) for n in args.barrage_seeds.split(",") if n.strip()]
    except ValueError:
        parser.error("--barrage-seeds takes comma-separated integers")
    if args.quick:
        args.runs, args.seconds, args.probe_seconds = 1, 2.0, 0.5
        args.memory = args.memory_tls = [1000]
        args.soak_requests, args.barrage, args.dns_barrage = 20_000, 2_000, 3_000
    if args.runs < 1 or args.seconds <= 0:
        parser.error("--runs must be at least 1 and --seconds positive")
    if args.soak_requests < 1 or args.barrage < 1 or args.dns_barrage < 2 \
            or args.registrar_cost < 1 \
            or args.soak_t1 <= 0 or (args.soak_rate is not None and args.soak_rate <= 0) \
            or not args.barrage_seeds:
        parser.error("--soak-requests, --soak-t1, --soak-rate, --barrage, --dns-barrage, "
                     "--registrar-cost and --barrage-seeds must be positive")

    from twisted.internet import defer, task

    tune_gc()
    _raise_fd_limit()
    results: list[dict[str, Any]] = []
    started = time.monotonic()

    async def go(reactor: IReactor) -> None:
        results.append(await _run(reactor, args))

    try:
        task.react(lambda reactor: defer.ensureDeferred(go(cast(IReactor, reactor))))
    except SystemExit as exit_:
        if exit_.code not in (0, None) or not results:
            print("the benchmark run failed", file=sys.stderr)
            return 1
    data = results[0]
    data["total_seconds"] = round(time.monotonic() - started, 1)
    print()
    print(table(data))
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nwritten {path} ({data['total_seconds']:.0f} s)")
    return 0


def _raise_fd_limit() -> None:
    """10,000 connections need 10,000 descriptors: raise the soft limit to the hard one."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
