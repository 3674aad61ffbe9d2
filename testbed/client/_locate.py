"""Where the client sends its requests: from the registrar URI and mode to targets.

Explicit modes (udp, tcp, tls, wss) fix the transport; the host is an IP literal, a
name from the ``hosts`` map, or a name resolved through the DNS servers the client is
given (never the system resolver). ``auto`` is RFC 3263 discovery (NAPTR, SRV, A/AAAA).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import NamedTuple

from testbed.sip import DEFAULT_PORTS

from ._config import ClientConfig


class Target(NamedTuple):
    """One place to send to: transport (UDP/TCP/TLS/WSS), address and port."""

    transport: str
    host: str
    port: int


@dataclass
class Located:
    """Targets in the order to try them, the resolution steps, or why there are none."""

    targets: list[Target]
    trace: list[str] = field(default_factory=list)
    error: str = ""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Locator:
    """Turns the configured registrar into :class:`Target`s."""

    def __init__(self, config: ClientConfig, reactor: object, trace: object) -> None:
        self.config = config
        self.reactor = reactor
        self.trace = trace

    async def locate(self) -> Located:
        config = self.config
        uri = config.registrar
        mode = config.transport
        if mode == "auto":
            return Located([], [], "AUTO mode needs a DNS server (--dns HOST:PORT)")
        transport = mode.upper()
        port = uri.port or DEFAULT_PORTS[mode]
        steps = []
        if uri.port is None:
            steps.append(f"no port in {uri}: {transport} default port {port}")
        host = uri.host
        if _is_ip(host):
            steps.append(f"{host} is an IP address: no DNS lookup")
            return Located([Target(transport, host, port)], steps)
        address = config.hosts.get(host.lower())
        if address is not None:
            steps.append(f"{host} -> {address} (static hosts map)")
            return Located([Target(transport, address, port)], steps)
        return Located([], steps, f"cannot resolve {host}: no DNS server given and not in hosts")
