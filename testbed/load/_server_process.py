"""Our registrar (and DNS server) for load runs and benchmarks, in a process of its own.

``python -m testbed.load._server_process SPEC_JSON`` starts a :class:`Registrar` with
the users ``{prefix}0 .. {prefix}N-1`` on the transports asked for, optionally a DNS
server with the NAPTR/SRV/A records that lead to them (so AUTO mode works), prints one
JSON line
``{"event": "ready", ...}`` with every address and the CA to trust, then serves. It
reads commands on stdin, one per line, and answers each with one JSON line:

    stats      bindings, requests handled, RSS (KiB), open connections, CPU seconds used
    gc         the same, after a full garbage collection (for memory measurements)
    quit       stop (EOF on stdin too)

It always stops by itself after ``time_limit`` seconds. :class:`ServerProcess` is the
parent's side: start, read the addresses, ask for stats, stop. Running the servers in
their own process keeps their CPU and memory apart from the client's, which is what a
benchmark measures.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import IO, Any, cast

from twisted.internet import defer, stdio
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from servers.certs import CertificateAuthority, issue_server_certificate
from servers.dns import DnsServer
from servers.loopback import find_free_loopback
from servers.registrar import Registrar, RegistrarConfig
from testbed.reactor import IReactor
from testbed.sip import AUTO, MODES, Timers, Transport, clear_parse_caches, fmt_hostport
from testbed.transport import ConnectionPolicy, server_tls_options

from ._processes import LineChannel, ProcessError, rss_kib, stop_process, tune_gc
from ._quiet_trace import QuietTrace

TRANSPORTS = tuple(mode for mode in MODES if mode != AUTO)
"""What the registrar process can listen on (every mode but RFC 3263 discovery)."""


@dataclass
class ServerSpec:
    """What the server process runs.

    ``users`` > 0 turns digest authentication on for ``{user_prefix}0..users-1`` with
    ``password``. Ports are ephemeral (0) unless given; ``host`` is a free 127.0.0.N
    unless given. ``dns`` adds an authoritative server for ``domain`` whose NAPTR and
    SRV records point at the listeners (TLS first, then TCP, WSS and UDP).
    ``hardening`` False turns the registrar's authorisation and limits off
    (``registrar_policy: any``, no contact, AOR or Contact-size cap) and its connection
    policy (``connections: off``), to measure what they cost.
    """

    transports: tuple[str, ...] = ("udp",)
    users: int = 0
    user_prefix: str = "alice"
    password: str = "secret"
    domain: str = "example.com"
    host: str | None = None
    ports: dict[str, int] = field(default_factory=dict)
    dns: bool = False
    t1: float = 0.5
    time_limit: float = 900.0
    hardening: bool = True

    def __post_init__(self) -> None:
        self.transports = tuple(t.lower() for t in self.transports)
        unknown = [t for t in self.transports if t not in TRANSPORTS]
        if unknown or not self.transports:
            raise ValueError(f"transports must be some of {', '.join(TRANSPORTS)}")
        if self.users < 0:
            raise ValueError("users must not be negative")


def sip_zone(domain: str, host: str, bound: dict[str, tuple[str, int]]) -> dict[str, Any]:
    """The zone of a registrar on ``bound`` listeners: NAPTR (TLS, TCP, WSS, UDP), their SRV
    records and the A record of the registrar, as zone data (``DnsServer`` takes it)."""
    order = [("tls", "SIPS+D2T", "_sips._tcp"), ("tcp", "SIP+D2T", "_sip._tcp"),
             ("wss", "SIPS+D2W", "_sips._ws"), ("udp", "SIP+D2U", "_sip._udp")]
    target = f"pbx.{domain}"
    records: list[dict[str, Any]] = []
    for rank, (transport, service, prefix) in enumerate(order, start=1):
        if transport not in bound:
            continue
        records.append({"name": domain, "type": "NAPTR", "order": 10 * rank, "preference": 10,
                        "flags": "s", "service": service, "regexp": "",
                        "replacement": f"{prefix}.{domain}"})
        records.append({"name": f"{prefix}.{domain}", "type": "SRV", "priority": 10,
                        "weight": 10, "port": bound[transport][1], "target": target})
    records.append({"name": target, "type": "A", "address": host})
    return {"origin": domain, "records": records}


class _Server:
    """The registrar, the DNS server and the command loop, on the real reactor."""

    def __init__(self, spec: ServerSpec, reactor: IReactor) -> None:
        self.spec = spec
        self.reactor = reactor
        self.host = spec.host or find_free_loopback([])
        users = {f"{spec.user_prefix}{i}": spec.password for i in range(spec.users)}
        self.trace = QuietTrace(reactor.seconds, "registrar")
        # A long-running server keeps bounded records: the last 1,000 requests.
        config = RegistrarConfig(realm=spec.domain, users=users) if spec.hardening else \
            RegistrarConfig(realm=spec.domain, users=users, registrar_policy="any",
                            max_contacts=0, contact_max_size=0, max_aors=0)
        self.registrar = Registrar(reactor, config, timers=Timers.scaled(spec.t1),
                                   trace=self.trace, received_limit=1000)
        # A phone per connection, all from one address (10,000 in the memory bench):
        # the connection policy's caps are lifted here, its deadlines kept.
        self.registrar.stack.policy = ConnectionPolicy(
            max_connections=None, max_connections_per_source=None) if spec.hardening \
            else ConnectionPolicy.off(listen_backlog=ConnectionPolicy.listen_backlog)
        self.bound: dict[str, tuple[str, int]] = {}
        self.ca_pem: str | None = None
        self.dns: DnsServer | None = None
        self.dns_address: tuple[str, int] | None = None

    def start(self) -> dict[str, Any]:
        options = None
        if {"tls", "wss"} & set(self.spec.transports):
            ca = CertificateAuthority()
            certificate = issue_server_certificate("valid", [self.spec.domain, self.host], ca,
                                                   CertificateAuthority("untrusted"))
            options = server_tls_options(certificate)
            self.ca_pem = ca.cert_pem.decode("ascii")
        for transport in self.spec.transports:
            port = self.spec.ports.get(transport, 0)
            self.bound[transport] = self.registrar.listen(transport, self.host, port,
                                                          tls_options=options)
        if self.spec.dns:
            self.dns = DnsServer([sip_zone(self.spec.domain, self.host, self.bound)],
                                 self.reactor, log_limit=1000)
            listening = self.dns.listen(self.host, 0)
            self.dns_address = (listening.host, listening.port)
        return {"event": "ready", "pid": os.getpid(), "host": self.host,
                "listen": {t: list(a) for t, a in self.bound.items()},
                "dns": list(self.dns_address) if self.dns_address else None,
                "domain": self.spec.domain, "ca_pem": self.ca_pem, "rss_kib": rss_kib()}

    def stats(self) -> dict[str, Any]:
        location = self.registrar.location.bindings
        return {"event": "stats", "bindings": sum(len(b) for b in location.values()),
                "aors": len(location), "flows": len(self.registrar.stack.flows),
                "transactions": len(self.registrar.stack.table),
                "messages": dict(self.trace.counts), "rss_kib": rss_kib(),
                "cpu_s": time.process_time()}

    async def stop(self) -> None:
        await self.registrar.stop()
        if self.dns is not None:
            await self.dns.stop()


def main(argv: list[str] | None = None) -> int:
    """The server process: ``python -m testbed.load._server_process SPEC_JSON``."""
    from twisted.internet import reactor as global_reactor  # this process's own reactor

    reactor = cast(IReactor, global_reactor)
    argv = sys.argv[1:] if argv is None else argv
    spec = ServerSpec(**json.loads(argv[0]))
    tune_gc()
    server = _Server(spec, reactor)
    stopping: list[bool] = []

    def emit(data: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()

    def shutdown() -> None:
        if stopping:
            return
        stopping.append(True)

        async def go() -> None:
            try:
                await server.stop()
            finally:
                reactor.stop()

        defer.ensureDeferred(go())

    class Commands(LineReceiver):
        delimiter = b"\n"

        def lineReceived(self, line: bytes) -> None:
            command = line.decode("ascii", "replace").strip()
            if command == "gc":
                clear_parse_caches()  # bounded, but noise in a per-endpoint figure
                gc.collect()
                emit(server.stats() | {"event": "gc"})
            elif command == "stats":
                emit(server.stats())
            elif command == "quit":
                shutdown()
            elif command:
                emit({"event": "error", "message": f"unknown command {command!r}"})

        def connectionLost(self, reason: Failure | None = None) -> None:
            shutdown()

    try:
        ready = server.start()
    except Exception as exc:  # one line for the parent, never a traceback on its pipe
        emit({"event": "error", "message": f"{type(exc).__name__}: {exc}"})
        return 1
    emit(ready)
    stdio.StandardIO(Commands())
    reactor.callLater(spec.time_limit, shutdown)
    reactor.run()
    return 0


# -- the parent's side --------------------------------------------------------------------


class ServerProcess:
    """Our registrar in a child process: ``start()``, ``uri(transport)``, ``stop()``."""

    def __init__(self, spec: ServerSpec, *, python: str | None = None) -> None:
        self.spec = spec
        self.python = python or sys.executable
        self.process: subprocess.Popen[bytes] | None = None
        self.ready: dict[str, Any] = {}
        self._channel: LineChannel | None = None
        self._stderr: IO[bytes] | None = None

    def start(self, timeout: float = 30.0) -> dict[str, Any]:
        """Start the process and wait for its ready line (its addresses)."""
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [self.python, "-m", "testbed.load._server_process", json.dumps(asdict(self.spec))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._channel = LineChannel(self.process)
        try:
            ready = self._channel.read(timeout)
        except ProcessError:
            self.stop()
            raise
        if ready is None or ready.get("event") != "ready":
            error = self._stderr_tail()
            self.stop()
            message = (ready or {}).get("message") or error or "no ready line"
            raise ProcessError(f"registrar process did not start: {message}")
        self.ready = ready
        return ready

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def host(self) -> str:
        return str(self.ready["host"])

    @property
    def ca_pem(self) -> bytes | None:
        pem = self.ready.get("ca_pem")
        return pem.encode("ascii") if pem else None

    @property
    def dns(self) -> tuple[str, int] | None:
        dns = self.ready.get("dns")
        return (dns[0], int(dns[1])) if dns else None

    def address(self, transport: str) -> tuple[str, int]:
        host, port = self.ready["listen"][transport.lower()]
        return host, int(port)

    def uri(self, transport: str) -> str:
        """A URI that leads straight to one listener (no DNS needed)."""
        where = fmt_hostport(self.address(transport))
        param = Transport.parse(transport).contact_param
        return f"sip:{where};transport={param}" if param else f"sip:{where}"

    def command(self, command: str, timeout: float = 60.0) -> dict[str, Any]:
        """Send a command (``stats``, ``gc``) and return its JSON answer."""
        assert self.process is not None and self.process.stdin is not None
        assert self._channel is not None
        self.process.stdin.write(command.encode("ascii") + b"\n")
        self.process.stdin.flush()
        while True:
            answer = self._channel.read(timeout)
            if answer is None:
                raise ProcessError(f"registrar process exited: {self._stderr_tail()}")
            if answer.get("event") in ("stats", "gc", "error"):
                return answer

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        stop_process(self.process, timeout)
        if self._channel is not None:
            self._channel.close()
        if self.process.stdout is not None:
            self.process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self.process = None

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace").strip()
        return text.splitlines()[-1] if text else ""

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
