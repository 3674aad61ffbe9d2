"""From fault data to running proxies: :func:`build_fault` and the :class:`Fault` it returns."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReactorTime

from testbed.reactor import IReactor
from testbed.sip import Transport, fmt_hostport
from testbed.transport import Capture, Trace

from ._log import FaultLog, FaultRecord, HostPort
from ._policy import NatTable, Pipeline, Stage, stage_for
from ._ports import ClosedPort, SynDropPort
from ._spec import FaultConfigError, FaultSpec, parse_faults
from ._tcp import TcpRelay
from ._udp import UdpRelay

Upstream = tuple[str, str, int]
"""A real server: ``(transport, host, port)``; the proxy relays its carrier (UDP or TCP)."""
Part = UdpRelay | TcpRelay | ClosedPort | SynDropPort
"""What serves one carrier on the proxy's port: a relay, or a port the kernel answers."""
_BIND_ATTEMPTS = 20


@dataclass
class Fault:
    """Running fault injectors on one proxy address, one port number for every transport.

    Point the client at :attr:`address` (the same port serves UDP and TCP, so that a
    client switching a large request to TCP, RFC 3261 §18.1.1, still goes through the
    proxy). :attr:`log` holds what was done; :meth:`stop` closes everything.
    """

    name: str
    specs: tuple[FaultSpec, ...]
    log: FaultLog
    address: HostPort = ("", 0)
    addresses: dict[Transport, HostPort] = field(default_factory=dict)
    stages: list[Stage] = field(default_factory=list)
    parts: dict[Transport, Part] = field(default_factory=dict)  # by carrier

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(spec.kind for spec in self.specs)

    def stage(self, name: str) -> Stage:
        """The packet-by-packet stage named ``name`` (its counters, for reports and tests)."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def wait_for(self, predicate: Callable[[FaultRecord], bool]) -> defer.Deferred[FaultRecord]:
        """A Deferred of the first log record satisfying ``predicate``."""
        return self.log.wait_for(predicate)

    def stop(self) -> defer.Deferred[Any]:
        parts, self.parts = self.parts, {}
        return defer.DeferredList([_stop(part) for part in parts.values()])


def build_fault(spec: object, *, reactor: IReactor,
                upstream: Upstream | Sequence[Upstream] | None,
                rng: random.Random, listen_host: str | None = None, listen_port: int = 0,
                listen: HostPort | None = None, clock: IReactorTime | None = None,
                name: str | None = None, trace: Trace | None = None,
                capture: Capture | None = None, trace_upstream: bool = False,
                path: Sequence[str | int] = ()) -> Fault:
    """Start the fault(s) of ``spec`` between a client and ``upstream``.

    ``spec`` is one fault mapping or a list of them (composed on the same proxy, applied
    in the order listed). ``upstream`` is the real server: ``(transport, host, port)``,
    or a list with one entry per carrier (one UDP, one riding on TCP: TCP, TLS, WS or
    WSS); ``None`` is allowed when every fault closes its port (``not-listening``).
    The proxy binds ``listen_host`` on ``listen_port`` (0: any free port, the same for
    every carrier), or ``listen=(host, port)``. ``rng`` seeds each fault without a
    ``seed`` of its own, in list order. ``clock`` (default ``reactor``) times delays and
    NAT bindings and stamps the log. With ``trace`` (a :class:`testbed.transport.Trace`)
    every record but ``forwarded`` and ``delayed`` also becomes a ``note`` event there,
    so ladders and message logs show what the fault did where it happened; with
    ``trace_upstream`` the relays also record there what they send to and receive from
    the server (for a server nothing else traces: an external registrar). With
    ``capture`` (a :class:`testbed.transport.Capture`) the relays record both legs.

    Raises :class:`FaultConfigError` for bad data or faults that cannot share a port.
    """
    path = tuple(path)
    if listen is not None:
        listen_host, listen_port = listen
    if listen_host is None:
        raise ValueError("build_fault needs listen_host (or listen=(host, port))")
    specs = parse_faults(spec, path)
    clock = clock if clock is not None else reactor
    servers = _servers(upstream)
    upstreams = _by_carrier(servers)
    seeds = [s.seed if s.seed is not None else rng.getrandbits(64) for s in specs]
    carriers = list(upstreams) or _udp_first({t for s in specs for t in s.transports})
    plans = {carrier: _plan(carrier, specs, upstreams) for carrier in carriers}
    for s in specs:
        if not any(t in carriers for t in s.transports):
            raise FaultConfigError([*s.path, "transports"], f"{s.kind} acts on "
                                   f"{', '.join(t.spelling for t in s.transports)}, which "
                                   f"this proxy does not carry (it carries "
                                   f"{', '.join(carriers)})")
    log = FaultLog()
    where: dict[Transport, HostPort] = {}  # carrier -> the proxy's address, once bound
    if trace is not None:
        log.subscribe(_mirror_into(trace, where))
    fault = Fault(name or "+".join(s.name for s in specs), specs, log)
    ip_version = 6 if ":" in listen_host else 4
    stages = {id(s): stage_for(s, seed, ip_version) for s, seed in zip(specs, seeds, strict=True)
              if not s.port_level and s.kind not in ("nat", "relay")}
    fault.stages = list(stages.values())
    relays = _RelayOptions(capture, trace if trace_upstream else None)
    parts = _open_on_one_port(listen_host, listen_port, plans, upstreams, reactor, clock,
                              stages, log, fault.name, relays)
    fault.parts = parts
    where.update({carrier: part.address for carrier, part in parts.items()})
    port = next(iter(parts.values())).address[1]
    fault.address = (listen_host, port)
    for transport in [t for t, _ in servers] or carriers:
        fault.addresses[transport] = (listen_host, parts[transport.carrier].address[1])
    now = clock.seconds()
    for carrier, part in parts.items():
        plan = plans[carrier]
        if isinstance(part, UdpRelay | TcpRelay):
            what = ", ".join(s.name for s in plan.specs) or "nothing (a plain relay)"
            detail = f"relays to {fmt_hostport(part.upstream)}/{carrier}; faults: {what}"
        else:
            detail = f"{plan.specs[0].name}: {part.answer}"
        log.append(FaultRecord(now, plan.specs[0].name if plan.specs else fault.name, "policy",
                               carrier, destination=part.address, detail=detail))
    return fault


@dataclass(frozen=True)
class _RelayOptions:
    """What every relay of one fault records besides its log."""

    capture: Capture | None
    upstream_trace: Trace | None


# -- planning -------------------------------------------------------------------------------


@dataclass
class _Plan:
    carrier: Transport
    specs: list[FaultSpec]
    port: str | None  # "closed", "syn-drop", or None for a relay
    nat: FaultSpec | None


def _plan(carrier: Transport, specs: Sequence[FaultSpec],
          upstreams: dict[Transport, HostPort]) -> _Plan:
    applicable = [s for s in specs if carrier in s.transports]
    port_level = [s for s in applicable if s.port_level_on(carrier)]
    if port_level:
        first = port_level[0]
        others = [s for s in applicable if s is not first]
        if others:
            other = others[0]
            order = [id(s) for s in specs]
            later = other if order.index(id(other)) > order.index(id(first)) else first
            raise FaultConfigError(list(later.path), f"{first.name} leaves {carrier} packets "
                                   "to the kernel (the proxy never sees them), so "
                                   f"{other.name} cannot act on {carrier} too; limit one of "
                                   "them with transports")
        kind = "syn-drop" if first.kind == "firewall" and first.action == "drop" else "closed"
        return _Plan(carrier, [first], kind, None)
    nats = [s for s in applicable if s.kind == "nat"]
    if len(nats) > 1:
        raise FaultConfigError(list(nats[1].path), f"a second NAT on {carrier}: one proxy is "
                               "one NAT; chain two faults for two NATs")
    if carrier not in upstreams:
        raise ValueError(f"the faults relay {carrier} but no {carrier} upstream was given")
    return _Plan(carrier, applicable, None, nats[0] if nats else None)


def _servers(upstream: Upstream | Sequence[Upstream] | None
             ) -> list[tuple[Transport, HostPort]]:
    """``[(transport, (host, port))]`` from one ``(transport, host, port)`` or a list."""
    if upstream is None:
        return []
    if isinstance(upstream[0], str):
        items = [cast(Upstream, upstream)]
    else:
        items = list(cast(Sequence[Upstream], upstream))
    result = []
    for transport, host, port in items:
        try:
            result.append((Transport.parse(str(transport)), (host, int(port))))
        except ValueError:
            raise ValueError(f"unknown upstream transport {transport!r}") from None
    return result


def _by_carrier(servers: list[tuple[Transport, HostPort]]) -> dict[Transport, HostPort]:
    """{carrier: (host, port)}, UDP first: one relay per carrier."""
    result: dict[Transport, HostPort] = {}
    for transport, address in servers:
        if transport.carrier in result:
            raise ValueError(f"two upstreams ride on {transport.carrier}: one proxy port per "
                             "carrier")
        result[transport.carrier] = address
    return {carrier: result[carrier] for carrier in _udp_first(result)}


def _udp_first(carriers: set[Transport] | dict[Transport, HostPort]) -> list[Transport]:
    return sorted(carriers, key=lambda carrier: carrier is not Transport.UDP)


def _open_on_one_port(host: str, port: int, plans: dict[Transport, _Plan],
                      upstreams: dict[Transport, HostPort], reactor: IReactor,
                      clock: IReactorTime, stages: dict[int, Stage], log: FaultLog,
                      name: str, relays: _RelayOptions) -> dict[Transport, Part]:
    """Open every carrier's part on the same port number (retrying when it is taken)."""
    last: Exception | None = None
    for _ in range(_BIND_ATTEMPTS if port == 0 else 1):
        parts: dict[Transport, Part] = {}
        wanted = port
        try:
            for carrier, plan in plans.items():
                part = _open(plan, host, wanted, upstreams, reactor, clock, stages, log, name,
                             relays)
                parts[carrier] = part
                wanted = part.address[1]
            return parts
        except (OSError, CannotListenError) as exc:
            last = exc
            for part in parts.values():
                _stop(part)
    raise OSError(f"cannot bind {', '.join(plans)} on one port of {host}: {last}")


def _open(plan: _Plan, host: str, port: int, upstreams: dict[Transport, HostPort],
          reactor: IReactor, clock: IReactorTime, stages: dict[int, Stage], log: FaultLog,
          name: str, relays: _RelayOptions) -> Part:
    if plan.port == "closed":
        return ClosedPort(plan.carrier, host, port)
    if plan.port == "syn-drop":
        return SynDropPort(host, port)
    nat_spec = plan.nat
    nat = NatTable(nat_spec.timeout, nat_spec.refresh) if nat_spec else NatTable()
    pipeline = Pipeline([stages[id(s)] for s in plan.specs if id(s) in stages])
    relay_class = UdpRelay if plan.carrier is Transport.UDP else TcpRelay
    relay = relay_class(reactor=reactor, clock=clock, listen=(host, port),
                        upstream=upstreams[plan.carrier], pipeline=pipeline, nat=nat, log=log,
                        name=name, nat_name=nat_spec.name if nat_spec else "nat",
                        capture=relays.capture, upstream_trace=relays.upstream_trace)
    relay.start()
    return relay


def _stop(part: Part) -> defer.Deferred[Any]:
    if isinstance(part, UdpRelay | TcpRelay):
        return part.stop()
    part.close()
    return defer.succeed(None)


def _mirror_into(trace: Trace, where: dict[Transport, HostPort]
                 ) -> Callable[[FaultRecord], None]:
    """A log listener that records what the fault did as trace ``note`` events, placed
    at the proxy's address so that a ladder draws them on the fault's line."""

    def mirror(record: FaultRecord) -> None:
        if record.action in ("forwarded", "delayed"):
            return
        local = record.destination if record.action == "policy" else where.get(record.transport)
        trace.record("note", record.transport, local=local,
                     remote=record.source if record.action != "policy" else None,
                     summary=f"fault {record.fault}: {record.action}"
                             + (f" {record.size} bytes {record.direction}" if record.size else ""),
                     detail=record.detail)

    return mirror
