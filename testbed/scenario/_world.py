"""The world of one scenario on one reactor: DNS, registrars, faults, certificates, client.

Each registrar gets a free loopback address (127.0.0.N) and listens on the real default
ports unless the scenario names others, so nothing collides and nothing is silently
moved. A registrar with faults in front keeps its listeners on a private address; the
address the client resolves (``${name}`` in zones and URIs) is the faults' one.

An external registrar (``external:``) is a real server the world does not start: it is
probed once (see :mod:`._external`) and its faults become relays on a 127.0.0.N of
their own, on the same port numbers as the server's, relaying to it; ``${name}`` is the
relays' address, else the server's own. A real DNS server (``dns: {server:}``) is
reached through our DNS server in forwarding mode, so its queries are logged and
captured and DNS faults still apply.

A real client program under test (``client: {command|kind}``) replaces the built-in
user agent: see :mod:`._program_client`. Every TLS listener records its handshakes
(:class:`HandshakeLog`), since a program that refused our certificate is known only
from them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servers.certs import CertificateAuthority, issue_server_certificate
from servers.dns import DnsServer, QueryLogEntry
from servers.faults import Fault, FaultRecord, build_fault, parse_fault
from servers.loopback import PortUnavailable, find_free_loopback
from servers.registrar import Registrar, RegistrarConfig
from testbed.client import ClientConfig, ProgramError, ProgramMissing, UserAgent
from testbed.reactor import IReactor
from testbed.sip import SipUri, Timers, Transport, fmt_hostport, parse_duration, parse_uri
from testbed.transport import CAPTURE_LIMIT, TRACE_LIMIT, Capture, ConnectionPolicy, KeyLog, Trace

from ._addresses import DNS_FALLBACK_PORT, AddressPlan
from ._external import (
    DNS_PORT,
    ExternalAddress,
    ca_path,
    external_addresses,
    parse_hostport,
    probe_dns,
    probe_registrar,
    relayed_ports,
)
from ._loader import Scenario
from ._program_client import HandshakeLog, ProgramClient, is_program
from ._validation import fault_spec, substitute

DEFAULT_DOMAIN = "example.com"
CA_FILE = "ca.crt"
"""The world's CA certificate, in its work directory: what a softphone must trust."""
SERVE_TRACE_LIMIT = 1000
"""Trace events a world left running (``testbed serve``) keeps: its last moments."""
SERVE_CAPTURE_LIMIT = 1000
"""Captured segments a world left running keeps in memory; whatever must have all of
them subscribes (``testbed serve --report-dir`` streams them to a pcapng file)."""


def _listeners(spec: dict[str, Any]) -> list[tuple[Transport, int, dict[str, Any]]]:
    """A registrar's listeners: transport, port (the transport's default unless given)."""
    listeners = []
    for listener in spec["listen"]:
        transport = Transport.parse(listener["transport"])
        listeners.append((transport, listener.get("port", transport.default_port), listener))
    return listeners


def world_ports(data: dict[str, Any]) -> list[tuple[str, int]]:
    """The fixed ports a scenario's world listens on, as (what, port): each mock
    registrar's listeners (the transport's default port unless given), the relays in
    front of an external registrar (its own port numbers), and DNS on 53 when the world
    has a DNS server (it takes another port only when 53 cannot be bound)."""
    ports = [(transport.value, port) for spec in data.get("registrars", [])
             if "listen" in spec for transport, port, _ in _listeners(spec)]
    ports += [(address.transport.value, address.port) for address in relayed_ports(data)]
    if data.get("dns"):
        ports.append(("DNS", DNS_PORT))
    return list(dict.fromkeys(ports))


def connection_policy(spec: str | dict[str, Any] | None) -> ConnectionPolicy:
    """A registrar's ``connections:`` as the transport layer's policy (durations are
    seconds already: the loader parsed and scaled them)."""
    if isinstance(spec, str):  # the schema allows only "off"
        return ConnectionPolicy.off()
    spec = spec or {}
    names = {"max": "max_connections", "max_per_source": "max_connections_per_source",
             "backlog": "listen_backlog"}
    return ConnectionPolicy(**{names.get(key, key): value for key, value in spec.items()})


class WorldError(Exception):
    """The world could not be built (e.g. a port cannot be bound); one clear line, and
    the client program's output tail when it is the cause."""

    def __init__(self, message: str, tail: str = "") -> None:
        super().__init__(message)
        self.tail = tail


class ClientMissing(WorldError):
    """The client program under test is not installed: ``install`` says how."""

    def __init__(self, message: str, install: str) -> None:
        super().__init__(message)
        self.install = install


def scenario_timers(data: dict[str, Any]) -> Timers:
    """T1/T2/T4 from the scenario; T2 and T4 scale with T1 unless given (RFC ratios)."""
    timers = data.get("timers", {})
    t1 = parse_duration(timers.get("t1", 0.5))
    t2 = parse_duration(timers["t2"]) if "t2" in timers else None
    t4 = parse_duration(timers["t4"]) if "t4" in timers else None
    return Timers.scaled(t1, t2=t2, t4=t4)


@dataclass
class Endpoint:
    """Something listening in the world, for ``testbed serve`` and the reports."""

    role: str
    transport: str
    host: str
    port: int
    note: str = ""

    def __str__(self) -> str:
        where = fmt_hostport((self.host, self.port))
        return f"{self.role:<18} {self.transport:<4} {where}  {self.note}".rstrip()


@dataclass
class ExternalRegistrar:
    """A real registrar of the scenario: its addresses, and what the client trusts of it."""

    name: str
    addresses: list[ExternalAddress]
    ca_pem: bytes | None = None
    server_name: str | None = None

    @property
    def ws_path(self) -> str | None:
        return next((a.path for a in self.addresses if a.transport is Transport.WSS), None)


@dataclass
class World:
    """Everything a scenario runs against, built by :meth:`start`, torn down by :meth:`stop`.

    The world writes files only into ``workdir``, when given one (its owner creates and
    removes it): the CA certificate a softphone outside the process must trust
    (:attr:`ca_file`). TLS keys go to ``keylog_path`` when given.
    ``address_plan`` says where its parts listen (:class:`AddressPlan`: the same
    addresses at every start, or one pinned address); without one each part takes any
    free 127.0.0.N.

    Its :attr:`trace` keeps the last ``trace_limit`` events and its :attr:`capture` the
    last ``capture_limit`` segments: all of a scenario's by default, the last moments of
    a world left running (:data:`SERVE_TRACE_LIMIT`, :data:`SERVE_CAPTURE_LIMIT`).
    """

    scenario: Scenario
    reactor: IReactor
    keylog_path: str | None = None
    workdir: Path | None = None
    trace_limit: int | None = TRACE_LIMIT
    capture_limit: int | None = CAPTURE_LIMIT
    address_plan: AddressPlan | None = None
    trace: Trace = field(init=False)
    timers: Timers = field(init=False)
    rng: random.Random = field(init=False)
    registrars: dict[str, Registrar] = field(default_factory=dict)
    externals: dict[str, ExternalRegistrar] = field(default_factory=dict)
    public: dict[str, str] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=dict)
    endpoints: list[Endpoint] = field(default_factory=list)
    dns: DnsServer | None = None
    dns_address: tuple[str, int] | None = None
    faults: list[Fault] = field(default_factory=list)
    agent: UserAgent | None = None
    program: ProgramClient | None = None
    handshakes: HandshakeLog = field(default_factory=HandshakeLog)
    ca: CertificateAuthority = field(init=False)
    ca_file: Path | None = None

    def __post_init__(self) -> None:
        self.trace = Trace(self.reactor.seconds, limit=self.trace_limit)
        self.capture = Capture(self.reactor.seconds, limit=self.capture_limit)
        self.timers = scenario_timers(self.scenario.data)
        self.rng = random.Random(self.scenario.data.get("seed", 1))
        self.ca = CertificateAuthority()
        self._untrusted = CertificateAuthority("SIP testbed untrusted CA")

    # -- build --------------------------------------------------------------------------

    def start(self) -> None:
        """Bind everything; raise :class:`WorldError` with one clear line if impossible."""
        data = self.scenario.data
        if self.workdir is not None:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.ca_file = self.ca.write(self.workdir, CA_FILE)
        keylog = KeyLog(self.keylog_path) if self.keylog_path else None
        used: set[str] = set()
        default = data["registrars"][0]["name"]
        self._fronted = {spec.get("registrar", default) for spec in data.get("faults", [])}
        try:
            for spec in data["registrars"]:
                self._start_registrar(spec, used, keylog)
            self._start_faults(used)
            if data.get("dns"):
                self._start_dns(data["dns"], used)
        except (PortUnavailable, ValueError) as exc:  # a FaultConfigError is a ValueError
            raise WorldError(str(exc)) from None
        if is_program(data["client"]):
            self._start_program(data["client"], used)
        else:
            self._start_client(data["client"])

    def _start_program(self, spec: dict[str, Any], used: set[str]) -> None:
        self.program = ProgramClient(self, spec)
        try:
            self.program.start(used)
        except ProgramMissing as exc:
            raise ClientMissing(f"client program {exc}", f"apt-get install {exc.package}"
                                ) from None
        except (ProgramError, PortUnavailable, OSError) as exc:
            raise WorldError(f"client program {self.program.name}: {exc}") from None

    def _start_registrar(self, spec: dict[str, Any], used: set[str],
                         keylog: KeyLog | None) -> None:
        if "external" in spec:
            return self._add_external(spec, used)
        name = spec["name"]
        domain = spec.get("domain", DEFAULT_DOMAIN)
        needs: list[tuple[str, int]] = [(t, port) for t, port, _ in _listeners(spec)]
        host = self._free(needs, used, public=name not in self._fronted)
        config = RegistrarConfig(
            realm=spec.get("realm", domain), users=dict(spec.get("users", {})),
            invite=spec.get("invite", 200), register_status=spec.get("register_status"),
            invite_challenge=spec.get("invite_challenge", 407),
            unknown_user=spec.get("unknown_user", 401),
            ring=spec.get("ring", True), min_expires=spec.get("min_expires", 1),
            default_expires=spec.get("default_expires", 3600),
            max_expires=spec.get("max_expires", 86400), seed=self.rng.randrange(2**31),
            registrar_policy=spec.get("registrar_policy", "own"),
            domains=tuple(spec.get("domains", ())),
            max_contacts=spec.get("max_contacts", 20),
            contact_max_size=spec.get("contact_max_size", 512),
            max_aors=spec.get("max_aors", 100_000), retry_after=spec.get("retry_after", 0))
        registrar = Registrar(self.reactor, config, timers=self.timers,
                              trace=self.trace.child(name), name=name)
        registrar.stack.capture = self.capture
        registrar.stack.policy = connection_policy(spec.get("connections"))
        self.registrars[name] = registrar
        self.public[name] = host
        self.domains[name] = domain
        for transport, port, listener in _listeners(spec):
            options = None
            note = ""
            if transport.secure:
                kind = listener.get("certificate", "valid")
                cert = issue_server_certificate(kind, [domain, host], self.ca, self._untrusted)
                versions = listener.get("tls_versions", {})
                options = self.handshakes.server_tls(
                    (transport.value, host, port), self.reactor.seconds, cert,
                    min_version=versions.get("min", "TLSv1.2"),
                    max_version=versions.get("max"), keylog=keylog)
                note = f"certificate: {kind}"
                if versions:
                    note += f", TLS {versions.get('min', 'TLSv1.2')}..{versions.get('max', '')}"
            if transport is Transport.WSS:
                behaviour = listener.get("ws_behaviour", "normal")
                note += f", path {listener.get('ws_path', '/')}, {behaviour}"
            registrar.listen(transport.spelling, host, port, tls_options=options,
                             ws_path=listener.get("ws_path", "/"),
                             ws_behaviour=listener.get("ws_behaviour", "normal"))
            self.endpoints.append(Endpoint(f"registrar {name}", transport.value, host, port,
                                           note.strip(", ")))

    def _add_external(self, spec: dict[str, Any], used: set[str]) -> None:
        """Probe a real registrar's addresses and note them; nothing is started for it."""
        name = spec["name"]
        addresses = external_addresses(spec)
        for address in addresses:
            problem = probe_registrar(address)
            if problem is not None:
                raise WorldError(f"registrar {name}: external {address} unreachable: {problem}")
        path = ca_path(spec, self.scenario.path)
        self.externals[name] = ExternalRegistrar(
            name, addresses, ca_pem=path.read_bytes() if path is not None else None,
            server_name=spec.get("server_name"))
        self.public[name] = addresses[0].host
        self.domains[name] = spec.get("domain", DEFAULT_DOMAIN)
        used.add(addresses[0].host)
        for address in addresses:
            note = "external" + (f", path {address.path}"
                                 if address.transport is Transport.WSS else "")
            self.endpoints.append(Endpoint(f"registrar {name}", address.transport.value,
                                           address.host, address.port, note))

    def _start_faults(self, used: set[str]) -> None:
        """Put each registrar that has faults behind proxies on an address of their own.

        One proxy per port of the registrar (UDP and TCP of one port share it), composing
        the faults placed on that registrar and transport, in file order; a port with no
        fault gets a plain relay, so the registrar's public address serves everything.
        """
        data = self.scenario.data
        default = data["registrars"][0]["name"]
        placed: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for index, spec in enumerate(data.get("faults", [])):
            placed.setdefault(spec.get("registrar", default), []).append((index, spec))
        for name, specs in placed.items():
            listeners = [e for e in self.endpoints if e.role == f"registrar {name}"]
            front = self._free([(e.transport, e.port) for e in listeners], used)
            for port in sorted({e.port for e in listeners}):
                on_port = [e for e in listeners if e.port == port]
                upstream = [(e.transport, e.host, e.port) for e in on_port]
                names = {e.transport.lower() for e in on_port}
                carried = {Transport.parse(e.transport).carrier for e in on_port}
                chosen = [fault_spec(spec) for _, spec in specs
                          if (spec.get("transport") is None or spec["transport"] in names)
                          and carried & set(parse_fault(fault_spec(spec)).transports)]
                fault = build_fault(
                    chosen or {"kind": "relay"}, reactor=self.reactor, upstream=upstream,
                    listen=(front, port), rng=random.Random(self.rng.randrange(2**31)),
                    name=f"{name}:{port}", trace=self.trace.child("faults"),
                    capture=self.capture, trace_upstream=name in self.externals)
                self.faults.append(fault)
                kinds = ", ".join(spec["kind"] for spec in chosen) or "relay"
                self.endpoints.append(Endpoint(
                    "fault proxy" if chosen else "relay",
                    "+".join(e.transport for e in on_port), front, port,
                    f"{kinds} in front of {name}"))
            self.public[name] = front

    def _start_dns(self, spec: dict[str, Any], used: set[str]) -> None:
        zones = [substitute(zone, self.public) for zone in spec.get("zones", [])]
        faults = substitute(spec.get("faults", []), self.public)
        server = parse_hostport(spec["server"], DNS_PORT) if "server" in spec else None
        if server is not None:
            problem = probe_dns(server)
            if problem is not None:
                raise WorldError(f"dns server {fmt_hostport(server)} unreachable: {problem}")
        self.dns = DnsServer(zones, self.reactor, faults=faults, capture=self.capture,
                             forward=server)
        try:
            host = self._free([("UDP", DNS_PORT), ("TCP", DNS_PORT)], used)
            port = DNS_PORT
        except PortUnavailable:
            # No root for port 53: a fixed port when the addresses are planned (a phone's
            # DNS setting survives restarts), else any.
            port = DNS_FALLBACK_PORT if self.address_plan is not None else 0
            host = self._free([("UDP", port), ("TCP", port)], used)
        listening = self.dns.listen(host, port)
        self.dns_address = (listening.host, listening.port)
        what = (f"relays to the DNS server {fmt_hostport(server)}" if server is not None
                else ", ".join(z["origin"] for z in zones))
        self.endpoints.append(Endpoint("dns", "UDP+TCP", listening.host, listening.port,
                                       what))

    def _free(self, needs: list[tuple[str, int]], used: set[str], *,
              public: bool = True) -> str:
        """An address for one part of the world where ``needs`` can be bound, noted as
        used: per the address plan when there is one; a pinned address is shared by every
        public part (ports that collide there fail with the ports named)."""
        plan = self.address_plan
        if plan is None:
            host = find_free_loopback(needs, exclude=used)
        elif public and plan.pinned is not None:
            host = find_free_loopback(needs, candidates=plan.public)
        else:
            host = find_free_loopback(needs, exclude=used,
                                      candidates=plan.public if public else plan.private)
        used.add(host)
        return host

    def _start_client(self, spec: dict[str, Any]) -> None:
        registrar = parse_uri(substitute(str(spec["registrar"]), self.public))
        assert isinstance(registrar, SipUri)
        user = spec.get("user", "alice")
        aor = parse_uri(substitute(str(spec["aor"]), self.public)) if "aor" in spec else SipUri(
            host=registrar.host, user=user)
        assert isinstance(aor, SipUri)
        trust = spec.get("trust", "ca")
        hosts = {domain: self.public[name] for name, domain in self.domains.items()}
        config = ClientConfig(
            aor=aor, registrar=registrar, transport=spec["transport"], username=user,
            password=spec.get("password"), expires=spec.get("expires", 3600),
            timers=self.timers, ca_pem=self.trusted_pem if trust == "ca" else None,
            insecure=trust == "insecure",
            server_name=spec.get("server_name", self.external_default(spec, "server_name")),
            keylog=self.keylog_path,
            ws_path=spec.get("ws_path", self.external_default(spec, "ws_path") or "/"),
            keepalive_interval=(parse_duration(spec["keepalive"]) if "keepalive" in spec
                                else None),
            hosts=hosts, dns=[self.dns_address] if self.dns_address else [],
            dns_timeout=min(1.0, max(0.1, self.timers.t1 * 5)),
            udp_large_message=spec.get("udp_large_message", "send"),
            path_mtu=spec.get("path_mtu"), answer_status=spec.get("answer", 200),
            # A TLS handshake on a busy 2-core machine can take over a second: 2 s at least.
            connect_timeout=max(2.0, self.timers.timer_f / 4),
            seed=self.rng.randrange(2**31))
        self.agent = UserAgent(self.reactor, config, trace=self.trace.child("client"))
        self.agent.stack.capture = self.capture
        self.agent.start()

    @property
    def trusted_pem(self) -> bytes:
        """What the client trusts with ``trust: ca``: the world's CA and every external
        registrar's ``ca:``."""
        return b"".join([self.ca.cert_pem, *(e.ca_pem for e in self.externals.values()
                                             if e.ca_pem is not None)])

    def external_default(self, client: dict[str, Any], key: str) -> str | None:
        """``server_name`` or ``ws_path`` of the external registrar the client's URI
        names (by ``${name}``, its domain or its address), when it names one."""
        text = str(client["registrar"])
        uri = parse_uri(substitute(text, self.public))
        assert isinstance(uri, SipUri)
        for name, external in self.externals.items():
            if ("${" + name + "}" in text or uri.host == self.domains[name]
                    or uri.host == self.public[name]):
                value: str | None = getattr(external, key)
                return value
        return None

    @property
    def scenario_data(self) -> dict[str, Any]:
        return self.scenario.data

    def add_endpoint(self, role: str, transport: str, host: str, port: int,
                     note: str = "") -> None:
        self.endpoints.append(Endpoint(role, transport, host, port, note))

    # -- teardown -----------------------------------------------------------------------

    async def stop(self) -> None:
        """Close every socket and timer the world opened; stop the client program."""
        if self.program is not None:
            await self.program.stop()
        if self.agent is not None:
            await self.agent.stop()
        for fault in self.faults:
            await fault.stop()
        for registrar in self.registrars.values():
            await registrar.stop()
        if self.dns is not None:
            await self.dns.stop()

    @property
    def names(self) -> dict[str | tuple[str, int], str]:
        """Ladder names of the addresses that no trace owner covers (fault proxies, the
        addresses of external registrars)."""
        names: dict[str | tuple[str, int], str] = {
            e.host: "fault proxy" for e in self.endpoints if e.role in ("fault proxy", "relay")}
        for name, external in self.externals.items():
            for address in external.addresses:
                names[(address.host, address.port)] = f"{name} (external)"
        return names

    @property
    def dns_log(self) -> list[QueryLogEntry]:
        return list(self.dns.log) if self.dns is not None else []

    @property
    def fault_log(self) -> list[FaultRecord]:
        return [entry for fault in self.faults for entry in fault.log]
