"""From fault data to running proxies: :func:`build_fault` and the :class:`Fault` it returns."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from twisted.internet import defer
from twisted.internet.error import CannotListenError

from ._log import FaultLog, FaultRecord
from ._policy import NatTable, Pipeline, Stage, stage_for
from ._ports import ClosedPort, SynDropPort
from ._spec import FaultConfigError, FaultSpec, parse_faults
from ._tcp import TcpRelay
from ._udp import UdpRelay

HostPort = tuple[str, int]
#: What each SIP transport rides on: the proxies work at that layer.
CARRIER = {"UDP": "UDP", "TCP": "TCP", "TLS": "TCP", "WS": "TCP", "WSS": "TCP"}
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
    addresses: dict[str, HostPort] = field(default_factory=dict)
    stages: list[Stage] = field(default_factory=list)
    parts: dict[str, object] = field(default_factory=dict)  # carrier -> relay or port

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(spec.kind for spec in self.specs)

    def stage(self, name: str) -> Stage:
        """The packet-by-packet stage named ``name`` (its counters, for reports and tests)."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def wait_for(self, predicate) -> defer.Deferred:
        """A Deferred of the first log record satisfying ``predicate``."""
        return self.log.wait_for(predicate)

    def stop(self) -> defer.Deferred:
        waits = []
        for part in self.parts.values():
            if isinstance(part, UdpRelay | TcpRelay):
                waits.append(part.stop())
            else:
                part.close()  # type: ignore[attr-defined]
        self.parts = {}
        return defer.DeferredList(waits)


def build_fault(spec: object, *, reactor: object,
                upstream: tuple[str, str, int] | Sequence[tuple[str, str, int]] | None,
                rng: random.Random, listen_host: str | None = None, listen_port: int = 0,
                listen: HostPort | None = None, clock: object = None,
                name: str | None = None, trace: object = None,
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
    so ladders and message logs show what the fault did where it happened.

    Raises :class:`FaultConfigError` for bad data or faults that cannot share a port.
    """
    path = tuple(path)
    if listen is not None:
        listen_host, listen_port = listen
    if listen_host is None:
        raise ValueError("build_fault needs listen_host (or listen=(host, port))")
    specs = parse_faults(spec, path)
    clock = clock if clock is not None else reactor
    upstreams = _upstreams(upstream)
    seeds = [s.seed if s.seed is not None else rng.getrandbits(64) for s in specs]
    carriers = list(upstreams) or sorted({t.upper() for s in specs for t in s.transports},
                                         reverse=True)  # UDP first
    plans = {carrier: _plan(carrier, specs, upstreams) for carrier in carriers}
    for s in specs:
        if not any(t.upper() in carriers for t in s.transports):
            raise FaultConfigError([*s.path, "transports"], f"{s.kind} acts on "
                                   f"{', '.join(s.transports)}, which this proxy does not "
                                   f"carry (it carries {', '.join(carriers)})")
    log = FaultLog()
    where: dict[str, HostPort] = {}  # carrier -> the proxy's address, once bound
    if trace is not None:
        log.subscribe(_mirror_into(trace, where))
    fault = Fault(name or "+".join(s.name for s in specs), specs, log)
    ip_version = 6 if ":" in listen_host else 4
    stages = {id(s): stage_for(s, seed, ip_version) for s, seed in zip(specs, seeds, strict=True)
              if not s.port_level and s.kind not in ("nat", "relay")}
    fault.stages = list(stages.values())
    parts = _open_on_one_port(listen_host, listen_port, carriers, plans, upstreams, reactor,
                              clock, stages, log, fault.name)
    fault.parts = parts
    where.update({carrier: part.address for carrier, part in parts.items()})  # type: ignore[attr-defined]
    port = next(iter(parts.values())).address[1]  # type: ignore[attr-defined]
    fault.address = (listen_host, port)
    for transport, carrier in _transport_names(upstream, carriers):
        fault.addresses[transport] = (listen_host, parts[carrier].address[1])  # type: ignore[attr-defined]
    now = clock.seconds()  # type: ignore[attr-defined]
    for carrier, part in parts.items():
        plan = plans[carrier]
        if isinstance(part, UdpRelay | TcpRelay):
            what = ", ".join(s.name for s in plan.specs) or "nothing (a plain relay)"
            detail = f"relays to {_fmt(part.upstream)}/{carrier}; faults: {what}"
        else:
            detail = f"{plan.specs[0].name}: {part.answer}"  # type: ignore[attr-defined]
        log.append(FaultRecord(now, plan.specs[0].name if plan.specs else fault.name, "policy",
                               carrier, destination=part.address,  # type: ignore[attr-defined]
                               detail=detail))
    return fault


# -- planning -------------------------------------------------------------------------------


@dataclass
class _Plan:
    carrier: str
    specs: list[FaultSpec]
    port: str | None  # "closed", "syn-drop", or None for a relay
    nat: FaultSpec | None


def _plan(carrier: str, specs: Sequence[FaultSpec],
          upstreams: dict[str, HostPort]) -> _Plan:
    transport = carrier.lower()
    applicable = [s for s in specs if transport in s.transports]
    port_level = [s for s in applicable if s.port_level_on(transport)]
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


def _upstreams(upstream: object) -> dict[str, HostPort]:
    """{carrier: (host, port)} from one ``(transport, host, port)`` or a list of them."""
    if upstream is None:
        return {}
    items = [upstream] if isinstance(upstream[0], str) else list(upstream)  # type: ignore[index]
    result: dict[str, HostPort] = {}
    for transport, host, port in items:  # type: ignore[misc]
        carrier = CARRIER.get(str(transport).upper())
        if carrier is None:
            raise ValueError(f"unknown upstream transport {transport!r}")
        if carrier in result:
            raise ValueError(f"two upstreams ride on {carrier}: one proxy port per carrier")
        result[carrier] = (host, int(port))
    return dict(sorted(result.items(), key=lambda item: item[0] != "UDP"))  # UDP first


def _transport_names(upstream: object, carriers: list[str]) -> list[tuple[str, str]]:
    if upstream is None:
        return [(carrier, carrier) for carrier in carriers]
    items = [upstream] if isinstance(upstream[0], str) else list(upstream)  # type: ignore[index]
    return [(str(t).upper(), CARRIER[str(t).upper()]) for t, _, _ in items]  # type: ignore[misc]


def _open_on_one_port(host: str, port: int, carriers: list[str], plans: dict[str, _Plan],
                      upstreams: dict[str, HostPort], reactor: object, clock: object,
                      stages: dict[int, Stage], log: FaultLog, name: str) -> dict[str, object]:
    """Open every carrier's part on the same port number (retrying when it is taken)."""
    last: Exception | None = None
    for _ in range(_BIND_ATTEMPTS if port == 0 else 1):
        parts: dict[str, object] = {}
        wanted = port
        try:
            for carrier in carriers:
                part = _open(plans[carrier], host, wanted, upstreams, reactor, clock, stages,
                             log, name)
                parts[carrier] = part
                wanted = part.address[1]  # type: ignore[attr-defined]
            return parts
        except (OSError, CannotListenError) as exc:
            last = exc
            for part in parts.values():
                part.stop() if isinstance(part, UdpRelay | TcpRelay) else part.close()  # type: ignore[attr-defined]
    raise OSError(f"cannot bind {', '.join(carriers)} on one port of {host}: {last}")


def _open(plan: _Plan, host: str, port: int, upstreams: dict[str, HostPort], reactor: object,
          clock: object, stages: dict[int, Stage], log: FaultLog, name: str) -> object:
    if plan.port == "closed":
        return ClosedPort(plan.carrier, host, port)
    if plan.port == "syn-drop":
        return SynDropPort(host, port)
    nat_spec = plan.nat
    nat = NatTable(nat_spec.timeout, nat_spec.refresh) if nat_spec else NatTable()
    pipeline = Pipeline([stages[id(s)] for s in plan.specs if id(s) in stages])
    relay_class = UdpRelay if plan.carrier == "UDP" else TcpRelay
    relay = relay_class(reactor=reactor, clock=clock, listen=(host, port),
                        upstream=upstreams[plan.carrier], pipeline=pipeline, nat=nat, log=log,
                        name=name, nat_name=nat_spec.name if nat_spec else "nat")
    relay.start()
    return relay


def _mirror_into(trace: object, where: dict[str, HostPort]):
    """A log listener that records what the fault did as trace ``note`` events, placed
    at the proxy's address so that a ladder draws them on the fault's line."""

    def mirror(record: FaultRecord) -> None:
        if record.action in ("forwarded", "delayed"):
            return
        local = record.destination if record.action == "policy" else where.get(record.transport)
        trace.record("note", record.transport, local=local,  # type: ignore[attr-defined]
                     remote=record.source if record.action != "policy" else None,
                     summary=f"fault {record.fault}: {record.action}"
                             + (f" {record.size} bytes {record.direction}" if record.size else ""),
                     detail=record.detail)

    return mirror


def _fmt(address: HostPort) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
