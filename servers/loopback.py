"""Free loopback addresses, so that every world binds the real SIP ports without collisions.

Linux routes all of 127.0.0.0/8 to the loopback interface, so a world can take
127.0.0.N with UDP 5060, TCP 5060, TLS 5061 and WSS 443 (the RFC defaults) while
another world uses 127.0.0.M. :func:`find_free_loopback` finds an N where every
requested (transport, port) can be bound, and says plainly when a port cannot be bound
at all (e.g. 443 without root) rather than silently using another one, with what to do
(``testbed run`` avoids that case in a private network namespace: testbed.netns).
:func:`source_for` picks the address a relay on 127.0.0.N binds to reach its upstream.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Iterable, Sequence

from testbed.sip import Transport


class PortUnavailable(Exception):
    """A (transport, port) cannot be bound on any loopback address, and why."""


def _can_bind(address: str, transport: str, port: int) -> int:
    """0 if ``address:port`` can be bound for ``transport`` (on its carrier), else the errno."""
    udp = Transport.parse(transport).carrier is Transport.UDP
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, kind) as probe:
        if kind == socket.SOCK_STREAM:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            return exc.errno or errno.EADDRINUSE
    return 0


def find_free_loopback(needs: Sequence[tuple[str, int]], *, exclude: set[str] | None = None,
                       first: int | None = None, candidates: Iterable[str] | None = None
                       ) -> str:
    """A 127.0.0.N address where every ``(transport, port)`` of ``needs`` is free.

    ``transport`` is a :class:`~testbed.sip.Transport` or its spelling (``"udp"``);
    port 0 means "any port" and is always satisfiable. Raises :class:`PortUnavailable`
    naming the port and the reason when a port cannot be bound for lack of privilege,
    or when no address in 127.0.0.2-254 has all the ports free. ``candidates`` are the
    addresses to try instead, in order (a stable plan, or one pinned address).
    """
    exclude = exclude or set()
    start = first if first is not None else 2 + (os.getpid() % 200)
    tried = list(candidates) if candidates is not None else [
        f"127.0.0.{2 + (start - 2 + offset) % 253}" for offset in range(253)]
    for address in tried:
        if address in exclude:
            continue
        failures = [(t, p, _can_bind(address, t, p)) for t, p in needs if p]
        denied = [(t, p) for t, p, code in failures if code == errno.EACCES]
        if denied:
            t, p = denied[0]
            raise PortUnavailable(
                f"cannot bind {t} port {p}: permission denied: ports below 1024 need root "
                "here; run as root, or `sudo sysctl -w net.ipv4.ip_unprivileged_port_start=0`"
                ", or allow user namespaces (testbed run then uses a private one), or give "
                "the listener a port from 1024 up")
        if not any(code for _, _, code in failures):
            return address
    wanted = ", ".join(f"{t}/{p}" for t, p in needs)
    if candidates is not None:
        where = ", ".join(tried[:3]) + (f" ... {tried[-1]}" if len(tried) > 3 else "")
        raise PortUnavailable(f"{wanted} not free on {where}")
    raise PortUnavailable(f"no loopback address 127.0.0.2-254 has {wanted} free")


def source_for(listen_host: str, upstream_host: str) -> str:
    """The address a relay listening on ``listen_host`` binds to reach ``upstream_host``.

    Its own address (captures then name a specific address), unless it listens on
    loopback and the upstream is on another host, which a loopback source cannot reach:
    then the address the kernel would route from (``""``, any, when there is no route).
    """
    try:
        elsewhere = (ipaddress.ip_address(listen_host).is_loopback
                     and not ipaddress.ip_address(upstream_host).is_loopback)
    except ValueError:
        return listen_host
    if not elsewhere:
        return listen_host
    family = socket.AF_INET6 if ":" in upstream_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((upstream_host, 9))  # a UDP connect sends nothing: a route lookup
        except OSError:
            return ""
        return str(probe.getsockname()[0])
