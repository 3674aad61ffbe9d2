"""Validating a scenario: the schema, references between sections, the servers' checks.

:func:`validate` is what the loader runs on every file. Zones, DNS faults and fault
proxies are checked by the servers' own validators, on the data exactly as the world
will hand it to them: durations in seconds, ``${name}`` replaced by an address
(:func:`substitute`) and each fault placed as :mod:`servers.faults` takes it
(:func:`fault_spec`). The world uses the same functions with the real addresses, so
what validates is what runs.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from servers.dns import DnsConfigError, Zone, parse_faults
from servers.faults import FaultConfigError, validate_fault
from testbed.client import PLACEHOLDERS, PROGRAM_KINDS
from testbed.sip import RemoteProtocolError, SipUri, parse_uri
from testbed.transport import TlsConfigError, TrustConfig

from ._durations import ANY, PathPattern, find, get, in_seconds, put
from ._external import (
    DNS_PORT,
    EXTERNAL_ONLY_KEYS,
    EXTERNAL_TRANSPORTS,
    MOCK_ONLY_KEYS,
    ca_path,
    parse_address,
    parse_hostport,
)
from ._messages import schema_errors, suggest
from ._schema import DURATION_PATHS, PLACEHOLDER
from ._yaml import FieldPath, LocatedData, ScenarioError

PLACEHOLDER_ADDRESS = "127.0.0.1"
"""What ``${name}`` stands for while validating, before the world has addresses."""

SUBSTITUTED: tuple[PathPattern, ...] = (
    ("dns",), ("client", "registrar"), ("client", "aor"), ("steps", ANY, "call", "to"))
"""Where ``${name}`` placeholders are replaced (anywhere below these paths)."""

_FREE_TEXT = ("name", "description", "proves")
_CASE: tuple[tuple[PathPattern, Callable[[str], str]], ...] = (
    (("dns", "zones", ANY, "records", ANY, "type"), str.upper),
    (("dns", "faults", ANY, "type"), str.upper),
    (("dns", "faults", ANY, "fault"), str.lower),
    (("faults", ANY, "action"), str.lower),
    (("faults", ANY, "direction"), str.lower),
    (("faults", ANY, "refresh"), str.lower),
)
"""Values the servers have always read in any case: written as the schema spells them."""

T = TypeVar("T")


def substitute(value: T, addresses: dict[str, str]) -> T:
    """Replace ``${name}`` by the address of registrar ``name``, recursively."""
    result: Any = value
    if isinstance(value, str):
        for name, address in addresses.items():
            result = result.replace("${" + name + "}", address)
    elif isinstance(value, list):
        result = [substitute(v, addresses) for v in value]
    elif isinstance(value, dict):
        result = {k: substitute(v, addresses) for k, v in value.items()}
    return cast(T, result)


def fault_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A scenario fault as :mod:`servers.faults` takes it.

    ``transport: udp`` limits the carriers it acts on to UDP, any other transport to TCP.
    """
    spec = dict(spec)
    transport = spec.get("transport")
    if transport is not None and "transports" not in spec:
        spec["transports"] = ["udp"] if transport == "udp" else ["tcp"]
    return spec


def normalise_case(data: object) -> None:
    """Spell case-insensitive values (``type: srv``, ``action: DROP``) as the schema does."""
    for pattern, spelling in _CASE:
        for path in list(find(data, pattern)):
            value = get(data, path)
            if isinstance(value, str):
                put(data, path, spelling(value))


def validate(located: LocatedData) -> list[ScenarioError]:
    """Every problem of a parsed scenario document (empty when it is valid).

    Schema violations come first, then broken references and placeholders, in file
    order; only a document that passes both is handed to the servers' validators.
    """
    errors = schema_errors(located)
    if errors:
        return errors
    errors = _reference_errors(located) + _placeholder_errors(located)
    errors.sort(key=lambda e: e.line or 0)
    if errors:
        return errors
    return _server_errors(located)


def _reference_errors(located: LocatedData) -> list[ScenarioError]:
    """What JSON Schema cannot say: references between sections."""
    data = located.data
    assert isinstance(data, dict)
    errors = []
    names = [r["name"] for r in data["registrars"]]
    external = {r["name"] for r in data["registrars"] if "external" in r}
    for i, name in enumerate(names):
        if names.index(name) != i:
            errors.append(located.error(("registrars", i, "name"), f"duplicate registrar {name!r}"))
        errors += [located.error(("registrars", i, *path), message)
                   for path, message in _kind_problems(data["registrars"][i])]
    for i, fault in enumerate(data.get("faults", [])):
        target = fault.get("registrar", names[0])
        if target not in names:
            errors.append(located.error(("faults", i, "registrar"), _no_registrar(target, names)))
        else:
            problem = _placement_problem(fault, data["registrars"][names.index(target)])
            if problem:
                errors.append(located.error(("faults", i, *problem[0]), problem[1]))
    mocks = [name for name in names if name not in external]
    for i, step in enumerate(data["steps"]):
        if not isinstance(step, dict):
            continue
        load = step.get("load") or {}
        if load.get("workers", 1) > load.get("endpoints", 1) and "cluster" not in load:
            errors.append(located.error(("steps", i, "load", "workers"),
                                        f"{load['workers']} workers for {load['endpoints']} "
                                        "endpoints: give each worker at least one endpoint"))
        for kind, key in (("load", "registrar"), ("inbound", "from")):
            if kind not in step:
                continue
            given = (step[kind] or {}).get(key)
            if given is not None and given not in names:
                errors.append(located.error(("steps", i, kind, key),
                                            _no_registrar(given, names)))
                continue
            # load gives its accounts to a mock registrar (default: the first mock);
            # inbound has one send (default: the first registrar): only a mock can.
            target = given or (mocks[0] if kind == "load" and mocks else names[0])
            if target in external:
                where = ("steps", i, kind, key) if given else ("steps", i, kind)
                errors.append(located.error(where, _needs_mock(kind, target, mocks)))
    dns = data.get("dns") or {}
    if "server" in dns and "zones" in dns:
        errors.append(located.error(("dns", "server"), "give zones (a mock DNS server) or "
                                    "server (a real one), not both"))
    program = "kind" in data["client"] or "command" in data["client"]
    if data["client"]["transport"] == "auto" and not dns and not program:
        errors.append(located.error(("client", "transport"),
                                    "auto needs a dns section (RFC 3263 resolves through DNS)"))
    return errors + _program_errors(located, names, external)


BUILT_IN_ONLY_KEYS = ("aor", "trust", "server_name", "ws_path", "keepalive",
                      "udp_large_message", "path_mtu", "answer")
"""Client settings of the built-in user agent; a program is configured by its own files."""
PROGRAM_STEPS = ("await_register", "call_client")
BOTH_STEPS = ("wait",)


def _program_errors(located: LocatedData, names: list[str], external: set[str]
                    ) -> list[ScenarioError]:
    """A client program (``kind`` or ``command``) takes its own keys and steps only."""
    data = located.data
    assert isinstance(data, dict)
    client = data["client"]
    program = "kind" in client or "command" in client
    errors = []
    if "kind" in client and "command" in client:
        errors.append(located.error(("client", "command"), "give kind (a shipped template) "
                                    "or command (any program), not both"))
    if program:
        errors += [located.error(("client", key), f"{key} configures the built-in client; a "
                                 "client program is configured by its own files: remove it")
                   for key in BUILT_IN_ONLY_KEYS if key in client]
    kind = client.get("kind")
    if kind in PROGRAM_KINDS and client["transport"] not in PROGRAM_KINDS[kind].transports:
        errors.append(located.error(("client", "transport"), f"the {kind} template supports "
                                    f"{', '.join(PROGRAM_KINDS[kind].transports)}"))
    for i, part in enumerate(client.get("command", [])):
        try:
            used = [name for _, name, _, _ in string.Formatter().parse(part) if name]
        except ValueError as exc:
            errors.append(located.error(("client", "command", i), f"{exc} (write {{{{ and "
                                        "}} for literal braces)"))
            continue
        for name in used:
            if name not in PLACEHOLDERS:
                guess = suggest(name, list(PLACEHOLDERS))
                hint = f"did you mean {{{guess}}}? " if guess else ""
                errors.append(located.error(("client", "command", i), f"unknown placeholder "
                                            f"{{{name}}}; {hint}available: "
                                            + ", ".join("{" + p + "}" for p in PLACEHOLDERS)))
    for i, step in enumerate(data["steps"]):
        kind_of = step if isinstance(step, str) else next(iter(step))
        if program and kind_of not in PROGRAM_STEPS + BOTH_STEPS:
            errors.append(located.error(("steps", i), f"{kind_of} drives the built-in "
                                        "client; a client program is judged with "
                                        + ", ".join(PROGRAM_STEPS + BOTH_STEPS)))
        elif not program and kind_of in PROGRAM_STEPS:
            errors.append(located.error(("steps", i), f"{kind_of} judges a client program; "
                                        "give client.kind or client.command"))
        elif kind_of == "call_client" and isinstance(step, dict):
            given = (step[kind_of] or {}).get("from")
            if given is not None and given not in names:
                errors.append(located.error(("steps", i, kind_of, "from"),
                                            _no_registrar(given, names)))
            elif given in external:
                errors.append(located.error(("steps", i, kind_of, "from"),
                                            _needs_mock(kind_of, given, [
                                                n for n in names if n not in external])))
    return errors


def _kind_problems(registrar: dict[str, Any]) -> list[tuple[FieldPath, str]]:
    """A registrar is a mock (``listen``) or external, and takes only that kind's keys."""
    name = registrar["name"]
    if "external" in registrar and "listen" in registrar:
        return [(("external",), f"registrar {name} both listens (a mock) and is external; "
                                "give one of listen and external")]
    if "external" in registrar:
        return [((key,), f"{key} configures a mock registrar; {name} is external (it has "
                         "its own settings): remove it") for key in MOCK_ONLY_KEYS
                if key in registrar]
    return [((key,), f"{key} is for an external registrar; {name} is a mock (the world's "
                     "CA signs its certificate, for its domain)")
            for key in EXTERNAL_ONLY_KEYS if key != "external" and key in registrar]


def _needs_mock(kind: str, name: str, mocks: list[str]) -> str:
    what = ("gives its accounts to a mock registrar" if kind == "load"
            else "is sent by a mock registrar")
    others = f" (mock: {', '.join(mocks)})" if mocks else " (this scenario has none)"
    return f"{kind} {what}; {name} is external, the testbed cannot drive it{others}"


def _no_registrar(name: str, names: list[str]) -> str:
    guess = suggest(name, names)
    hint = f"did you mean {guess}? " if guess else ""
    return f"no registrar named {name!r} ({hint}have: {', '.join(names)})"


def _placement_problem(fault: dict[str, Any], registrar: dict[str, Any]
                       ) -> tuple[FieldPath, str] | None:
    """A fault placed on a transport its registrar does not listen on (it would do nothing).

    A fault on no transport is a property of the path: one that does not touch the
    registrar's transports (an mtu fault before a TLS listener) is a scenario's point.
    """
    listens = ([key for key in EXTERNAL_TRANSPORTS if key in registrar["external"]]
               if "external" in registrar
               else [listener["transport"] for listener in registrar["listen"]])
    wanted = fault.get("transport")
    if wanted is not None and wanted not in listens:
        what, has = (("address", "it has") if "external" in registrar
                     else ("listener", "it listens on"))
        return ("transport",), (f"registrar {registrar['name']} has no {wanted} {what} "
                                f"({has} {', '.join(listens)})")
    return None


def _strings(value: object, path: FieldPath = ()) -> Iterator[tuple[FieldPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))


def _substituted(path: FieldPath) -> bool:
    def matches(pattern: PathPattern) -> bool:
        return len(path) >= len(pattern) and all(
            (want == ANY and isinstance(part, int)) or want == part
            for want, part in zip(pattern, path, strict=False))
    return any(matches(pattern) for pattern in SUBSTITUTED)


def _placeholder_errors(located: LocatedData) -> list[ScenarioError]:
    """``${name}`` must name a registrar, in a place where placeholders are replaced."""
    data = located.data
    assert isinstance(data, dict)
    names = [r["name"] for r in data["registrars"]]
    available = ", ".join("${" + n + "}" for n in names)
    errors = []
    for path, text in _strings(data):
        if path[-1] in _FREE_TEXT and len(path) == 1:
            continue
        for match in re.finditer(PLACEHOLDER, text):
            if not _substituted(path):
                errors.append(located.error(path, f"{match.group(0)} is replaced only in "
                                            "dns, client.registrar, client.aor and call.to"))
            elif match.group(1) not in names:
                guess = suggest(match.group(1), names)
                hint = f"did you mean ${{{guess}}}? " if guess else ""
                errors.append(located.error(path, f"unknown placeholder {match.group(0)}; "
                                            f"{hint}available: {available}"))
    return errors


def _server_errors(located: LocatedData) -> list[ScenarioError]:
    """The checks of the servers' own validators: DNS zones and faults, client URIs."""
    assert isinstance(located.data, dict)
    data, _ = in_seconds(located.data, DURATION_PATHS)
    errors: list[ScenarioError] = []
    placeholders = {r["name"]: PLACEHOLDER_ADDRESS for r in data["registrars"]}
    dns = data.get("dns", {})
    for i, zone in enumerate(dns.get("zones", [])):
        try:
            Zone.from_data(substitute(zone, placeholders))
        except DnsConfigError as exc:
            errors.append(located.error(("dns", "zones", i, *exc.path), exc.message))
    try:
        parse_faults(substitute(dns.get("faults", []), placeholders))
    except DnsConfigError as exc:  # its path starts at "faults"
        errors.append(located.error(("dns", *exc.path), exc.message))
    client = data["client"]
    for key in ("registrar", "aor"):
        if key in client:
            try:
                uri = parse_uri(substitute(str(client[key]), placeholders))
                if not isinstance(uri, SipUri):
                    raise RemoteProtocolError("not a SIP URI")
            except RemoteProtocolError as exc:
                errors.append(located.error(("client", key), f"invalid SIP URI: {exc.reason}"))
    for i, fault in enumerate(data.get("faults", [])):
        try:
            validate_fault(fault_spec(fault))
        except FaultConfigError as exc:
            errors.append(located.error(("faults", i, *exc.path), exc.message))
    for i, registrar in enumerate(data["registrars"]):
        if "external" in registrar:
            errors += [located.error(("registrars", i, *path), message)
                       for path, message in _external_problems(registrar, located.filename)]
    if "server" in dns:
        try:
            parse_hostport(dns["server"], DNS_PORT)
        except ValueError as exc:
            errors.append(located.error(("dns", "server"), str(exc)))
    return errors


def _external_problems(registrar: dict[str, Any], filename: str
                       ) -> list[tuple[FieldPath, str]]:
    """Addresses that cannot be read, on several hosts, or a CA file that is not one."""
    problems: list[tuple[FieldPath, str]] = []
    hosts: dict[str, str] = {}
    for key, text in registrar["external"].items():
        try:
            hosts[key] = parse_address(key, text).host
        except ValueError as exc:
            problems.append((("external", key), str(exc)))
    if len(set(hosts.values())) > 1:
        listed = ", ".join(f"{key} {host}" for key, host in hosts.items())
        problems.append((("external",), f"the addresses are on several hosts ({listed}); "
                         "${" + registrar["name"] + "} and its domain stand for one: give "
                         "one registrar per host"))
    path = ca_path(registrar, filename)
    if path is not None:
        try:
            TrustConfig.from_ca_pem(path.read_bytes())
        except OSError as exc:
            problems.append((("ca",), f"cannot read {path}: {exc.strerror or exc}"))
        except TlsConfigError as exc:
            problems.append((("ca",), f"{path}: not a PEM CA certificate ({exc})"))
    return problems
