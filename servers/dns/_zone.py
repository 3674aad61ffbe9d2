"""Zones given as data (what a scenario's YAML carries), checked, held as dnslib RRs.

    Zone.from_data({
        "origin": "example.com", "ttl": 300,
        "records": [
            {"name": "_sip._udp.example.com", "type": "SRV", "priority": 10, "weight": 60,
             "port": 5060, "target": "sip1.example.com"},
            {"name": "sip1.example.com", "type": "A", "address": "127.0.0.7", "ttl": 60},
        ],
    })

Owner names are full names inside the zone (``@`` is the origin; a trailing dot is
optional). Targets (SRV, CNAME, NS, NAPTR replacement) may be any name; ``.`` is the
root (an SRV target ``.`` means "no such service"). Every mistake raises
:class:`DnsConfigError` naming the path of the field (``records[3].port``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dnslib import AAAA, CNAME, NAPTR, NS, QTYPE, RR, SOA, SRV, TXT, A, DNSLabel

from servers.field_path import ConfigError

RECORD_TYPES = ("NAPTR", "SRV", "A", "AAAA", "CNAME", "SOA", "NS", "TXT")
DEFAULT_TTL = 300
_MAX_TTL = 2**31 - 1
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


class DnsConfigError(ConfigError):
    """Bad zone or fault data (see :class:`servers.field_path.ConfigError`)."""


# -- field checkers: (value, path) -> checked value ----------------------------------------


def _fail(path: Sequence[str | int], expected: str, value: object) -> DnsConfigError:
    return DnsConfigError(path, f"expected {expected}, got {value!r}")


def check_name(value: object, path: Sequence[str | int], *, origin: str | None = None,
               allow_root: bool = False) -> str:
    """A domain name, lower-cased, without the trailing dot (``"."`` for the root)."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, "a domain name", value)
    text = value.strip()
    if text == "@" and origin is not None:
        return origin
    if text == ".":
        if allow_root:
            return "."
        raise DnsConfigError(path, "the root '.' is not allowed here")
    name = text[:-1] if text.endswith(".") else text
    name = name.lower()
    if len(name) > 253:
        raise DnsConfigError(path, f"name longer than 253 characters: {text[:40]}...")
    for label in name.split("."):
        if not label:
            raise DnsConfigError(path, f"empty label in {text!r}")
        if len(label) > 63:
            raise DnsConfigError(path, f"label longer than 63 characters in {text!r}")
        if not set(label) <= _NAME_CHARS:
            raise DnsConfigError(path, f"{text!r} is not a valid name (letters, digits, "
                                 "'-' and '_' only; wildcards are not supported)")
    return name


def _int(low: int, high: int) -> Callable[[object, Sequence[str | int]], int]:
    def check(value: object, path: Sequence[str | int]) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _fail(path, f"an integer {low}..{high}", value)
        return value
    return check


_u16 = _int(0, 65535)
_u32 = _int(0, 2**32 - 1)
_ttl = _int(0, _MAX_TTL)


def _charstring(value: object, path: Sequence[str | int]) -> str:
    if not isinstance(value, str):
        raise _fail(path, "a string", value)
    if len(value.encode()) > 255:
        raise DnsConfigError(path, "longer than 255 bytes")
    return value


def _ipv4(value: object, path: Sequence[str | int]) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except (ValueError, TypeError):
        raise _fail(path, "an IPv4 address", value) from None


def _ipv6(value: object, path: Sequence[str | int]) -> str:
    try:
        return str(ipaddress.IPv6Address(value))
    except (ValueError, TypeError):
        raise _fail(path, "an IPv6 address", value) from None


def _txt(value: object, path: Sequence[str | int]) -> tuple[str, ...]:
    strings = [value] if isinstance(value, str) else value
    if not isinstance(strings, list | tuple) or not strings:
        raise _fail(path, "a string or a list of strings", value)
    return tuple(_charstring(s, [*path, i]) for i, s in enumerate(strings))


_REQUIRED = object()


@dataclass(frozen=True)
class _Field:
    check: Callable[..., Any]
    default: object = _REQUIRED
    is_name: bool = False
    allow_root: bool = False


_FIELDS: dict[str, dict[str, _Field]] = {
    "A": {"address": _Field(_ipv4)},
    "AAAA": {"address": _Field(_ipv6)},
    "CNAME": {"target": _Field(check_name, is_name=True)},
    "NS": {"target": _Field(check_name, is_name=True)},
    "TXT": {"text": _Field(_txt)},
    "SRV": {
        "priority": _Field(_u16), "weight": _Field(_u16), "port": _Field(_u16),
        "target": _Field(check_name, is_name=True, allow_root=True),
    },
    "NAPTR": {
        "order": _Field(_u16), "preference": _Field(_u16), "flags": _Field(_charstring),
        "service": _Field(_charstring), "regexp": _Field(_charstring, ""),
        "replacement": _Field(check_name, ".", is_name=True, allow_root=True),
    },
    "SOA": {
        "mname": _Field(check_name, None, is_name=True),
        "rname": _Field(check_name, None, is_name=True),
        "serial": _Field(_u32, 1), "refresh": _Field(_u32, 3600), "retry": _Field(_u32, 600),
        "expire": _Field(_u32, 86400), "minimum": _Field(_u32, None),
    },
}
_COMMON = ("name", "type", "ttl")


def _rdata(rtype: str, values: dict[str, Any]) -> object:
    if rtype == "A":
        return A(values["address"])
    if rtype == "AAAA":
        return AAAA(values["address"])
    if rtype == "CNAME":
        return CNAME(values["target"])
    if rtype == "NS":
        return NS(values["target"])
    if rtype == "TXT":
        return TXT([s.encode() for s in values["text"]])
    if rtype == "SRV":
        return SRV(values["priority"], values["weight"], values["port"], values["target"])
    if rtype == "NAPTR":
        return NAPTR(values["order"], values["preference"], values["flags"].encode(),
                     values["service"].encode(), values["regexp"].encode(),
                     values["replacement"])
    return SOA(values["mname"], values["rname"],
               (values["serial"], values["refresh"], values["retry"], values["expire"],
                values["minimum"]))


def _record(data: object, path: list[str | int], origin: str, zone_ttl: int
            ) -> tuple[str, str, RR]:
    if not isinstance(data, Mapping):
        raise _fail(path, "a mapping with name, type and the type's fields", data)
    raw_type = data.get("type")
    rtype = raw_type.upper() if isinstance(raw_type, str) else None
    if rtype not in _FIELDS:
        raise DnsConfigError([*path, "type"], f"expected one of {', '.join(RECORD_TYPES)}, "
                             f"got {raw_type!r}")
    fields = _FIELDS[rtype]
    unknown = [k for k in data if k not in fields and k not in _COMMON]
    if unknown:
        raise DnsConfigError([*path, str(unknown[0])],
                             f"unknown field for a {rtype} record; expected "
                             f"{', '.join([*_COMMON, *fields])}")
    if "name" not in data:
        raise DnsConfigError([*path, "name"], "missing")
    name = check_name(data["name"], [*path, "name"], origin=origin)
    if name != origin and not name.endswith("." + origin):
        raise DnsConfigError([*path, "name"], f"{data['name']!r} is not inside zone {origin} "
                             f"(write the full name, or @ for the origin)")
    ttl = _ttl(data["ttl"], [*path, "ttl"]) if "ttl" in data else zone_ttl
    values: dict[str, Any] = {}
    for key, spec in fields.items():
        if key not in data:
            if spec.default is _REQUIRED:
                needed = ", ".join(k for k, f in fields.items() if f.default is _REQUIRED)
                raise DnsConfigError([*path, key], f"missing (a {rtype} record needs {needed})")
            values[key] = spec.default
        elif spec.is_name:
            values[key] = check_name(data[key], [*path, key], origin=origin,
                                     allow_root=spec.allow_root)
        else:
            values[key] = spec.check(data[key], [*path, key])
    if rtype == "SOA":
        if name != origin:
            raise DnsConfigError([*path, "name"], f"a SOA record belongs at the origin {origin}")
        values["mname"] = values["mname"] or f"ns.{origin}"
        values["rname"] = values["rname"] or f"hostmaster.{origin}"
        values["minimum"] = zone_ttl if values["minimum"] is None else values["minimum"]
    return name, rtype, RR(name, getattr(QTYPE, rtype), ttl=ttl, rdata=_rdata(rtype, values))


class Zone:
    """One authoritative zone: its origin, records by (name, type), its SOA.

    Build it from data with :meth:`from_data` (or the constructor with the same pieces).
    A SOA is synthesized when none is given (``ns.ORIGIN``, ``hostmaster.ORIGIN``, serial
    1, minimum = the zone TTL), so negative answers always carry one.
    """

    def __init__(self, origin: str, records: Sequence[Mapping[str, Any]] = (),
                 ttl: int = DEFAULT_TTL) -> None:
        self.origin = check_name(origin, ["origin"])
        self.ttl = _ttl(ttl, ["ttl"])
        if not isinstance(records, list | tuple):
            raise _fail(["records"], "a list of records", records)
        self._rrsets: dict[tuple[str, str], list[RR]] = {}
        for index, data in enumerate(records):
            path: list[str | int] = ["records", index]
            name, rtype, rr = _record(data, path, self.origin, self.ttl)
            types = {t for (n, t) in self._rrsets if n == name}
            if rtype == "CNAME" and types:
                raise DnsConfigError(path, f"{name} already has {'/'.join(sorted(types))} "
                                     "records; a CNAME cannot coexist with other data "
                                     "(RFC 1034 §3.6.2)")
            if rtype != "CNAME" and "CNAME" in types:
                raise DnsConfigError(path, f"{name} is a CNAME; it cannot also have a "
                                     f"{rtype} record (RFC 1034 §3.6.2)")
            if rtype == "SOA" and types & {"SOA"}:
                raise DnsConfigError(path, "a zone has one SOA record")
            rrset = self._rrsets.setdefault((name, rtype), [])
            if any(other.rdata.toZone() == rr.rdata.toZone() for other in rrset):
                raise DnsConfigError(path, f"duplicate {rtype} record for {name}")
            rrset.append(rr)
        if (self.origin, "SOA") not in self._rrsets:
            soa = SOA(f"ns.{self.origin}", f"hostmaster.{self.origin}",
                      (1, 3600, 600, 86400, self.ttl))
            self._rrsets[(self.origin, "SOA")] = [RR(self.origin, QTYPE.SOA, ttl=self.ttl,
                                                     rdata=soa)]
        self._names = set()
        for name, _ in self._rrsets:
            # Every name and its ancestors inside the zone exist (empty non-terminals
            # answer NODATA, not NXDOMAIN: RFC 8020).
            while True:
                self._names.add(name)
                if name == self.origin or "." not in name:
                    break
                name = name.split(".", 1)[1]

    @classmethod
    def from_data(cls, data: object) -> Zone:
        """``{"origin": ..., "ttl": 300, "records": [...]}`` → :class:`Zone`."""
        if isinstance(data, Zone):
            return data
        if not isinstance(data, Mapping):
            raise _fail([], "a zone mapping with origin, ttl and records", data)
        unknown = [k for k in data if k not in ("origin", "ttl", "records")]
        if unknown:
            raise DnsConfigError([str(unknown[0])], "unknown zone field; expected origin, "
                                 "ttl, records")
        if "origin" not in data:
            raise DnsConfigError(["origin"], "missing")
        return cls(data["origin"], data.get("records", ()), data.get("ttl", DEFAULT_TTL))

    @property
    def soa(self) -> RR:
        return self._rrsets[(self.origin, "SOA")][0]

    def contains(self, name: str) -> bool:
        return name == self.origin or name.endswith("." + self.origin)

    def exists(self, name: str) -> bool:
        return name in self._names

    def lookup(self, name: str, rtype: str) -> list[RR]:
        return list(self._rrsets.get((name, rtype), ()))

    def lookup_all(self, name: str) -> list[RR]:
        return [rr for (n, _), rrs in self._rrsets.items() if n == name for rr in rrs]

    @property
    def records(self) -> list[RR]:
        return [rr for rrs in self._rrsets.values() for rr in rrs]

    def __repr__(self) -> str:
        return f"<Zone {self.origin}: {len(self.records)} records>"


def normalize_qname(label: DNSLabel | str) -> str:
    text = str(label).rstrip(".").lower()
    return text or "."
