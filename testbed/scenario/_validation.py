"""Validating a scenario: the schema, references between sections, the servers' checks.

:func:`validate` is what the loader runs on every file. Zones, DNS faults and fault
proxies are checked by the servers' own validators, on the data exactly as the world
will hand it to them: ``${name}`` replaced by an address (:func:`substitute`) and each
fault placed as :mod:`servers.faults` takes it (:func:`fault_spec`). The world uses the
same two functions with the real addresses, so what validates is what runs.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from servers.dns import DnsConfigError, Zone, parse_faults
from servers.faults import FaultConfigError, validate_fault
from testbed.sip import RemoteProtocolError, SipUri, parse_uri

from ._schema import schema_errors
from ._yaml import LocatedData, ScenarioError

PLACEHOLDER_ADDRESS = "127.0.0.1"
"""What ``${name}`` stands for while validating, before the world has addresses."""

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


def validate(located: LocatedData) -> list[ScenarioError]:
    """Every problem of a parsed scenario document (empty when it is valid).

    Schema violations and broken references come first, in file order; only a document
    that passes both is handed to the servers' validators.
    """
    errors = schema_errors(located)
    if errors:
        return errors
    errors = _reference_errors(located)
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
    for i, name in enumerate(names):
        if names.index(name) != i:
            errors.append(located.error(("registrars", i, "name"), f"duplicate registrar {name!r}"))
    for i, fault in enumerate(data.get("faults", [])):
        target = fault.get("registrar", names[0])
        if target not in names:
            have = ", ".join(names)
            errors.append(located.error(("faults", i, "registrar"),
                                        f"no registrar named {target!r} (have: {have})"))
    for i, step in enumerate(data["steps"]):
        target = step.get("load", {}).get("registrar") if isinstance(step, dict) else None
        if target is not None and target not in names:
            errors.append(located.error(("steps", i, "load", "registrar"),
                                        f"no registrar named {target!r}"))
    if data["client"]["transport"] == "auto" and not data.get("dns"):
        errors.append(located.error(("client", "transport"),
                                    "auto needs a dns section (RFC 3263 resolves through DNS)"))
    return errors


def _server_errors(located: LocatedData) -> list[ScenarioError]:
    """The checks of the servers' own validators: DNS zones and faults, client URIs."""
    data = located.data
    assert isinstance(data, dict)
    errors: list[ScenarioError] = []
    placeholders = {r["name"]: PLACEHOLDER_ADDRESS for r in data["registrars"]}
    dns = data.get("dns", {})
    for i, zone in enumerate(dns.get("zones", [])):
        try:
            Zone.from_data(substitute(zone, placeholders))
        except DnsConfigError as exc:
            errors.append(located.error(("dns", "zones", i, *exc.path), exc.message))
    try:
        parse_faults(dns.get("faults", []))
    except DnsConfigError as exc:
        errors.append(located.error(("dns", "faults", *exc.path), exc.message))
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
    return errors
