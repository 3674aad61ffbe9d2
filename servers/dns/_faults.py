"""DNS faults configured as data, per name and optionally per type.

    faults = parse_faults([
        {"name": "example.com", "type": "NAPTR", "fault": "timeout"},
        {"name": "_sip._udp.example.com", "fault": "servfail"},
        {"name": "*.example.com", "fault": "delay", "seconds": 1.5},
        {"name": "sip1.example.com", "fault": "refused", "times": 1},
    ])

``fault`` is ``servfail`` or ``refused`` (that rcode), ``timeout`` (never answer) or
``delay`` (answer normally after ``seconds``). ``name`` matches exactly (any case, the
trailing dot optional) or, written ``*.suffix``, any name below ``suffix``. ``type``
limits it to one query type; ``times`` to the first N matching queries. The first
matching fault applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ._zone import DnsConfigError, _fail, check_name

FAULT_KINDS = ("servfail", "refused", "timeout", "delay")
_QUERY_TYPES = ("NAPTR", "SRV", "A", "AAAA", "CNAME", "SOA", "NS", "TXT", "ANY")


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault rule; ``label`` is how logs and reports name it."""

    name: str
    kind: str
    type: str | None = None
    seconds: float = 0.0
    times: int | None = None

    def matches(self, qname: str, qtype: str) -> bool:
        if self.type is not None and self.type != qtype:
            return False
        if self.name.startswith("*."):
            return qname.endswith(self.name[1:])
        return qname == self.name

    @property
    def label(self) -> str:
        return f"delay {self.seconds:g}s" if self.kind == "delay" else self.kind


def parse_fault(data: object, index: int) -> Fault:
    path: list[str | int] = ["faults", index]
    if not isinstance(data, Mapping):
        raise _fail(path, "a mapping with name and fault", data)
    allowed = ("name", "type", "fault", "seconds", "times")
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise DnsConfigError([*path, str(unknown[0])], "unknown field; expected "
                             + ", ".join(allowed))
    for key in ("name", "fault"):
        if key not in data:
            raise DnsConfigError([*path, key], "missing")
    raw_name = data["name"]
    if isinstance(raw_name, str) and raw_name.strip().startswith("*."):
        name = "*." + check_name(raw_name.strip()[2:], [*path, "name"])
    else:
        name = check_name(raw_name, [*path, "name"])
    kind = data["fault"]
    if not isinstance(kind, str) or kind.lower() not in FAULT_KINDS:
        raise DnsConfigError([*path, "fault"], f"expected one of {', '.join(FAULT_KINDS)}, "
                             f"got {kind!r}")
    kind = kind.lower()
    rtype = data.get("type")
    if rtype is not None:
        if not isinstance(rtype, str) or rtype.upper() not in _QUERY_TYPES:
            raise DnsConfigError([*path, "type"], f"expected one of {', '.join(_QUERY_TYPES)}, "
                                 f"got {rtype!r}")
        rtype = rtype.upper()
    seconds = data.get("seconds", 0.0)
    if kind == "delay":
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise DnsConfigError([*path, "seconds"], f"a delay needs seconds > 0, got "
                                 f"{seconds!r}")
    elif "seconds" in data:
        raise DnsConfigError([*path, "seconds"], f"only a delay takes seconds, not {kind}")
    times = data.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int)
                              or times < 1):
        raise _fail([*path, "times"], "an integer >= 1", times)
    return Fault(name, kind, rtype, float(seconds), times)


def parse_faults(data: object) -> tuple[Fault, ...]:
    """A list of fault mappings (or :class:`Fault` values) → a tuple of faults."""
    if data is None:
        return ()
    if not isinstance(data, Sequence) or isinstance(data, str | bytes):
        raise _fail(["faults"], "a list of faults", data)
    return tuple(item if isinstance(item, Fault) else parse_fault(item, index)
                 for index, item in enumerate(data))


class FaultTable:
    """The faults in force, with the per-fault counts that ``times`` needs."""

    def __init__(self, faults: object = ()) -> None:
        self.faults = parse_faults(faults)
        self._used = [0] * len(self.faults)

    def match(self, qname: str, qtype: str) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if not fault.matches(qname, qtype):
                continue
            if fault.times is not None and self._used[index] >= fault.times:
                continue
            self._used[index] += 1
            return fault
        return None
