"""Real systems in a scenario: an external registrar's addresses, a real DNS server.

A registrar entry with ``external:`` names a SIP server the testbed does not start
(``{udp: "127.0.0.1:5060", tls: "127.0.0.1:5061", wss: "wss://127.0.0.1:8443/ws"}``);
``dns: {server: "HOST:PORT"}`` names a DNS server to resolve through. Both are IPv4
addresses with a port, never names: the testbed never asks the system resolver.

The world probes each address once when it starts (:func:`probe_registrar`,
:func:`probe_dns`), with blocking sockets and a short bound, before anything of the
scenario runs: a connect for the stream transports (TCP, TLS and WSS; the handshakes
are the steps' business). Over UDP (an OPTIONS to a registrar, a query for ``NS .`` to
the DNS server) only a definite refusal (ICMP port unreachable) fails the world: an
answer ends the wait early, and silence for :data:`UDP_PROBE_SECONDS` is accepted,
because a server may ignore strangers (and one in the same process cannot answer a
blocking probe); the steps' timeouts then tell what happens. What fails is one line
naming the address and what happened; nothing waits longer than :data:`PROBE_SECONDS`.
"""

from __future__ import annotations

import ipaddress
import random
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnslib import DNSRecord

from testbed.sip import (
    Address,
    RemoteProtocolError,
    Request,
    Response,
    SipUri,
    Transport,
    Via,
    fmt_hostport,
    new_branch,
    parse_message,
)

EXTERNAL_TRANSPORTS = ("udp", "tcp", "tls", "wss")
"""The keys of ``external:``, in the order the world lists them."""
PROBE_SECONDS = 2.0
"""How long one probe of an external address may take."""
UDP_PROBE_SECONDS = 0.5
"""How long the UDP probe waits for a refusal or an answer before it accepts silence."""
DNS_PORT = 53
EXTERNAL_ONLY_KEYS = ("external", "ca", "server_name")
"""Registrar keys that only an external registrar takes."""
MOCK_ONLY_KEYS = ("listen", "users", "realm", "invite", "invite_challenge", "unknown_user",
                  "register_status", "ring", "min_expires", "default_expires", "max_expires",
                  "registrar_policy", "domains", "max_contacts", "contact_max_size",
                  "max_aors", "retry_after", "connections")
"""Registrar keys that configure a mock registrar (an external one has its own)."""


@dataclass(frozen=True, slots=True)
class ExternalAddress:
    """One transport of an external registrar; ``path`` is the WebSocket path (WSS)."""

    transport: Transport
    host: str
    port: int
    path: str = "/"

    def __str__(self) -> str:
        where = fmt_hostport((self.host, self.port))
        if self.transport is Transport.WSS:
            return f"wss://{where}{self.path}"
        return f"{self.transport.spelling} {where}"


def parse_hostport(text: object, default_port: int | None = None) -> tuple[str, int]:
    """``"127.0.0.1:5060"`` → ``("127.0.0.1", 5060)``; :class:`ValueError` says what
    was expected. Only IPv4 literals: a name would need the system resolver."""
    expected = "an IPv4 address and port, e.g. 127.0.0.1:5060"
    if not isinstance(text, str):
        raise ValueError(f"expected {expected}, got {text!r}")
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        if default_port is None:
            raise ValueError(f"expected {expected}, got {text!r} (no port)")
        host, port = text.strip(), str(default_port)
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(f"expected {expected}, got {text!r} ({host or 'no address'} is "
                         "not an IPv4 address; names are not resolved: the system "
                         "resolver is never asked)") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected {expected}, got {text!r} (port 1..65535)")
    return host, int(port)


def parse_address(transport: str, text: object) -> ExternalAddress:
    """One ``external:`` entry; a WSS one may be a ``wss://HOST:PORT/PATH`` URL."""
    kind = Transport.parse(transport)
    path = "/"
    if kind is Transport.WSS and isinstance(text, str) and "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme.lower() != "wss":
            raise ValueError(f"expected a wss:// URL or HOST:PORT, got {text!r}")
        where, slash, tail = rest.partition("/")
        path = slash + tail if slash else "/"
        host, port = parse_hostport(where, Transport.WSS.default_port)
    else:
        host, port = parse_hostport(text)
    return ExternalAddress(kind, host, port, path)


def external_addresses(spec: dict[str, Any]) -> list[ExternalAddress]:
    """The addresses of an external registrar entry, UDP, TCP, TLS, WSS in that order."""
    given = spec["external"]
    return [parse_address(key, given[key]) for key in EXTERNAL_TRANSPORTS if key in given]


def external_systems(data: dict[str, Any]) -> list[str]:
    """The real systems a scenario talks to, in words (``["registrar kam at 127.0.0.5",
    "DNS server 127.0.0.1:5353"]``): what a world must reach on the host's network."""
    found = [f"registrar {spec['name']} at {external_addresses(spec)[0].host}"
             for spec in data.get("registrars", []) if "external" in spec]
    server = (data.get("dns") or {}).get("server")
    if server is not None:
        found.append(f"DNS server {fmt_hostport(parse_hostport(server, DNS_PORT))}")
    return found


def relayed_ports(data: dict[str, Any]) -> list[ExternalAddress]:
    """The addresses of external registrars that have faults in front: the world's relays
    listen on these port numbers (on an address of their own)."""
    registrars = data.get("registrars", [])
    default = registrars[0]["name"] if registrars else None
    fronted = {fault.get("registrar", default) for fault in data.get("faults", [])}
    return [address for spec in registrars
            if "external" in spec and spec["name"] in fronted
            for address in external_addresses(spec)]


def ca_path(spec: dict[str, Any], scenario_path: str) -> Path | None:
    """The ``ca:`` file of a registrar entry, relative to the scenario file's folder."""
    if "ca" not in spec:
        return None
    path = Path(spec["ca"]).expanduser()
    return path if path.is_absolute() else Path(scenario_path).parent / path


# -- probes -----------------------------------------------------------------------------


def probe_registrar(address: ExternalAddress, timeout: float = PROBE_SECONDS,
                    udp_wait: float = UDP_PROBE_SECONDS) -> str | None:
    """None unless ``address`` is unreachable; then why, in a few words."""
    if address.transport.carrier is Transport.TCP:
        return _probe_connect(address.host, address.port, timeout)
    return _probe_options(address, min(udp_wait, timeout))


def _probe_connect(host: str, port: int, timeout: float) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return "connection refused: nothing listens there"
    except TimeoutError:
        return f"no answer to the TCP connect in {timeout:g} s"
    except OSError as exc:
        return f"cannot connect: {exc.strerror or exc}"


def _probe_options(address: ExternalAddress, timeout: float) -> str | None:
    rng = random.Random()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address.host, address.port))
            local_host, local_port = sock.getsockname()[:2]
            target = SipUri(host=address.host, port=address.port)
            via = Via(Transport.UDP, local_host, local_port,
                      (("branch", new_branch(rng)), ("rport", None)))
            request = Request("OPTIONS", target, [
                ("Via", via), ("Max-Forwards", 70),
                ("From", Address(SipUri(host=local_host, user="testbed-probe"),
                                 params=(("tag", f"{rng.getrandbits(32):08x}"),))),
                ("To", Address(target)), ("Call-ID", f"{rng.getrandbits(64):016x}@probe"),
                ("CSeq", "1 OPTIONS")])
            sock.send(request.to_bytes())
            while not isinstance(parse_message(sock.recv(65535)), Response):
                pass
        except ConnectionRefusedError:
            return "ICMP port unreachable: nothing listens there"
        except (TimeoutError, RemoteProtocolError):
            pass  # silence, or something that is not SIP: the steps will tell
        except OSError as exc:
            return f"cannot send: {exc.strerror or exc}"
    return None


def probe_dns(server: tuple[str, int], timeout: float = UDP_PROBE_SECONDS) -> str | None:
    """None unless ``server`` refuses a DNS query over UDP (silence is accepted, as for
    UDP registrars: the queries of the steps then time out and say so)."""
    packed = DNSRecord.question(".", "NS").pack()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(server)
            sock.send(packed)
            while sock.recv(65535)[:2] != packed[:2]:
                pass
        except ConnectionRefusedError:
            return "ICMP port unreachable: no DNS server there"
        except TimeoutError:
            pass
        except OSError as exc:
            return f"cannot send: {exc.strerror or exc}"
    return None
