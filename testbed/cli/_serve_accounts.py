"""What ``testbed serve`` prints when its world is up: addresses, accounts, how to reach it.

Everything a phone's configuration needs, per registrar: the accounts (user, password,
address-of-record), the domain, the address to register to on each transport (the
fault proxy's where a fault fronts the registrar) and the DNS server that resolves the
domain. The lines ``registrar NAME  UDP  HOST:PORT`` and ``dns  UDP+TCP  HOST:PORT`` are
read by scripts (keep their shape).
"""

from __future__ import annotations

from typing import Any

from testbed.scenario import AddressPlan, World
from testbed.sip import Transport, fmt_hostport

SHOWN_ACCOUNTS = 10
"""Accounts listed one per line; the rest are counted."""


def print_world(world: World, plan: AddressPlan) -> None:
    scenario = world.scenario
    headline = scenario.description.splitlines()[0] if scenario.description else ""
    print(f"world of {scenario.name}: {headline}")
    for endpoint in world.endpoints:
        print(f"  {endpoint}")
    if world.ca_file is not None:
        print(f"  CA certificate     {world.ca_file}")
    if plan.pinned is not None:
        print(f"  address            {plan.pinned} (--address)")
    else:
        print(f"  address            {'.'.join(plan.public[0].split('.')[:3])}.x: the same "
              f"at every start of {scenario.name} (--address IP pins another)")
    for spec in scenario.data["registrars"]:
        _print_accounts(world, spec)
    if world.dns_address:
        host, port = world.dns_address
        domain = world.domains[next(iter(world.domains))]
        print(f"  try: dig @{host} -p {port} NAPTR {domain}")
    print("Ctrl-C stops.", flush=True)


def _print_accounts(world: World, spec: dict[str, Any]) -> None:
    name = spec["name"]
    domain = world.domains[name]
    print(f"accounts of registrar {name} (domain {domain}):")
    users: dict[str, str] = spec.get("users", {})
    if "external" in spec:
        print("  (an external registrar: its own accounts)")
    elif not users:
        print("  any user, no password (this registrar does not authenticate)")
    for user, password in list(users.items())[:SHOWN_ACCOUNTS]:
        print(f"  account            {user} / {password}   sip:{user}@{domain}")
    if len(users) > SHOWN_ACCOUNTS:
        print(f"  ... and {len(users) - SHOWN_ACCOUNTS} more accounts (the scenario's "
              f"users: of {name})")
    host = world.public[name]
    for transport, port, path in _transports(world, spec):
        where = (f"wss://{fmt_hostport((host, port))}{path}" if transport is Transport.WSS
                 else fmt_hostport((host, port)))
        print(f"  register to        {transport.value:<4} {where}")
    if world.dns_address:
        print(f"  or by DNS          {fmt_hostport(world.dns_address)} resolves {domain}")


def _transports(world: World, spec: dict[str, Any]) -> list[tuple[Transport, int, str]]:
    """(transport, port, WebSocket path) of each listener a phone registers to."""
    if "external" in spec:
        return [(a.transport, a.port, a.path or "/")
                for a in world.externals[spec["name"]].addresses]
    out = []
    for listener in spec["listen"]:
        transport = Transport.parse(listener["transport"])
        out.append((transport, listener.get("port", transport.default_port),
                    listener.get("ws_path", "/")))
    return out
