"""Ports below 1024 without root: scenario worlds in a private user and network namespace.

Worlds bind the real default ports (WSS 443, DNS 53) on 127.0.0.N. An ordinary user may
not bind ports below 1024, so before its reactor starts, ``testbed run`` (and the pytest
plugin, once it has collected scenarios) calls :func:`isolate_worlds`: where a world
needs such a port and the process may not bind it, the process moves into an
unprivileged user namespace (uid 0 there is the user) with a network namespace of its
own, loopback up (:func:`enter_private_network`, ctypes ``unshare(2)``, no helper
program). The worlds then bind every port as root would, apart from the host and from
any other run; files still belong to the user; output, exit code and signals are the
process's own. Where the kernel forbids user namespaces, one line says what to do.

``testbed serve`` stays on the host, where the phones are: :func:`serve_advice` says how
an ordinary user reaches its world.
"""

from ._kernel import (
    NamespaceUnavailable,
    enter_private_network,
    low_ports_allowed,
    read_sysctl,
    userns_remedy,
)
from ._worlds import isolate_worlds, privileged_listeners, serve_advice

__all__ = [
    "NamespaceUnavailable", "enter_private_network", "isolate_worlds", "low_ports_allowed",
    "privileged_listeners", "read_sysctl", "serve_advice", "userns_remedy",
]
