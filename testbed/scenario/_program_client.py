"""A real client program as the world's client under test (``client: {command|kind}``).

The world starts no user agent then: it fills the program's placeholders from its own
addresses (:meth:`ProgramClient.values`), starts it in a work directory of its own, and
judges it from what its servers saw (:mod:`testbed.diagnosis`'s ``Observed``): the
registrars' trace, the DNS server's log, the relays' logs and the TLS handshakes at our
listeners (:class:`HandshakeLog`, which every world keeps). Steps ``await_register``
and ``call_client`` (:meth:`ProgramClient.await_register`, :meth:`ProgramClient.call_client`)
return outcomes the diagnosis, expectations and reports read as they read the built-in
client's.

When the scenario has no ``dns`` section, a program that resolves names gets a DNS
server of its own with an A record for each registrar's domain: what the built-in client
does with its hosts map, so a program never asks the system resolver.

A program that exits before it registers, or during a step, ends the scenario
(:class:`ClientGone`: one line and the program's output tail). It is always stopped at
teardown (SIGTERM, so it can unregister, then SIGKILL after :data:`STOP_GRACE`).
"""

from __future__ import annotations

import ipaddress
import shutil
import tempfile
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from twisted.internet import defer, task

from servers.certs import CertificateAuthority
from servers.dns import DnsServer, QueryLogEntry
from servers.faults import FaultRecord
from servers.loopback import PortUnavailable, find_free_loopback
from servers.registrar import Registrar, aor_of
from testbed.client import PROGRAM_KINDS, ClientProgram, Outcome, ProgramSpec, program_spec
from testbed.diagnosis import (
    Handshake,
    Listener,
    Observed,
    observed_inbound,
    observed_registration,
    program_notes,
)
from testbed.reactor import IReactor
from testbed.sip import (
    RemoteProtocolError,
    Response,
    SipUri,
    Timers,
    Transport,
    fmt_hostport,
    parse_message,
    parse_uri,
)
from testbed.transport import ServerTlsCreator, Trace, TraceEvent, TransactionFailed

from ._validation import substitute

PROGRAM_KEYS = ("command", "kind")
"""The client keys that make the client under test a real program."""
DEFAULT_WITHIN = 10.0
"""How long ``await_register`` and ``call_client`` wait by default, in seconds."""
STOP_GRACE = 2.0
"""How long a program gets after SIGTERM at teardown (to unregister) before SIGKILL."""
TAIL = 10
"""Lines of the program's output quoted when it ends a scenario."""
HANDSHAKES_KEPT = 1000


def is_program(client: Mapping[str, Any]) -> bool:
    """Whether a scenario's client is a real program (``command`` or ``kind``)."""
    return any(key in client for key in PROGRAM_KEYS)


class ClientGone(Exception):
    """The client program is gone while the scenario needed it: a line and its output."""

    def __init__(self, reason: str, tail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tail = tail

    def lines(self) -> list[str]:
        shown = [f"  | {line}" for line in self.tail.splitlines()]
        return [self.reason] + ([f"its output (last {len(shown)} lines):", *shown]
                                if shown else ["it printed nothing"])


# -- TLS handshakes at our listeners --------------------------------------------------------


ListenerKey = tuple[str, str, int]
"""A listener as (transport, host, port)."""


class HandshakeLog:
    """Every TLS connection made to the world's listeners, bounded, with its record.

    A server forgets a handshake once its connection is gone; a client program that
    refused our certificate is known only from it, so the world's TLS listeners are made
    by :meth:`server_tls`, which keeps them.
    """

    def __init__(self) -> None:
        self.entries: deque[tuple[ListenerKey, float, Any, Any]] = deque(
            maxlen=HANDSHAKES_KEPT)

    def server_tls(self, key: ListenerKey, clock: Any, certificate: Any,
                   **options: Any) -> ServerTlsCreator:
        """``server_tls_options(certificate, **options)`` that records into this log."""
        return _RecordingServerTls(self, key, clock, certificate, **options)

    def handshakes(self, listeners: Sequence[Listener]) -> list[Handshake]:
        by_key = {(listener.transport, *listener.address): listener for listener in listeners}
        found = []
        for key, time, tls_protocol, record in self.entries:
            listener = by_key.get(key)
            if listener is not None and record is not None:
                found.append(Handshake(listener, time, _peer(tls_protocol), record))
        return found


def _peer(tls_protocol: object) -> tuple[str, int] | None:
    transport = getattr(tls_protocol, "transport", None)
    address = transport.getPeer() if transport is not None else None
    port = getattr(address, "port", None)
    return (str(getattr(address, "host", "")), port) if isinstance(port, int) else None


class _RecordingServerTls(ServerTlsCreator):
    def __init__(self, log: HandshakeLog, key: ListenerKey, clock: Any, certificate: Any,
                 **options: Any) -> None:
        super().__init__(certificate, **options)
        self._log, self._key, self._clock = log, key, clock

    def serverConnectionForTLS(self, tlsProtocol: object) -> Any:  # noqa: N802 (Twisted API)
        connection = super().serverConnectionForTLS(tlsProtocol)
        self._log.entries.append((self._key, self._clock(), tlsProtocol,
                                  self.record_for(connection)))
        return connection


# -- the world a program runs in --------------------------------------------------------------


class ProgramWorld(Protocol):
    """What a :class:`ProgramClient` reads of its :class:`~._world.World`."""

    reactor: IReactor
    trace: Trace
    timers: Timers
    registrars: dict[str, Registrar]
    public: dict[str, str]
    domains: dict[str, str]
    dns: DnsServer | None
    dns_address: tuple[str, int] | None
    ca: CertificateAuthority
    ca_file: Path | None
    workdir: Path | None
    handshakes: HandshakeLog

    @property
    def scenario_data(self) -> dict[str, Any]: ...

    @property
    def dns_log(self) -> list[QueryLogEntry]: ...

    @property
    def fault_log(self) -> list[FaultRecord]: ...

    @property
    def endpoints(self) -> Sequence[Any]: ...

    def add_endpoint(self, role: str, transport: str, host: str, port: int,
                     note: str = "") -> None: ...


class ProgramClient:
    """The client program of one world: started, judged, stopped."""

    def __init__(self, world: ProgramWorld, spec: dict[str, Any]) -> None:
        self.world = world
        self.spec = spec
        self.kind = spec.get("kind")
        self.name = self.kind or Path(str(spec["command"][0])).name
        self.program: ClientProgram | None = None
        self.started = 0.0
        self.mark = 0.0  # where the next step's observation window begins
        self.aor: str | None = None  # what the client registered, as our registrar saw it
        self.registered_at: str | None = None  # the registrar that holds its binding
        self.exited_by_itself: str | None = None
        self._own_dns: DnsServer | None = None
        self._temporary: Path | None = None

    # -- start ------------------------------------------------------------------------------

    def start(self, used: set[str]) -> None:
        """Fill the placeholders and start the program; ``used``: addresses taken.

        Raises ProgramMissing, ProgramError or PortUnavailable (one line each).
        """
        if self.world.dns_address is None and (self.kind is None or
                                               PROGRAM_KINDS[self.kind].uses_dns):
            self._start_own_dns(used)
        spec = self.program_spec(used)
        self.program = ClientProgram(self.world.reactor, spec).start()
        self.started = self.mark = self.world.reactor.seconds()
        where = self.values_used.get("local", "")
        note = f"{self.name}: {' '.join(spec.argv[:1] + spec.argv[1:4])} ..."
        if self.kind is not None and PROGRAM_KINDS[self.kind].resolv_conf:
            note += ("; resolves through our DNS server (a private /etc/resolv.conf)"
                     if "resolv.conf" in spec.files else
                     "; reaches the registrar by address: a private /etc/resolv.conf needs "
                     "root, unshare and our DNS server on port 53")
        self.world.add_endpoint("client program", self.spec["transport"].upper(), where, 5060,
                                note)

    def program_spec(self, used: set[str]) -> ProgramSpec:
        values = self.values(used)
        self.values_used = values
        return program_spec(command=self.spec.get("command"), kind=self.kind, values=values,
                            workdir=self._workdir())

    def values(self, used: set[str]) -> dict[str, str]:
        """Every placeholder's value in this world (see testbed.client.PLACEHOLDERS)."""
        uri = parse_uri(substitute(str(self.spec["registrar"]), self.world.public))
        assert isinstance(uri, SipUri)  # validated
        transport = str(self.spec["transport"])
        port = uri.port or (5060 if transport == "auto" else Transport.parse(transport)
                            .default_port)
        local = find_free_loopback([("UDP", 5060), ("TCP", 5060), ("TCP", 5061)],
                                   exclude=used)
        used.add(local)
        dns = fmt_hostport(self.world.dns_address) if self.world.dns_address else ""
        return {"dns": dns, "registrar": str(uri), "registrar_host": self._address(uri.host),
                "registrar_port": str(port), "domain": self._domain(uri.host),
                "user": str(self.spec.get("user", "alice")),
                "password": str(self.spec.get("password", "")),
                "ca": str(self._ca_file().absolute()),
                "transport": transport, "local": local,
                "expires": str(self.spec.get("expires", 3600))}

    def _address(self, host: str) -> str:
        """The address of ``host``: itself, or the registrar's whose domain it is (what
        the built-in client's hosts map gives); a program that cannot resolve uses it."""
        for name, domain in self.world.domains.items():
            if domain == host and name in self.world.public:
                return self.world.public[name]
        return host

    def _domain(self, host: str) -> str:
        """The SIP domain: the URI's host name, or the domain of the registrar at that address."""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return host
        for name, address in self.world.public.items():
            if address == host:
                return self.world.domains.get(name, host)
        return host

    def _workdir(self) -> Path:
        if self.world.workdir is not None:
            return self.world.workdir / "client"
        self._temporary = Path(tempfile.mkdtemp(prefix="testbed-client-"))
        return self._temporary / "client"

    def _ca_file(self) -> Path:
        if self.world.ca_file is not None:
            return self.world.ca_file
        folder = self._workdir().parent
        folder.mkdir(parents=True, exist_ok=True)
        return self.world.ca.write(folder, "ca.crt")

    def _start_own_dns(self, used: set[str]) -> None:
        """A DNS server with an A record per registrar domain (the built-in client's hosts)."""
        zones: dict[str, dict[str, Any]] = {}
        for name, domain in self.world.domains.items():
            if domain not in zones:
                zones[domain] = {"origin": domain, "records": [
                    {"name": domain, "type": "A", "address": self.world.public[name]}]}
        server = DnsServer(list(zones.values()), self.world.reactor)
        try:
            host, port = find_free_loopback([("UDP", 53), ("TCP", 53)], exclude=used), 53
        except PortUnavailable:
            host, port = find_free_loopback([], exclude=used), 0
        used.add(host)
        listening = server.listen(host, port)
        self._own_dns = self.world.dns = server
        self.world.dns_address = (listening.host, listening.port)
        self.world.add_endpoint("dns", "UDP+TCP", listening.host, listening.port,
                                "A records of the registrars' domains, for the client program")

    # -- what our side saw ------------------------------------------------------------------

    def observed(self) -> Observed:
        listeners = self.listeners()
        srv: dict[str, list[tuple[int, int, int, str]]] = {}
        hosts: dict[str, str] = {}
        zones = substitute(self.world.scenario_data.get("dns", {}).get("zones", []),
                           self.world.public)
        for zone in zones:
            for record in zone.get("records", []):
                name = _absolute(str(record["name"]), zone["origin"])
                if record["type"] == "SRV":
                    srv.setdefault(name, []).append((record["priority"], record["weight"],
                                                     record["port"], record["target"]))
                elif record["type"] == "A":
                    hosts[name] = record["address"]
        return Observed(listeners, self.world.trace.events, self.world.fault_log,
                        self.world.dns_log, self.world.handshakes.handshakes(listeners),
                        fmt_hostport(self.world.dns_address) if self.world.dns_address else "",
                        srv, hosts)

    def listeners(self) -> list[Listener]:
        """Every listener of the world's registrars, with where a client reaches it."""
        found = []
        for spec in self.world.scenario_data["registrars"]:
            name = spec["name"]
            registrar = self.world.registrars.get(name)
            if registrar is None:
                continue
            host = self._private_host(name)
            for listener in spec.get("listen", []):
                transport = Transport.parse(listener["transport"])
                port = listener.get("port", transport.default_port)
                certificate = listener.get("certificate", "valid") if transport.secure else ""
                found.append(Listener(name, transport.value, (host, port),
                                      (self.world.public[name], port), certificate))
        return found

    def _private_host(self, name: str) -> str:
        for endpoint in self.world.endpoints:
            if endpoint.role == f"registrar {name}":
                return endpoint.host
        return ""

    # -- steps ------------------------------------------------------------------------------

    async def await_register(self, body: dict[str, Any]) -> Outcome:
        """Wait until a registrar of ours accepts a REGISTER of the program (or ``within``)."""
        program = self._running("registering")
        within = float(body.get("within", DEFAULT_WITHIN))
        since = self.mark
        accepted = self.world.trace.wait_for(lambda e: _accepted_register(e, since,
                                                                          self.world.registrars))
        which = await _first(self.world.reactor, within, registered=accepted,
                             exited=program.exited)
        if which == "registered":  # the 2xx is traced as it is sent: the binding follows
            await task.deferLater(self.world.reactor, 0, lambda: None)
        until = self.world.reactor.seconds()
        if which == "exited":
            raise ClientGone(f"client program {self.name} {program.describe_exit()} before "
                             f"registering ({until - self.started:.1f} s after it started)",
                             program.tail(TAIL))
        if which == "registered":
            event = accepted.result if isinstance(accepted.result, TraceEvent) else None
            self._remember_binding(event)
        outcome = observed_registration(self.observed(), since=since, until=until,
                                        registered=which == "registered",
                                        mode=str(self.spec["transport"]), waited=within)
        outcome.notes += program_notes(self.observed(), outcome, since=since, until=until,
                                       waited=within)
        self.mark = until
        return outcome

    async def call_client(self, body: dict[str, Any]) -> Outcome:
        """Our registrar sends an INVITE to the program's binding, over its flow."""
        program = self._running("being called")
        within = float(body.get("within", DEFAULT_WITHIN))
        name = body.get("from") or self.registered_at or next(iter(self.world.registrars))
        registrar = self.world.registrars[name]
        since = self.world.reactor.seconds()
        if self.aor is None or not registrar.bindings(self.aor):
            outcome = Outcome("inbound", False, f"INVITE not sent: the client has no binding "
                              f"at registrar {name} (no await_register succeeded, or it "
                              "expired)", error="rejected", started=since, ended=since)
            self.mark = since
            return outcome
        sent = registrar.send_to_contact(self.aor, "INVITE", body.get("sdp_size"))
        which = await _first(self.world.reactor, within, answered=sent, exited=program.exited)
        until = self.world.reactor.seconds()
        if which == "exited":
            raise ClientGone(f"client program {self.name} {program.describe_exit()} while "
                             "being called", program.tail(TAIL))
        results = sent.result if which == "answered" else None
        result = results[0] if isinstance(results, list) and results else None
        if not isinstance(result, Response | TransactionFailed):
            result = None
        outcome = observed_inbound(self.observed(), method="INVITE", registrar=name,
                                   since=since, until=until, result=result, waited=within)
        outcome.notes += program_notes(self.observed(), outcome, since=self.mark, until=until)
        self.mark = until
        return outcome

    def _running(self, doing: str) -> ClientProgram:
        program = self.program
        assert program is not None, "the world starts its client program"
        if not program.running:
            lived = (program.exit_time or self.started) - self.started
            raise ClientGone(f"client program {self.name} {program.describe_exit()} before "
                             f"{doing} ({lived:.1f} s after it started)", program.tail(TAIL))
        return program

    def _remember_binding(self, event: TraceEvent | None) -> None:
        if event is None:
            return
        message = _response(event)
        if message is not None:
            try:
                self.aor = aor_of(message.to.uri)
            except (RemoteProtocolError, ValueError):
                self.aor = None
            self.registered_at = event.owner

    # -- teardown ---------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop the program (it may unregister first); remove a temporary work directory."""
        program = self.program
        if program is not None:
            if not program.running and program.exit_code != 0:
                self.exited_by_itself = (f"client program {self.name} "
                                         f"{program.describe_exit()} during the run")
            await program.stop(STOP_GRACE)
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)

    def tail(self) -> str:
        return self.program.tail(TAIL) if self.program is not None else ""


def _absolute(name: str, origin: str) -> str:
    if name == "@":
        return origin.rstrip(".")
    return name.rstrip(".") if "." in name else f"{name}.{origin.rstrip('.')}"


def _response(event: TraceEvent) -> Response | None:
    try:
        message = parse_message(event.data)
    except RemoteProtocolError:
        return None
    return message if isinstance(message, Response) else None


def _accepted_register(event: TraceEvent, since: float,
                       registrars: Mapping[str, Registrar]) -> bool:
    """A registrar's 2xx to a REGISTER that leaves bindings (RFC 3261 §10.3 step 8)."""
    if event.kind != "sent" or event.time < since or event.owner not in registrars \
            or not event.summary[:1] == "2" or "REGISTER)" not in event.summary:
        return False
    response = _response(event)
    return response is not None and bool(response.contacts)


async def _first(reactor: IReactor, within: float, **waits: defer.Deferred[Any]) -> str:
    """The name of the first of ``waits`` to fire, or ``"timeout"`` after ``within``."""
    done: defer.Deferred[str] = defer.Deferred()

    def fired(result: object, name: str) -> object:
        if not done.called:
            done.callback(name)
        return result

    for name, waiting in waits.items():
        waiting.addBoth(fired, name)
    timer = reactor.callLater(within, fired, None, "timeout")
    try:
        return await done
    finally:
        if timer.active():
            timer.cancel()


__all__ = ["DEFAULT_WITHIN", "PROGRAM_KEYS", "ClientGone", "HandshakeLog", "ProgramClient",
           "ProgramWorld", "is_program"]
