"""Fault specifications: plain data (what a scenario's YAML carries) checked into values.

The schema of each kind is data too (:data:`FAULT_SCHEMA`, JSON-Schema-ish) and the
checker reads it, so what the scenario schema documents is what is enforced. Every
mistake raises :class:`FaultConfigError` naming the path of the field
(``faults[2].fraction``), in the style of :class:`servers.dns.DnsConfigError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from servers.field_path import ConfigError
from testbed.sip import DurationError, Transport, parse_duration

FAULT_KINDS = ("firewall", "not-listening", "mtu", "loss", "latency", "nat", "relay")
DIRECTIONS = ("to-server", "to-client", "both")
#: The carriers a fault acts on, as fault files spell them (TLS, WS and WSS ride on TCP).
_CARRIERS = (Transport.UDP, Transport.TCP)
#: Kinds that act on the port itself (the kernel answers); they cannot share a port.
PORT_LEVEL = ("not-listening",)
#: Keys a scenario uses to place a fault (which registrar, which of its listeners);
#: they are the scenario's business and are ignored here.
PLACEMENT_KEYS = ("registrar", "transport")

Schema = dict[str, Any]
"""A JSON-Schema-ish mapping (``type``, ``enum``, ``properties``...)."""


class FaultConfigError(ConfigError):
    """Bad fault data (see :class:`servers.field_path.ConfigError`)."""


# -- the schema -------------------------------------------------------------------------

_SPELLINGS = [carrier.spelling for carrier in _CARRIERS]
_COMMON: Schema = {
    "kind": {"type": "string", "enum": list(FAULT_KINDS)},
    "name": {"type": "string", "description": "how logs and reports name this fault "
                                              "(default: the kind)"},
    "transports": {"type": "array", "items": {"type": "string", "enum": _SPELLINGS},
                   "minItems": 1, "description": "which of the proxied transports it "
                   "acts on; tcp covers TLS, WS and WSS, which ride on TCP"},
}
_DIRECTION: Schema = {"type": "string", "enum": list(DIRECTIONS), "default": "both",
                      "description": "to-server: client to server; to-client: server to "
                                     "client"}
_SEED: Schema = {"type": "integer", "description": "seed of this fault's random choices "
                                                   "(default: drawn from the scenario's seed)"}
_SECONDS: Schema = {"type": ["number", "string"], "format": "duration",
                    "description": "seconds, as a number or a string like '300ms' or '1.5s'"}


def _kind(description: str, properties: Schema, required: tuple[str, ...] = (), *,
          transports: tuple[str, ...] = tuple(_SPELLINGS)) -> Schema:
    props = {**_COMMON, **properties}
    props["transports"] = {**_COMMON["transports"], "default": list(transports),
                           "items": {"type": "string", "enum": list(transports)}}
    return {"type": "object", "description": description, "additionalProperties": False,
            "required": ["kind", *required], "properties": props}


FAULT_SCHEMA: dict[str, Schema] = {
    "firewall": _kind(
        "A firewall between client and server. drop: packets vanish (UDP: the client "
        "retransmits until Timer F/B; TCP: SYNs go unanswered, the connect times out). "
        "reject: UDP gets ICMP port unreachable, TCP a RST (connection refused).",
        {"action": {"type": "string", "enum": ["drop", "reject"],
                    "description": "drop: say nothing (the client times out); reject: "
                                   "ICMP port unreachable (UDP) or RST (TCP), \"refused\""},
         "direction": {**_DIRECTION, "description": _DIRECTION["description"]
                       + "; reject and TCP drop act on the port, in both directions"}},
        ("action",)),
    "not-listening": _kind(
        "Nothing listens on the port: UDP gets ICMP port unreachable, TCP a RST.", {}),
    "mtu": _kind(
        "A path MTU black hole: UDP datagrams whose IP packet would exceed mtu bytes "
        "(UDP payload + 8 bytes UDP header + 20 bytes IPv4 or 40 bytes IPv6 header) "
        "vanish silently, as when fragments are filtered.",
        {"mtu": {"type": "integer", "minimum": 68, "maximum": 65535, "default": 1500,
                 "description": "the largest IP packet the path carries, in bytes: 1500 "
                                "passes at most 1472 bytes of SIP over IPv4"},
         "direction": _DIRECTION},
        transports=("udp",)),
    "loss": _kind(
        "Packet loss: a seeded fraction of UDP datagrams, or the datagrams numbered in "
        "drop (1 = the first datagram in that direction), vanish.",
        {"fraction": {"type": "number", "minimum": 0, "maximum": 1,
                      "description": "the share of datagrams lost in each direction (0..1), "
                                     "drawn from the seed; give fraction or drop"},
         "drop": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1,
                  "description": "the numbers of the datagrams lost, counted per direction "
                                 "from 1 (e.g. [1, 3]); give fraction or drop"},
         "direction": _DIRECTION, "seed": _SEED},
        transports=("udp",)),
    "latency": _kind(
        "Latency and jitter: every packet (UDP datagram, TCP chunk) is held for delay "
        "plus a seeded uniform draw in [-jitter, +jitter]; TCP keeps its order.",
        {"delay": {**_SECONDS, "minimum": 0,
                   "description": "how long each packet is held (e.g. 80ms)"},
         "jitter": {**_SECONDS, "minimum": 0, "default": 0,
                    "description": "a seeded uniform draw in [-jitter, +jitter] added to the "
                                   "delay; at most delay"},
         "direction": _DIRECTION, "seed": _SEED},
        ("delay",)),
    "nat": _kind(
        "A NAT: each client address gets an external port on the proxy; the binding "
        "expires after timeout seconds without outbound traffic (refresh: both also "
        "counts inbound). Then inbound packets to the old port are dropped and the next "
        "outbound packet gets a new port (UDP); a TCP connection is blackholed.",
        {"timeout": {**_SECONDS, "exclusiveMinimum": 0,
                     "description": "how long a binding lives without the traffic that "
                                    "refreshes it (e.g. 30s)"},
         "refresh": {"type": "string", "enum": ["outbound", "both"], "default": "outbound",
                     "description": "outbound: only the client's packets (keep-alives "
                                    "included) keep the binding; both: the server's too, as "
                                    "some NATs do for TCP"}},
        ("timeout",)),
    "relay": _kind(
        "No fault: the proxy only forwards (a clean hop, e.g. for the other listeners of a "
        "registrar whose address a fault has taken).", {}),
}


# -- values -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One checked fault. Fields a kind does not take keep their defaults.

    ``transports`` are the carriers it acts on (:class:`~testbed.sip.Transport` UDP or
    TCP), read from the lower-case spelling of fault files.
    """

    kind: str
    name: str
    transports: tuple[Transport, ...]
    direction: str = "both"
    action: str = ""
    mtu: int = 1500
    fraction: float | None = None
    drop: tuple[int, ...] = ()
    delay: float = 0.0
    jitter: float = 0.0
    timeout: float = 0.0
    refresh: str = "outbound"
    seed: int | None = None
    path: tuple[str | int, ...] = ()

    def directions(self) -> tuple[str, ...]:
        return ("to-server", "to-client") if self.direction == "both" else (self.direction,)

    @property
    def port_level(self) -> bool:
        """Acts on the port (the kernel answers) rather than packet by packet."""
        return self.kind in PORT_LEVEL or (self.kind == "firewall" and self.action == "reject")

    def port_level_on(self, carrier: Transport) -> bool:
        """Port-level on this carrier: TCP drop is SYNs left unanswered by the kernel."""
        return self.port_level or (self.kind == "firewall" and carrier is Transport.TCP)


def parse_fault(data: object, path: Sequence[str | int] = ("fault",)) -> FaultSpec:
    """One fault mapping → a :class:`FaultSpec`, or :class:`FaultConfigError`."""
    path = tuple(path)
    if not isinstance(data, Mapping):
        raise _expected(path, "a mapping with a kind", data)
    if "kind" not in data:
        raise FaultConfigError([*path, "kind"], "missing; expected one of "
                               + ", ".join(FAULT_KINDS))
    kind = data["kind"]
    if not isinstance(kind, str) or kind not in FAULT_KINDS:
        raise FaultConfigError([*path, "kind"], f"expected one of {', '.join(FAULT_KINDS)}, "
                               f"got {kind!r}")
    schema = FAULT_SCHEMA[kind]
    properties = schema["properties"]
    for key in data:
        if key in PLACEMENT_KEYS:
            continue
        if key not in properties:
            raise FaultConfigError([*path, str(key)], f"unknown field for {kind}; expected "
                                   + ", ".join(properties))
    for key in schema["required"]:
        if key not in data:
            raise FaultConfigError([*path, key], f"missing (required for {kind})")
    values = {key: _check(data[key], properties[key], [*path, key]) for key in data
              if key != "kind" and key not in PLACEMENT_KEYS}
    spec = FaultSpec(
        kind=kind,
        name=values.get("name", kind),
        transports=tuple(dict.fromkeys(
            Transport.parse(spelling)
            for spelling in values.get("transports", properties["transports"]["default"]))),
        direction=values.get("direction", "both"),
        action=values.get("action", ""),
        mtu=values.get("mtu", 1500),
        fraction=values.get("fraction"),
        drop=tuple(sorted(set(values.get("drop", ())))),
        delay=values.get("delay", 0.0),
        jitter=values.get("jitter", 0.0),
        timeout=values.get("timeout", 0.0),
        refresh=values.get("refresh", "outbound"),
        seed=values.get("seed"),
        path=path,
    )
    _cross_checks(spec, path)
    return spec


def validate_fault(data: object, path: Sequence[str | int] = ()) -> tuple[FaultSpec, ...]:
    """Check one fault mapping (or a list composed on one proxy) without opening anything.

    Errors name the field relative to ``path`` (``("fraction",)`` by default), for the
    caller to prefix with where the fault sits in its file.
    """
    return parse_faults(data, path)


def parse_faults(data: object, path: Sequence[str | int] = ("faults",)) -> tuple[FaultSpec, ...]:
    """A fault mapping, a list of them (composed, in order), or specs → a tuple of specs."""
    path = tuple(path)
    if isinstance(data, FaultSpec):
        return (data,)
    if isinstance(data, Mapping):
        return (parse_fault(data, path),)
    if not isinstance(data, Sequence) or isinstance(data, str | bytes) or not data:
        raise _expected(path, "a fault mapping or a non-empty list of them", data)
    return tuple(item if isinstance(item, FaultSpec) else parse_fault(item, (*path, index))
                 for index, item in enumerate(data))


# -- checking against the schema ----------------------------------------------------------


def _expected(path: Sequence[str | int], what: str, value: object) -> FaultConfigError:
    return FaultConfigError(path, f"expected {what}, got {value!r}")


def _duration(value: object, path: Sequence[str | int]) -> float:
    """Seconds (:func:`testbed.sip.parse_duration`), or the error naming the field."""
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise FaultConfigError(path, str(exc)) from None


def _check(value: object, rule: Schema, path: list[str | int]) -> Any:
    """``value`` checked against ``rule`` (and normalised): of the rule's type, so the
    caller may take it as such."""
    types = rule["type"] if isinstance(rule["type"], list) else [rule["type"]]
    result: Any
    if rule.get("format") == "duration":
        result = _duration(value, path)
    elif types == ["string"]:
        if not isinstance(value, str) or (value.strip() == ""):
            raise _expected(path, "a non-empty string", value)
        result = value.strip()
        if "enum" in rule:
            result = str(result).lower()
            if result not in rule["enum"]:
                raise _expected(path, "one of " + ", ".join(rule["enum"]), value)
    elif types == ["integer"]:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _expected(path, "an integer", value)
        result = value
    elif types == ["number"]:
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise _expected(path, "a number", value)
        result = float(value)
    elif types == ["array"]:
        if not isinstance(value, Sequence) or isinstance(value, str | bytes):
            raise _expected(path, "a list", value)
        if len(value) < rule.get("minItems", 0):
            raise _expected(path, f"a list of at least {rule['minItems']} item(s)", value)
        return [_check(item, rule["items"], [*path, i]) for i, item in enumerate(value)]
    else:  # pragma: no cover - the schema above uses only the types handled here
        raise AssertionError(f"schema type {types}")
    if isinstance(result, int | float) and not isinstance(result, bool):
        if "minimum" in rule and result < rule["minimum"]:
            raise _expected(path, f"a value of at least {rule['minimum']}", value)
        if "maximum" in rule and result > rule["maximum"]:
            raise _expected(path, f"a value of at most {rule['maximum']}", value)
        if "exclusiveMinimum" in rule and result <= rule["exclusiveMinimum"]:
            raise _expected(path, f"a value above {rule['exclusiveMinimum']}", value)
    return result


def _cross_checks(spec: FaultSpec, path: tuple[str | int, ...]) -> None:
    if spec.kind == "loss":
        if (spec.fraction is None) == (not spec.drop):
            raise FaultConfigError([*path, "fraction"], "give either fraction (a share of "
                                   "datagrams) or drop (their numbers), exactly one")
    if spec.kind == "latency" and spec.jitter > spec.delay:
        raise FaultConfigError([*path, "jitter"], f"jitter ({spec.jitter:g} s) must not "
                               f"exceed delay ({spec.delay:g} s): a packet cannot leave "
                               "before it arrived")
    if spec.kind == "firewall" and spec.action == "reject" and spec.direction == "to-client":
        raise FaultConfigError([*path, "direction"], "reject answers the client's packets "
                               "(ICMP port unreachable, TCP RST): it can only act "
                               "to-server; use drop for the server's packets")
