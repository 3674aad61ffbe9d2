"""RFC 3263 §4 server location as a sans-IO step machine.

The plan asks questions and is told the answers; it never does I/O itself::

    plan = Rfc3263Plan("sip:example.com", AUTO, DEFAULT_SUPPORTED, random.Random(7))
    while (query := plan.next_query()) is not None:
        plan.answer(query, records_or_failure)   # a list of records, or QueryFailed
    plan.targets   # ordered Target(transport, host, port, address)
    plan.trace     # ResolutionStep lines a support engineer can read

Rules (RFC 3263 §4.1 transport, §4.2 port and address, RFC 2782 SRV order):

* numeric IP host: no DNS at all; port from the URI or the transport's default;
* explicit port (outside AUTO): A/AAAA only, never SRV;
* explicit transport (``transport=`` in the URI, or a forced client mode): SRV of that
  transport, then A/AAAA at the default port when no SRV exists;
* otherwise (AUTO): NAPTR, in order then preference, keeping only the services the
  client supports (``SIPS+`` only for ``sips:``) and flag ``"s"``; each kept record's
  replacement is looked up as SRV. No usable NAPTR: SRV for each supported transport of
  the URI's scheme in the client's preference order (``_sip._udp``, ``_sip._tcp``,
  ``_sip._ws`` for ``sip:``; ``_sips._tcp``, ``_sips._ws`` for ``sips:``: RFC 3263 §4.1
  builds SRV names with "_sip" for SIP URIs and "_sips" for SIPS URIs, so a ``sip:`` URI
  reaches TLS or WSS only through a ``SIPS+`` NAPTR record). No SRV at all: A/AAAA with
  UDP (``sip:``) or TLS (``sips:``) at the default port.

AUTO ignores an explicit port in a hostname URI (a product decision) and says so in
the trace. Every fallback leaves a line in the trace.

WebSocket: RFC 7118 registers the NAPTR services ``SIP+D2W`` and ``SIPS+D2W`` (IANA
"SIP NAPTR Resource Record Services Field" registry, protocol "WS") but names no SRV
label. By analogy with ``SIPS+D2T`` → ``_sips._tcp`` (the label is the protocol, the
service the scheme) we use ``_sip._ws`` and ``_sips._ws``; some stacks publish
``_sips._wss`` instead, so the prefixes can be overridden (``srv_prefixes``).
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from testbed.sip import AUTO, RemoteProtocolError, SipUri, Transport, Uri, parse_uri

from ._records import (
    AddressRecord,
    CnameRecord,
    NaptrRecord,
    Query,
    QueryFailed,
    QueryRecord,
    Record,
    SrvRecord,
    normalize_name,
)
from ._srv import order_srv

DEFAULT_SUPPORTED: tuple[Transport, ...] = (
    Transport.TLS, Transport.TCP, Transport.UDP, Transport.WSS,
)
"""The client's transports in preference order (RFC 3263 §4.1 lists TLS, TCP, UDP)."""

NAPTR_SERVICES: Mapping[str, Transport] = {
    "SIPS+D2T": Transport.TLS,
    "SIP+D2T": Transport.TCP,
    "SIP+D2U": Transport.UDP,
    "SIPS+D2W": Transport.WSS,
    "SIP+D2W": Transport.WS,
}
"""NAPTR service → transport (RFC 3263 §4.1; RFC 7118 for the two WebSocket services)."""

SRV_PREFIXES: Mapping[Transport, str] = {
    Transport.UDP: "_sip._udp",
    Transport.TCP: "_sip._tcp",
    Transport.TLS: "_sips._tcp",
    Transport.WS: "_sip._ws",
    Transport.WSS: "_sips._ws",
}
"""SRV owner-name prefixes per transport (RFC 3263 §4.1; WebSocket ones by analogy)."""

# A sips: URI with transport=tcp means TLS, with transport=ws means WSS (RFC 3261 §26.2.2).
_SECURE_FORM = {Transport.TCP: Transport.TLS, Transport.WS: Transport.WSS}

RFC_4_1 = "RFC 3263 §4.1"
RFC_4_2 = "RFC 3263 §4.2"
RFC_2782 = "RFC 2782"

QueryResult = Sequence[Record] | QueryFailed
"""What the plan is told for each query: the records (possibly none), or a failure."""


class PlanError(ValueError):
    """The plan was given arguments it cannot work with (bad URI, mode, transports),
    or was driven out of order (an answer to a question it did not ask)."""


@dataclass(frozen=True, slots=True)
class Target:
    """One place to send a request: transport, the host name it came from, port, IP.

    ``address`` is the IP to connect to (equal to ``host`` for a numeric URI); ``reason``
    tells where the target came from and does not take part in equality. ``transport``
    may be given as its Via spelling (``"UDP"``): it is kept as a :class:`Transport`.
    """

    transport: Transport
    host: str
    port: int
    address: str | None = None
    reason: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        try:
            transport = Transport(self.transport)
        except ValueError:
            raise ValueError(f"transport must be one of {', '.join(Transport)}: "
                             f"{self.transport!r}") from None
        object.__setattr__(self, "transport", transport)
        if not 0 < self.port <= 65535:
            raise ValueError(f"port out of range: {self.port}")

    @property
    def secure(self) -> bool:
        return self.transport.secure

    def __str__(self) -> str:
        where = self.address or self.host
        where = f"[{where}]" if ":" in where else where
        text = f"{self.transport} {where}:{self.port}"
        if self.address and normalize_name(self.address) != normalize_name(self.host):
            text += f" ({self.host})"
        return text


@dataclass(frozen=True, slots=True)
class ResolutionStep:
    """One line of the resolution trace.

    ``kind`` is one of ``input`` (a decision taken from the URI or the mode), ``answer``
    (what a query returned), ``order`` (the RFC 2782 order drawn for an SRV set), ``skip``
    (a record not used, and why), ``fallback`` (a rule that applied because something
    was missing), ``error`` (nothing can be resolved) and ``result`` (the final list).
    """

    kind: str
    text: str
    rfc: str = ""

    def __str__(self) -> str:
        return f"{self.text} ({self.rfc})" if self.rfc else self.text


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a resolver adapter hands back: the ordered targets, the trace, the queries."""

    targets: tuple[Target, ...]
    trace: tuple[ResolutionStep, ...]
    queries: tuple[QueryRecord, ...] = ()

    def describe(self) -> str:
        return "\n".join(str(step) for step in self.trace)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _describe_failure(query: Query, failure: QueryFailed) -> str:
    if failure.reason == "NXDOMAIN":
        return f"{query} → NXDOMAIN (no such name)"
    return f"{query} → {failure}"


class Rfc3263Plan:
    """Resolve one SIP URI to an ordered list of :class:`Target` (see module docs).

    ``mode`` is :data:`~testbed.sip.AUTO` or a transport to force (a :class:`Transport`
    or its name in any case); ``supported`` lists the client's transports in preference
    order (used by AUTO only); ``rng`` drives the RFC 2782 weighted choice; ``families``
    are the address queries made per host, in order; ``srv_prefixes`` replaces some of
    :data:`SRV_PREFIXES`.
    """

    def __init__(
        self,
        uri: str | SipUri,
        mode: str = AUTO,
        supported: Iterable[str] = DEFAULT_SUPPORTED,
        rng: random.Random | None = None,
        *,
        families: Sequence[str] = ("A", "AAAA"),
        srv_prefixes: Mapping[str, str] | None = None,
    ) -> None:
        parsed: str | Uri = uri
        if isinstance(parsed, str):
            try:
                parsed = parse_uri(parsed)
            except RemoteProtocolError as exc:
                raise PlanError(f"invalid URI {uri!r}: {exc.reason}") from None
        if not isinstance(parsed, SipUri):
            raise PlanError(f"only sip: and sips: URIs can be resolved, not {parsed}")
        self.uri = parsed
        self.forced = _forced_transport(mode)
        """The transport the mode forces; None for AUTO (RFC 3263 in full)."""
        self.supported = _transports(supported)
        if self.forced is None and not self.supported:
            raise PlanError("AUTO needs at least one supported transport")
        self.families = tuple(families)
        if not self.families or any(f not in ("A", "AAAA") for f in self.families):
            raise PlanError(f"families must be A and/or AAAA: {families!r}")
        if rng is None:  # reproducible by default; pass a seeded Random to vary it
            rng = random.Random(0)
        self.rng = rng
        self.srv_prefixes = dict(SRV_PREFIXES)
        if srv_prefixes:
            keys = _transports(srv_prefixes)
            self.srv_prefixes.update(zip(keys, srv_prefixes.values(), strict=True))
        self.targets: list[Target] = []
        self.trace: list[ResolutionStep] = []
        self._seen: set[tuple[Transport, str, int]] = set()
        self._hosts: dict[str, list[str]] = {}
        self._pending: Query | None = None
        self._steps = self._run()
        self._pending = next(self._steps, None)  # the first question, if any

    # -- the facade the adapter drives --------------------------------------------------

    def next_query(self) -> Query | None:
        """The question to answer next, or None when the plan is finished."""
        return self._pending

    @property
    def done(self) -> bool:
        return self._pending is None

    def answer(self, query: Query, result: QueryResult) -> None:
        """Give the answer to :meth:`next_query`: records (possibly none) or a failure."""
        if self._pending is None:
            raise PlanError(f"the plan is finished; no answer expected for {query}")
        if query != self._pending:
            raise PlanError(f"answer for {query}, but the plan is waiting for {self._pending}")
        if not isinstance(result, QueryFailed):
            result = list(result)
        self._advance(result)

    def resolution(self, queries: Iterable[QueryRecord] = ()) -> Resolution:
        """The result so far: targets, trace, and the adapter's ``queries`` log."""
        return Resolution(tuple(self.targets), tuple(self.trace), tuple(queries))

    def _advance(self, value: QueryResult) -> None:
        try:
            self._pending = self._steps.send(value)
        except StopIteration:
            self._pending = None

    # -- helpers ------------------------------------------------------------------------

    def _note(self, kind: str, text: str, rfc: str = "") -> None:
        self.trace.append(ResolutionStep(kind, text, rfc))

    @property
    def _secure(self) -> bool:
        return self.uri.secure

    def _allowed(self, transport: Transport) -> bool:
        return transport.secure or not self._secure

    def _default_transport(self) -> Transport:
        """UDP for sip:, TLS for sips: (RFC 3263 §4.1); in AUTO, the first supported
        transport that fits the scheme if the client lacks that default."""
        default = Transport.TLS if self._secure else Transport.UDP
        if self.forced is not None or default in self.supported:
            return default
        for transport in self.supported:
            if self._allowed(transport):
                self._note("fallback", f"the default transport {default} is not supported "
                           f"by the client: using {transport} instead", RFC_4_1)
                return transport
        return default

    def _add(self, transport: Transport, host: str, port: int, addresses: Iterable[str],
             reason: str) -> None:
        for address in addresses:
            key = (transport, address, port)
            if key in self._seen:
                continue
            self._seen.add(key)
            self.targets.append(Target(transport, host, port, address, reason))

    def _trace_aliases(self, records: Sequence[Record]) -> None:
        for record in records:
            if isinstance(record, CnameRecord):
                self._note("answer", f"{record.name} is an alias (CNAME) of {record.target}")

    def _addresses(self, host: str) -> Generator[Query, QueryResult, list[str]]:
        """A then AAAA (per ``families``) for ``host``; each host is asked once per plan."""
        key = normalize_name(host)
        if key in self._hosts:
            return self._hosts[key]
        found: list[str] = []
        for family in self.families:
            query = Query(host, family)
            result = yield query
            if isinstance(result, QueryFailed):
                self._note("answer", _describe_failure(query, result))
                continue
            self._trace_aliases(result)
            addresses = [r.address for r in result
                         if isinstance(r, AddressRecord) and r.type == family]
            if addresses:
                self._note("answer", f"{query} → {', '.join(addresses)}")
            else:
                self._note("answer", f"{query} → no records (NODATA)")
            found += [a for a in addresses if a not in found]
        self._hosts[key] = found
        return found

    def _srv(self, name: str, transport: Transport,
             why: str) -> Generator[Query, QueryResult, bool]:
        """Look up one SRV name and add its targets; True if any SRV record was found
        (then no A/AAAA fallback applies, even if a target turned out unreachable)."""
        query = Query(name, "SRV")
        result = yield query
        if isinstance(result, QueryFailed):
            self._note("answer", _describe_failure(query, result))
            return False
        self._trace_aliases(result)
        records = [r for r in result if isinstance(r, SrvRecord)]
        if not records:
            self._note("answer", f"{query} → no records (NODATA)")
            return False
        plural = "record" if len(records) == 1 else "records"
        self._note("answer", f"{query} → {len(records)} {plural}: "
                   + "; ".join(str(r) for r in records))
        ordered = order_srv(records, self.rng)
        if len(ordered) > 1:
            self._note("order", f"{transport} order: "
                       + ", ".join(f"{r.target}:{r.port}" for r in ordered)
                       + " (priority, then weighted random)", RFC_2782)
        for record in ordered:
            if normalize_name(record.target) == ".":
                self._note("skip", f"SRV {name} target '.': {transport} decidedly not "
                           "available at this domain", RFC_2782)
                continue
            addresses = yield from self._addresses(record.target)
            if not addresses:
                self._note("skip", f"SRV target {record.target} has no address: skipped")
            self._add(transport, normalize_name(record.target), record.port, addresses,
                      f"{why} → SRV {name} {record}")
        return True

    def _fallback(self, host: str, transport: Transport, why: str,
                  port: int | None = None) -> Generator[Query, QueryResult, None]:
        port = port if port is not None else transport.default_port
        addresses = yield from self._addresses(host)
        if not addresses:
            self._note("error", f"no A/AAAA record for {host}: nothing to contact")
        self._add(transport, normalize_name(host), port, addresses, why)

    # -- the procedure ------------------------------------------------------------------

    def _run(self) -> Generator[Query, QueryResult, None]:
        uri = self.uri
        host = uri.maddr or uri.host
        if uri.maddr:
            self._note("input", f"maddr={uri.maddr} replaces the host {uri.host}", "RFC 3263 §4")
        numeric = _is_ip(host)
        port = uri.port
        usable, transport = self._explicit_transport()
        if not usable:
            self._finish()
            return
        if self.forced is None and port is not None and not numeric:
            self._note("input", f"AUTO ignored explicit port {port} in {uri} "
                       "(AUTO always asks DNS)")
            port = None
        if numeric:
            transport = transport or self._default_transport()
            port = port if port is not None else transport.default_port
            self._note("input", f"{host} is a numeric IP address: no DNS lookup; "
                       f"{transport} port {port}", f"{RFC_4_1}, {RFC_4_2}")
            self._add(transport, host, port, [host], "numeric IP in the URI")
        elif port is not None:
            transport = transport or self._default_transport()
            self._note("input", f"explicit port {port}: A/AAAA lookup of {host} only, "
                       f"no NAPTR/SRV; {transport}", RFC_4_2)
            yield from self._fallback(host, transport, f"explicit port {port}", port)
        elif transport:
            name = f"{self.srv_prefixes[transport]}.{host}"
            self._note("input", f"transport {transport} given: SRV {name}, then A/AAAA",
                       f"{RFC_4_1}, {RFC_4_2}")
            found = yield from self._srv(name, transport, f"transport {transport}")
            if not found:
                port = transport.default_port
                self._note("fallback", f"no SRV for {name}: fell back to A {host} → "
                           f"{transport} {port} (default port)", RFC_4_2)
                yield from self._fallback(host, transport, f"no SRV: A {host}")
        else:
            yield from self._auto(host)
        self._finish()

    def _explicit_transport(self) -> tuple[bool, Transport | None]:
        """``(usable, transport)``: the transport fixed by the mode or the URI (None in
        AUTO without one); ``usable`` is False when the combination cannot work (the
        reason is then in the trace)."""
        uri = self.uri
        param = uri.transport
        wanted = None
        if param is not None:
            wanted = _uri_transport(param)
            if wanted and self._secure:
                wanted = _SECURE_FORM.get(wanted, wanted)
        if self.forced is not None:
            if param is not None and wanted != self.forced:
                self._note("input", f"mode {self.forced} overrides transport={param} in the URI")
            if not self._allowed(self.forced):
                self._note("error", f"a sips: URI needs TLS or WSS; mode {self.forced} cannot "
                           "be used", "RFC 3261 §26.2.2")
                return False, None
            return True, self.forced
        if param is None:
            return True, None
        if wanted is None:
            self._note("error", f"transport={param} in the URI is not a transport this "
                       "client knows")
            return False, None
        if not self._allowed(wanted):
            self._note("error", f"a sips: URI cannot use transport={param}", "RFC 3261 §26.2.2")
            return False, None
        if wanted not in self.supported:
            self._note("error", f"the URI asks for transport={param} ({wanted}), which the "
                       f"client does not support ({'/'.join(self.supported)})", RFC_4_1)
            return False, None
        return True, wanted

    def _auto(self, host: str) -> Generator[Query, QueryResult, None]:
        self._note("input", f"AUTO: NAPTR {host} first", RFC_4_1)
        query = Query(host, "NAPTR")
        result = yield query
        usable: list[tuple[NaptrRecord, Transport]] = []
        if isinstance(result, QueryFailed):
            self._note("answer", _describe_failure(query, result))
            if result.reason != "NXDOMAIN":
                self._note("fallback", f"NAPTR lookup failed ({result.reason}): "
                           "treated as no NAPTR")
        else:
            self._trace_aliases(result)
            records = sorted((r for r in result if isinstance(r, NaptrRecord)),
                             key=lambda r: (r.order, r.preference))
            if records:
                plural = "record" if len(records) == 1 else "records"
                self._note("answer", f"{query} → {len(records)} {plural}: " + "; ".join(
                    f"{r.service} order {r.order} pref {r.preference} → {r.replacement}"
                    for r in records))
            else:
                self._note("answer", f"{query} → no records (NODATA)")
            usable = [(r, t) for r in records if (t := self._usable_naptr(r))]
            if records and not usable:
                self._note("fallback", "NAPTR records exist but none is usable by this client")
        if usable:
            any_srv = False
            for record, transport in usable:
                found = yield from self._srv(record.replacement, transport,
                                             f"NAPTR {record.service}")
                any_srv = any_srv or found
            if not any_srv:
                transport = usable[0][1]
                self._note("fallback", f"no SRV behind the NAPTR records: fell back to A "
                           f"{host} → {transport} {transport.default_port} (default port)",
                           RFC_4_2)
                yield from self._fallback(host, transport, f"no SRV: A {host}")
            return
        # RFC 3263 §4.1: "Queries are done using the service identifier "_sip" for SIP
        # URIs and "_sips" for SIPS URIs": a sip: URI reaches TLS or WSS only through a
        # SIPS+ NAPTR record, never through a guessed _sips SRV name.
        candidates = [t for t in self.supported if t.secure == self._secure]
        skipped = [t for t in self.supported if t.secure != self._secure]
        if skipped and not self._secure:
            self._note("skip", "no NAPTR and a sip: URI: " + "/".join(
                self.srv_prefixes[t] for t in skipped) + " not queried (TLS and WSS for a "
                "sip: URI only through a SIPS+ NAPTR record)", RFC_4_1)
        self._note("fallback", "no NAPTR: trying "
                   + "/".join(self.srv_prefixes[t] for t in candidates)
                   + " SRV (client preference order)", RFC_4_1)
        any_srv = False
        for transport in candidates:
            name = f"{self.srv_prefixes[transport]}.{host}"
            found = yield from self._srv(name, transport, f"SRV for {transport}")
            any_srv = any_srv or found
        if not any_srv:
            transport = self._default_transport()
            self._note("fallback", f"no SRV: fell back to A {host} → {transport} "
                       f"{transport.default_port} (RFC 3263 §4.2 default)")
            yield from self._fallback(host, transport, f"no NAPTR/SRV: A {host}")

    def _usable_naptr(self, record: NaptrRecord) -> Transport | None:
        service = record.service.upper()
        label = f"NAPTR {record.service} order {record.order} pref {record.preference}"
        transport = NAPTR_SERVICES.get(service)
        if transport is None:
            self._note("skip", f"skipped {label}: not a SIP transport service")
            return None
        if self._secure and not service.startswith("SIPS+"):
            self._note("skip", f"skipped {label}: a sips: URI needs a SIPS+ service", RFC_4_1)
            return None
        if transport not in self.supported:
            self._note("skip", f"skipped {label}: the client does not support {transport}",
                       RFC_4_1)
            return None
        if record.flags.lower() != "s":
            self._note("skip", f"skipped {label}: flag {record.flags!r} (SIP uses \"s\")",
                       RFC_4_1)
            return None
        if record.regexp:
            self._note("skip", f"skipped {label}: non-empty regexp (SIP uses replacement)",
                       RFC_4_1)
            return None
        if normalize_name(record.replacement) == ".":
            self._note("skip", f"skipped {label}: empty replacement '.'")
            return None
        return transport

    def _finish(self) -> None:
        if self.targets:
            self._note("result", "targets: " + ", ".join(
                f"{i}) {t}" for i, t in enumerate(self.targets, 1)))
        else:
            self._note("result", "no targets: nothing to contact")


def _forced_transport(mode: str) -> Transport | None:
    """The transport a mode forces: None for AUTO, else the transport of that name."""
    if str(mode).lower() == AUTO:
        return None
    try:
        return Transport.parse(str(mode))
    except ValueError:
        raise PlanError(f"mode must be one of AUTO, {', '.join(Transport)}: {mode!r}") from None


def _transports(names: Iterable[str]) -> tuple[Transport, ...]:
    """Transports from their names in any case; PlanError names the unknown ones."""
    names = tuple(str(name) for name in names)
    unknown = [name.upper() for name in names if name.upper() not in Transport.__members__]
    if unknown:
        raise PlanError(f"unknown transport(s) {', '.join(unknown)}; "
                        f"expected some of {', '.join(Transport)}")
    return tuple(Transport(name.upper()) for name in names)


def _uri_transport(param: str) -> Transport | None:
    """The transport a URI's (lower-cased) ``transport=`` parameter names, if it is one."""
    try:
        return Transport.parse(param)
    except ValueError:
        return None


__all__ = [
    "DEFAULT_SUPPORTED", "NAPTR_SERVICES", "SRV_PREFIXES", "PlanError", "QueryResult",
    "Resolution", "ResolutionStep", "Rfc3263Plan", "Target",
]
