"""Interop fixtures: real third-party peers (Kamailio, NSD, baresip, linphonec, SIPp, dig,
kdig) against our client, registrar and DNS server, on loopback only.

Every peer is a child process started here in a temp dir, with the configuration the
test generated, in its own session (so its process group id is its PID). It is stopped by
that PID: SIGTERM, then SIGKILL to its group after a bound. Its output goes to a log file
in the temp dir, which failures quote. Readiness is polled (a socket, our server's state,
the peer's log) with a short interval and a deadline: no fixed sleeps.

While a peer talks to our registrar or DNS server, the real reactor keeps running (the
test awaits; peers are subprocesses), so nothing here blocks the reactor while a peer
needs it. The only blocking waits are in the module-scoped Kamailio fixture, where
Kamailio needs nothing of ours.

A missing peer fails the test when ``CI`` is set (``.ci/run`` installs the peers) and
skips it otherwise, with the apt-get command that installs it.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from servers.loopback import PortUnavailable, find_free_loopback
from testbed.sip import Timers

from .kamailio import PORTS as KAMAILIO_PORTS
from .kamailio import TLS_CFG, Kamailio, kamailio_config
from .kamailio import USERS as KAMAILIO_USERS

DOMAIN = "sip.example.com"
"""The SIP domain of every interop world; only our DNS server (or a hosts map) knows it."""

INTEROP_TIMERS = Timers(t1=0.1, t2=0.8, t4=1.0)
"""Timer F = 6.4 s: short enough for bounded tests, long enough for a loaded CI machine."""

READY_SECONDS = 15.0
"""How long a peer may take to become ready (Kamailio starts in ~0.3 s here)."""

STOP_SECONDS = 5.0
"""How long a peer gets to exit after SIGTERM before its process group gets SIGKILL."""

POLL_INTERVAL = 0.05

PACKAGES = {
    "kamailio": "kamailio kamailio-tls-modules kamailio-websocket-modules",
    "baresip": "baresip",
    "linphonec": "linphone-cli",
    "sipp": "sip-tester",
    "dig": "dnsutils",
    "kdig": "knot-dnsutils",
    "nsd": "nsd",
}
"""Debian package(s) that provide each peer: what the skip message tells to install."""

_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin",
                                "/sbin"])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "interop: against real third-party peers installed from Debian packages "
        "(Kamailio, NSD, baresip, linphonec, SIPp, dig, kdig); run with `make interop`")


# -- finding peers -----------------------------------------------------------------------


def missing_peer(message: str) -> None:
    """Fail in CI (where .ci/run installs every peer), skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_peer(name: str, package: str | None = None) -> str:
    """The path of peer binary ``name``, or a CI failure / a skip naming the package."""
    path = shutil.which(name, path=_SEARCH_PATH)
    if path is None:
        missing_peer(f"{name} not installed: apt-get install "
                     f"{package or PACKAGES.get(name, name)}")
    return path


def require_file(path: str | Path, package: str, what: str) -> Path:
    """A file a peer needs (a Kamailio module, ...), or a CI failure / a skip."""
    path = Path(path)
    if not path.exists():
        missing_peer(f"{what} not installed ({path} missing): apt-get install {package}")
    return path


# -- one peer process --------------------------------------------------------------------


class Peer:
    """One external program: started in its own session, output in ``log_path``."""

    def __init__(self, name: str, argv: list[str], workdir: Path, *,
                 env: dict[str, str] | None = None, keep_stdin_open: bool = False) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.workdir = Path(workdir)
        self.env = env
        self.keep_stdin_open = keep_stdin_open
        self.log_path = self.workdir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Peer:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE if self.keep_stdin_open else subprocess.DEVNULL,
                start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 60) -> str:
        text = self.output().splitlines()[-lines:]
        return f"--- last {len(text)} lines of {self.log_path} ---\n" + "\n".join(text)

    def describe(self) -> str:
        state = "running" if self.running else f"exited with {self.returncode}"
        return f"{self.name} (pid {self.process.pid if self.process else '-'}, {state})"

    # -- stopping, by PID only ----------------------------------------------------------

    def _signal_group(self, sig: int) -> None:
        # start_new_session made the peer the leader of a group whose id is its PID: this
        # reaches its children (Kamailio's workers) and nothing else.
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def terminate(self) -> None:
        if self.running:
            os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)

    async def wait_exit(self, seconds: float) -> int | None:
        """The exit status once the peer has exited, or None after ``seconds``."""
        deadline = reactor.seconds() + seconds
        while self.running and reactor.seconds() < deadline:
            await task.deferLater(reactor, POLL_INTERVAL, lambda: None)
        return self.returncode

    async def stop(self, grace: float = STOP_SECONDS) -> int | None:
        """SIGTERM, up to ``grace`` seconds (the reactor keeps serving meanwhile: baresip
        unregisters on the way out), then SIGKILL to the group."""
        if self.process is None:
            return None
        self.terminate()
        if await self.wait_exit(grace) is None:
            self.kill()
            await self.wait_exit(STOP_SECONDS)
        if self._group_alive():  # a worker that outlived its parent
            self.kill()
        self._close_stdin()
        return self.returncode

    def stop_blocking(self, grace: float = STOP_SECONDS) -> int | None:
        """:meth:`stop` for synchronous teardown, when no server of ours is involved."""
        if self.process is None:
            return None
        self.terminate()
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()
            self.process.wait(STOP_SECONDS)
        if self._group_alive():
            self.kill()
        self._close_stdin()
        return self.returncode

    def _close_stdin(self) -> None:
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()

    # -- waiting ------------------------------------------------------------------------

    async def until(self, predicate: Callable[[], object], what: str,
                    seconds: float = READY_SECONDS) -> object:
        """Poll ``predicate`` every 50 ms, reactor running, until it is truthy; fail with
        the peer's log if the peer exits or ``seconds`` pass."""
        deadline = reactor.seconds() + seconds
        while True:
            value = predicate()
            if value:
                return value
            if not self.running:
                pytest.fail(f"{self.describe()} while waiting for {what}\n{self.tail()}",
                            pytrace=False)
            if reactor.seconds() >= deadline:
                pytest.fail(f"{what}: not within {seconds:g} s; {self.describe()}\n"
                            f"{self.tail()}", pytrace=False)
            await task.deferLater(reactor, POLL_INTERVAL, lambda: None)

    def until_blocking(self, predicate: Callable[[], object], what: str,
                       seconds: float = READY_SECONDS) -> object:
        """:meth:`until` without the reactor, for a peer that needs nothing of ours."""
        deadline = time.monotonic() + seconds
        while True:
            value = predicate()
            if value:
                return value
            if not self.running:
                pytest.fail(f"{self.describe()} while waiting for {what}\n{self.tail()}",
                            pytrace=False)
            if time.monotonic() >= deadline:
                pytest.fail(f"{what}: not within {seconds:g} s; {self.describe()}\n"
                            f"{self.tail()}", pytrace=False)
            time.sleep(POLL_INTERVAL)

    def logged(self, text: str) -> Callable[[], bool]:
        """A predicate: ``text`` has appeared in the peer's log."""
        return lambda: text in self.output()


class Peers:
    """The peers one test started; all stopped in the fixture's cleanup."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Peer] = []

    def start(self, name: str, argv: list[str], **options: object) -> Peer:
        peer = Peer(name, argv, self.workdir, **options)
        self.started.append(peer)
        return peer.start()

    async def run(self, name: str, argv: list[str], seconds: float = 30.0,
                  **options: object) -> tuple[int, str]:
        """Run a peer to completion (the reactor serves meanwhile); its status and output.

        A peer still running after ``seconds`` is killed and the test fails.
        """
        peer = self.start(name, argv, **options)
        code = await peer.wait_exit(seconds)
        if code is None:
            await peer.stop()
            pytest.fail(f"{name} still running after {seconds:g} s: killed\n{peer.tail()}",
                        pytrace=False)
        return code, peer.output()

    async def stop_all(self) -> None:
        for peer in reversed(self.started):
            await peer.stop()


@pytest_twisted.async_yield_fixture
async def peers(tmp_path, ours):
    """Start peers in this test's temp dir; every one is stopped by PID afterwards.

    It depends on ``ours`` so that peers stop first, while our registrars and DNS servers
    still answer them (baresip unregisters on its way out).
    """
    pool = Peers(tmp_path)
    try:
        yield pool
    finally:
        await pool.stop_all()


# -- readiness probes --------------------------------------------------------------------


def tcp_listening(host: str, port: int) -> bool:
    """True once something accepts TCP connections on ``host:port`` (loopback: instant)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                       socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect((host, port))
        except OSError:
            return False
    return True


def free_port(host: str, kind: int = socket.SOCK_STREAM) -> int:
    """A port free on ``host`` right now (for peers that cannot be told to pick one)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


# -- certificates ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def interop_ca():
    """The CA our client and the peers trust, and one they do not."""
    from servers.certs import CertificateAuthority

    return CertificateAuthority("SIP testbed interop CA"), \
        CertificateAuthority("SIP testbed untrusted CA")


@pytest.fixture(scope="session")
def issue(interop_ca):
    """``issue(kind, *names)`` → an IssuedCertificate for ``names`` of that kind."""
    from servers.certs import issue_server_certificate

    ca, untrusted = interop_ca

    def issue_certificate(kind: str = "valid", *names: str):
        return issue_server_certificate(kind, list(names or [DOMAIN]), ca, untrusted)

    return issue_certificate


# -- our side of the world: registrars and DNS servers the peers talk to ------------------


class Ours:
    """Our registrars and DNS servers for one test; all stopped in cleanup."""

    def __init__(self) -> None:
        self.registrars: list = []
        self.dns_servers: list = []

    def registrar(self, transports: dict[str, int], *, host: str | None = None,
                  certificate: object = None, exclude: set[str] | None = None,
                  **config: object):
        """A registrar on ``transports`` ({"UDP": 5060, "TLS": 5061}) at ``host`` (default:
        a free 127.0.0.N). Returns it and {transport: (host, port)} as bound."""
        from servers.registrar import Registrar, RegistrarConfig
        from testbed.transport import server_tls_options

        config.setdefault("realm", "testbed")
        registrar = Registrar(reactor, RegistrarConfig(**config), timers=INTEROP_TIMERS)
        self.registrars.append(registrar)
        tls = server_tls_options(certificate) if certificate is not None else None
        if host is None:
            host = find_free_loopback(list(transports.items()), exclude=exclude)
        bound = {t: registrar.listen(t, host, port, tls_options=tls)
                 for t, port in transports.items()}
        return registrar, bound

    def dns(self, *zones: dict, host: str = "127.0.0.1", **options: object):
        """Our DNS server for ``zones`` on ``host``, port 0: (server, port). ``options``
        go to :class:`~servers.dns.DnsServer` (``faults``, ``forward``...)."""
        from servers.dns import DnsServer

        server = DnsServer(list(zones), reactor, **options)
        self.dns_servers.append(server)
        return server, server.listen(host, 0).port

    async def stop(self) -> None:
        for registrar in self.registrars:
            await registrar.stop()
        for server in self.dns_servers:
            await server.stop()


@pytest_twisted.async_yield_fixture
async def ours():
    world = Ours()
    try:
        yield world
    finally:
        await world.stop()


def sip_zone(naptr: list[tuple[str, str]], srv: dict[str, list[tuple[int, str, int]]],
             addresses: dict[str, str]) -> dict:
    """Zone data for ``DOMAIN``: NAPTR (service, replacement) in order, SRV owner →
    [(priority, target, port)], A name → address."""
    records = [{"name": DOMAIN, "type": "NAPTR", "order": 10 * (i + 1), "preference": 10,
                "flags": "s", "service": service, "regexp": "", "replacement": replacement}
               for i, (service, replacement) in enumerate(naptr)]
    for owner, targets in srv.items():
        records += [{"name": owner, "type": "SRV", "priority": priority, "weight": 10,
                     "port": port, "target": target} for priority, target, port in targets]
    records += [{"name": name, "type": "A", "address": address}
                for name, address in addresses.items()]
    return {"origin": DOMAIN, "ttl": 60, "records": records}


# -- Kamailio, the real registrar (tests/interop/kamailio.py) ------------------------------


@pytest.fixture(scope="module")
def kamailio_server(tmp_path_factory, issue):
    """One Kamailio per test module: started by PID in a temp dir, stopped by PID."""
    binary = require_peer("kamailio")
    modules = glob.glob("/usr/lib/*/kamailio/modules/tls.so")
    require_file(modules[0] if modules else "/usr/lib/<arch>/kamailio/modules/tls.so",
                 "kamailio-tls-modules", "Kamailio's tls module")
    require_file(Path(modules[0]).with_name("websocket.so") if modules else
                 "/usr/lib/<arch>/kamailio/modules/websocket.so",
                 "kamailio-websocket-modules", "Kamailio's websocket module")

    workdir = tmp_path_factory.mktemp("kamailio")
    host = find_free_loopback(list(KAMAILIO_PORTS.items()))
    files = issue("valid", DOMAIN).write(workdir)
    tls_cfg = workdir / "tls.cfg"
    tls_cfg.write_text(TLS_CFG.format(key=files.private_key, certificate=files.certificate))
    cfg = workdir / "kamailio.cfg"
    cfg.write_text(kamailio_config(host, tls_cfg, KAMAILIO_USERS, DOMAIN))
    rundir = workdir / "run"
    rundir.mkdir()
    peer = Peer("kamailio", [binary, "-DD", "-E", "-f", cfg, "-P", workdir / "kamailio.pid",
                             "-Y", rundir, "-w", workdir], workdir,
                env={**os.environ, "LC_ALL": "C"})
    peer.start()
    try:
        # Kamailio needs nothing of ours to start: a blocking poll is fine here.
        peer.until_blocking(peer.logged("TESTBED ready"), "Kamailio's first worker ready")
        for transport in ("TCP", "TLS", "WSS"):
            port = KAMAILIO_PORTS[transport]
            peer.until_blocking(lambda p=port: tcp_listening(host, p),
                                f"Kamailio accepting {transport} on {host}:{port}")
        yield Kamailio(peer, host)
    finally:
        peer.stop_blocking()


@pytest.fixture
def kamailio(kamailio_server):
    """The module's Kamailio, its log read from the start of this test."""
    if not kamailio_server.peer.running:
        pytest.fail(f"{kamailio_server.peer.describe()}\n{kamailio_server.peer.tail()}",
                    pytrace=False)
    kamailio_server.forget()
    return kamailio_server


# -- NSD, a real authoritative DNS server --------------------------------------------------

NSD_CONF = """\
server:
    ip-address: {host}@{port}
    username: ""
    chroot: ""
    zonesdir: "{workdir}"
    database: ""
    pidfile: "{workdir}/nsd.pid"
    xfrdfile: "{workdir}/xfrd.state"
    zonelistfile: "{workdir}/zone.list"
    xfrdir: "{workdir}"
    verbosity: 2
    server-count: 1
    reuseport: no
    rrl-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: {origin}
    zonefile: "{origin}.zone"
"""
"""One zone from a file, on one address, in the foreground, no privilege drop, no chroot,
no response rate limiting (the tests ask in bursts)."""


@pytest.fixture
def nsd(tmp_path):
    """``nsd(origin, records)`` → ``(host, port)`` of an NSD serving that zone; stopped by
    PID afterwards. ``records`` is the zone file's text after ``$ORIGIN`` and ``$TTL``
    (a SOA and an NS are added). NSD takes UDP and TCP 53 on a free 127.0.0.N when it
    can be bound, else a free port on 127.0.0.1."""
    started: list[Peer] = []

    def start(origin: str, records: str) -> tuple[str, int]:
        binary = require_peer("nsd")
        try:
            host, port = find_free_loopback([("UDP", 53), ("TCP", 53)]), 53
        except PortUnavailable:
            host, port = "127.0.0.1", free_port("127.0.0.1")
        workdir = tmp_path / f"nsd-{len(started)}"
        workdir.mkdir()
        (workdir / f"{origin}.zone").write_text(
            f"$ORIGIN {origin}.\n$TTL 300\n"
            f"@ IN SOA ns.{origin}. admin.{origin}. 2024 3600 600 86400 20\n"
            f"@ IN NS ns.{origin}.\nns IN A {host}\n{records}\n")
        conf = workdir / "nsd.conf"
        conf.write_text(NSD_CONF.format(host=host, port=port, workdir=workdir, origin=origin))
        peer = Peer("nsd", [binary, "-d", "-c", conf], workdir)
        started.append(peer)
        peer.start()
        # NSD needs nothing of ours to start: a blocking poll is fine here.
        peer.until_blocking(peer.logged(f"zone {origin} read with success"),
                            f"NSD loading {origin}")
        peer.until_blocking(lambda: tcp_listening(host, port), f"NSD accepting TCP on "
                                                               f"{host}:{port}")
        return host, port

    yield start
    for peer in started:
        peer.stop_blocking()
