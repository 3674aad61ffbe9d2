"""The world of one scenario on one reactor: DNS, registrars, faults, certificates, client.

Each registrar gets a free loopback address (127.0.0.N) and listens on the real default
ports unless the scenario names others, so nothing collides and nothing is silently
moved. A registrar with faults in front keeps its listeners on a private address; the
address the client resolves (``${name}`` in zones and URIs) is the faults' one.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from servers.certs import CertificateAuthority, issue_server_certificate
from servers.dns import DnsConfigError, DnsServer, Zone, parse_faults
from servers.loopback import PortUnavailable, find_free_loopback
from servers.registrar import Registrar, RegistrarConfig
from testbed.client import ClientConfig, UserAgent
from testbed.sip import RemoteProtocolError, SipUri, Timers, Transport, parse_uri
from testbed.transport import Capture, KeyLog, Trace, server_tls_options

from ._model import Scenario
from ._yaml import ScenarioError

DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061, "wss": 443}
DEFAULT_DOMAIN = "example.com"


class WorldError(Exception):
    """The world could not be built (e.g. a port cannot be bound); one clear line."""


def seconds(value: object) -> float:
    """A scenario duration (number of seconds, "50ms", "2s") in seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    return float(text.rstrip("s"))


def scenario_timers(data: dict) -> Timers:
    """T1/T2/T4 from the scenario; T2 and T4 scale with T1 unless given (RFC ratios)."""
    timers = data.get("timers", {})
    t1 = seconds(timers.get("t1", 0.5))
    t2 = seconds(timers.get("t2", t1 * 8))
    t4 = seconds(timers.get("t4", t1 * 10))
    return Timers(t1=t1, t2=max(t2, t1), t4=t4)


def substitute(value: object, addresses: dict[str, str]) -> object:
    """Replace ``${name}`` by the public address of registrar ``name``, recursively."""
    if isinstance(value, str):
        for name, address in addresses.items():
            value = value.replace("${" + name + "}", address)
        return value
    if isinstance(value, list):
        return [substitute(v, addresses) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, addresses) for k, v in value.items()}
    return value


def check_world(scenario: Scenario) -> list[ScenarioError]:
    """Checks that need the servers' own validators: DNS zones and faults, client URIs."""
    data = scenario.data
    errors: list[ScenarioError] = []
    placeholders = {r["name"]: "127.0.0.1" for r in data["registrars"]}
    dns = data.get("dns", {})
    for i, zone in enumerate(dns.get("zones", [])):
        try:
            Zone.from_data(substitute(zone, placeholders))
        except DnsConfigError as exc:
            errors.append(scenario.error(("dns", "zones", i) + _dns_path(exc), exc.message))
    try:
        parse_faults(dns.get("faults", []))
    except DnsConfigError as exc:
        errors.append(scenario.error(("dns", "faults") + _dns_path(exc), exc.message))
    client = data["client"]
    for key in ("registrar", "aor"):
        if key in client:
            try:
                uri = parse_uri(str(substitute(client[key], placeholders)))
                if not isinstance(uri, SipUri):
                    raise RemoteProtocolError("not a SIP URI")
            except RemoteProtocolError as exc:
                errors.append(scenario.error(("client", key), f"invalid SIP URI: {exc.reason}"))
    for i, fault in enumerate(data.get("faults", [])):
        problem = _fault_problem(fault)
        if problem:
            errors.append(scenario.error(("faults", i) + problem[0], problem[1]))
    return errors


def _dns_path(exc: DnsConfigError) -> tuple:
    return tuple(exc.path)


def _fault_problem(fault: dict) -> tuple[tuple, str] | None:
    from servers import faults as fault_kinds

    try:
        fault_kinds.validate_fault(_placed(fault))
    except fault_kinds.FaultConfigError as exc:
        return tuple(exc.path), exc.message
    return None


def _placed(spec: dict) -> dict:
    """A scenario fault as servers.faults takes it: ``transport: udp`` limits carriers."""
    spec = dict(spec)
    transport = spec.get("transport")
    if transport is not None and "transports" not in spec:
        spec["transports"] = ["udp"] if transport == "udp" else ["tcp"]
    return spec


@dataclass
class Endpoint:
    """Something listening in the world, for ``testbed serve`` and the reports."""

    role: str
    transport: str
    host: str
    port: int
    note: str = ""

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.role:<18} {self.transport:<4} {host}:{self.port}  {self.note}".rstrip()


@dataclass
class World:
    """Everything a scenario runs against, built by :meth:`start`, torn down by :meth:`stop`."""

    scenario: Scenario
    reactor: object
    keylog_path: str | None = None
    trace: Trace = field(init=False)
    timers: Timers = field(init=False)
    rng: random.Random = field(init=False)
    registrars: dict[str, Registrar] = field(default_factory=dict)
    public: dict[str, str] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=dict)
    endpoints: list[Endpoint] = field(default_factory=list)
    dns: DnsServer | None = None
    dns_address: tuple[str, int] | None = None
    faults: list = field(default_factory=list)
    agent: UserAgent | None = None
    ca: CertificateAuthority | None = None
    workdir: Path | None = None

    def __post_init__(self) -> None:
        self.trace = Trace(self.reactor.seconds)
        self.capture = Capture(self.reactor.seconds)
        self.timers = scenario_timers(self.scenario.data)
        self.rng = random.Random(self.scenario.data.get("seed", 1))

    # -- build --------------------------------------------------------------------------

    def start(self) -> None:
        """Bind everything; raise :class:`WorldError` with one clear line if impossible."""
        data = self.scenario.data
        self.workdir = Path(tempfile.mkdtemp(prefix=f"testbed-{self.scenario.name}-"))
        self.ca = CertificateAuthority()
        self._untrusted = CertificateAuthority("SIP testbed untrusted CA")
        keylog = KeyLog(self.keylog_path) if self.keylog_path else None
        used: set[str] = set()
        try:
            for spec in data["registrars"]:
                self._start_registrar(spec, used, keylog)
            self._start_faults(used)
            if data.get("dns"):
                self._start_dns(data["dns"], used)
        except (PortUnavailable, ValueError) as exc:  # FaultConfigError is a ValueError
            raise WorldError(str(exc)) from None
        self._start_client(data["client"], keylog)

    def _start_registrar(self, spec: dict, used: set[str], keylog: KeyLog | None) -> None:
        name = spec["name"]
        domain = spec.get("domain", DEFAULT_DOMAIN)
        listeners = [(lst["transport"], lst.get("port", DEFAULT_PORTS[lst["transport"]]))
                     for lst in spec["listen"]]
        needs = [(t.upper(), p) for t, p in listeners]
        host = find_free_loopback(needs, exclude=used)
        used.add(host)
        config = RegistrarConfig(
            realm=spec.get("realm", domain), users=dict(spec.get("users", {})),
            invite=spec.get("invite", 200), register_status=spec.get("register_status"),
            ring=spec.get("ring", True), min_expires=spec.get("min_expires", 1),
            default_expires=spec.get("default_expires", 3600),
            max_expires=spec.get("max_expires", 86400), seed=self.rng.randrange(2**31))
        registrar = Registrar(self.reactor, config, timers=self.timers,
                              trace=self.trace.child(name), name=name)
        registrar.stack.capture = self.capture
        self.registrars[name] = registrar
        self.public[name] = host
        self.domains[name] = domain
        for listener in spec["listen"]:
            transport = listener["transport"]
            port = listener.get("port", DEFAULT_PORTS[transport])
            options = None
            note = ""
            if transport in ("tls", "wss"):
                kind = listener.get("certificate", "valid")
                cert = issue_server_certificate(kind, [domain, host], self.ca, self._untrusted)
                versions = listener.get("tls_versions", {})
                options = server_tls_options(cert, min_version=versions.get("min", "TLSv1.2"),
                                             max_version=versions.get("max"), keylog=keylog)
                note = f"certificate: {kind}"
                if versions:
                    note += f", TLS {versions.get('min', 'TLSv1.2')}..{versions.get('max', '')}"
            if transport == "wss":
                behaviour = listener.get("ws_behaviour", "normal")
                note += f", path {listener.get('ws_path', '/')}, {behaviour}"
            registrar.listen(transport, host, port, tls_options=options,
                             ws_path=listener.get("ws_path", "/"),
                             ws_behaviour=listener.get("ws_behaviour", "normal"))
            self.endpoints.append(Endpoint(f"registrar {name}", transport.upper(), host, port,
                                           note.strip(", ")))

    def _start_faults(self, used: set[str]) -> None:
        """Put each registrar that has faults behind proxies on an address of their own.

        One proxy per port of the registrar (UDP and TCP of one port share it), composing
        the faults placed on that registrar and transport, in file order; a port with no
        fault gets a plain relay, so the registrar's public address serves everything.
        """
        from servers import faults as fault_kinds

        data = self.scenario.data
        default = data["registrars"][0]["name"]
        placed: dict[str, list[tuple[int, dict]]] = {}
        for index, spec in enumerate(data.get("faults", [])):
            placed.setdefault(spec.get("registrar", default), []).append((index, spec))
        for name, specs in placed.items():
            listeners = [e for e in self.endpoints if e.role == f"registrar {name}"]
            front = find_free_loopback([(e.transport, e.port) for e in listeners],
                                       exclude=used)
            used.add(front)
            for port in sorted({e.port for e in listeners}):
                on_port = [e for e in listeners if e.port == port]
                upstream = [(e.transport, e.host, e.port) for e in on_port]
                names = {e.transport.lower() for e in on_port}
                carried = {Transport.parse(e.transport).carrier for e in on_port}
                chosen = [_placed(spec) for _, spec in specs
                          if (spec.get("transport") is None or spec["transport"] in names)
                          and carried & set(fault_kinds.parse_fault(_placed(spec)).transports)]
                fault = fault_kinds.build_fault(
                    chosen or {"kind": "relay"}, reactor=self.reactor, upstream=upstream,
                    listen=(front, port), rng=random.Random(self.rng.randrange(2**31)),
                    name=f"{name}:{port}", trace=self.trace.child("faults"))
                self.faults.append(fault)
                kinds = ", ".join(spec["kind"] for spec in chosen) or "relay"
                self.endpoints.append(Endpoint(
                    "fault proxy" if chosen else "relay",
                    "+".join(e.transport for e in on_port), front, port,
                    f"{kinds} in front of {name}"))
            self.public[name] = front

    def _start_dns(self, spec: dict, used: set[str]) -> None:
        zones = [substitute(zone, self.public) for zone in spec.get("zones", [])]
        faults = substitute(spec.get("faults", []), self.public)
        self.dns = DnsServer(zones, self.reactor, faults=faults, capture=self.capture)
        try:
            host = find_free_loopback([("UDP", 53), ("TCP", 53)], exclude=used)
            port = 53
        except PortUnavailable:
            host, port = find_free_loopback([], exclude=used), 0
        used.add(host)
        listening = self.dns.listen(host, port)
        self.dns_address = (listening.host, listening.port)
        self.endpoints.append(Endpoint("dns", "UDP+TCP", listening.host, listening.port,
                                       ", ".join(z["origin"] for z in zones)))

    def _start_client(self, spec: dict, keylog: KeyLog | None) -> None:
        registrar = parse_uri(str(substitute(spec["registrar"], self.public)))
        assert isinstance(registrar, SipUri)
        user = spec.get("user", "alice")
        aor = parse_uri(str(substitute(spec["aor"], self.public))) if "aor" in spec else SipUri(
            host=registrar.host, user=user)
        assert isinstance(aor, SipUri)
        trust = spec.get("trust", "ca")
        hosts = {domain: self.public[name] for name, domain in self.domains.items()}
        config = ClientConfig(
            aor=aor, registrar=registrar, transport=spec["transport"], username=user,
            password=spec.get("password"), expires=spec.get("expires", 3600),
            timers=self.timers, ca_pem=self.ca.cert_pem if trust == "ca" else None,
            insecure=trust == "insecure", server_name=spec.get("server_name"),
            keylog=self.keylog_path, ws_path=spec.get("ws_path", "/"),
            keepalive_interval=seconds(spec["keepalive"]) if "keepalive" in spec else None,
            hosts=hosts, dns=[self.dns_address] if self.dns_address else [],
            dns_timeout=min(1.0, max(0.1, self.timers.t1 * 5)),
            udp_large_message=spec.get("udp_large_message", "send"),
            path_mtu=spec.get("path_mtu"), answer_status=spec.get("answer", 200),
            connect_timeout=max(1.0, self.timers.timer_f / 4),
            seed=self.rng.randrange(2**31))
        self.agent = UserAgent(self.reactor, config, trace=self.trace.child("client"))
        self.agent.stack.capture = self.capture
        self.agent.start()
        del keylog

    # -- teardown -----------------------------------------------------------------------

    async def stop(self) -> None:
        """Close every socket and timer the world opened."""
        if self.agent is not None:
            await self.agent.stop()
        for fault in self.faults:
            await fault.stop()
        for registrar in self.registrars.values():
            await registrar.stop()
        if self.dns is not None:
            await self.dns.stop()

    @property
    def names(self) -> dict:
        """Ladder names of the addresses that no trace owner covers (fault proxies)."""
        return {e.host: "fault proxy" for e in self.endpoints
                if e.role in ("fault proxy", "relay")}

    @property
    def dns_log(self) -> list:
        return list(self.dns.log) if self.dns is not None else []

    @property
    def fault_log(self) -> list:
        return [entry for fault in self.faults for entry in getattr(fault, "log", [])]
