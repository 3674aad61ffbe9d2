"""A private user and network namespace for this very process (Linux, no root needed).

``unshare(2)`` with ``CLONE_NEWUSER | CLONE_NEWNET`` moves the calling process into a
new user namespace, where it holds every capability, and a new network namespace owned
by it, whose only interface is a loopback that is down. Writing ``/proc/self/setgroups``
(``deny``), ``uid_map`` and ``gid_map`` maps uid and gid 0 there onto the caller's own
uid and gid: the one mapping an unprivileged process may write (user_namespaces(7)).
``SIOCSIFFLAGS`` brings the loopback up (netdevice(7)); 127.0.0.0/8 and ::1 then work as
usual, ports below 1024 included, and files the process creates belong to the caller's
uid on the host. Nothing on the host changes, and no two processes share the namespace.

The process stays the same process: its output, exit status, signals, working directory
and open files are untouched. The kernel allows this only to a single-threaded caller.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import sys
import threading
from collections.abc import Callable

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFREQ = struct.Struct("16sH22x")
"""``struct ifreq`` (40 bytes on Linux): ``ifr_name`` and ``ifr_flags`` (netdevice(7))."""

LOW_PORT_PROBE = 1023
"""The port :func:`low_ports_allowed` tries: any port below 1024 answers the question."""


class NamespaceUnavailable(Exception):
    """This process cannot enter a private namespace here; the message says why."""


def low_ports_allowed(address: str = "127.0.0.1") -> bool:
    """Whether this process may bind ports below 1024, found by trying one.

    Root, ``CAP_NET_BIND_SERVICE`` and a lowered ``net.ipv4.ip_unprivileged_port_start``
    all allow it. The kernel checks the privilege before whether the port is taken
    (``inet_bind``), so only ``EACCES`` means no, whatever listens on the port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, LOW_PORT_PROBE))
        except OSError as exc:
            return exc.errno != errno.EACCES
    return True


def enter_private_network() -> None:
    """Move this process, for good, into a new user and network namespace, loopback up.

    The same steps first run in a forked child that then exits: a kernel that lets
    ``unshare`` succeed but withholds the capabilities in the new namespace (Ubuntu's
    AppArmor restriction on unprivileged user namespaces) is found out there, so the
    process itself never lands in a half-made namespace it cannot leave. Raises
    :class:`NamespaceUnavailable`, with nothing changed, when the kernel refuses.
    """
    if not sys.platform.startswith("linux"):
        raise NamespaceUnavailable("network namespaces are a Linux feature")
    if threading.active_count() > 1:
        raise NamespaceUnavailable("the process has already started threads")
    _rehearse(_private_network)
    try:
        _private_network()
    except OSError as exc:  # the rehearsal passed: this is not expected to happen
        raise NamespaceUnavailable(_describe(exc)) from None


def _private_network() -> None:
    uid, gid = os.geteuid(), os.getegid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        why = "the process has more than one thread" if code == errno.EINVAL else \
            os.strerror(code)
        raise OSError(code, f"unshare: {why}")
    _write_proc("setgroups", "deny")  # gid_map may be written only after this
    _write_proc("uid_map", f"0 {uid} 1")
    _write_proc("gid_map", f"0 {gid} 1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            request = _IFREQ.pack(b"lo", 0)
            _, flags = _IFREQ.unpack(fcntl.ioctl(sock, SIOCGIFFLAGS, request))
            fcntl.ioctl(sock, SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | IFF_UP))
        except OSError as exc:
            message = f"bringing the loopback up: {os.strerror(exc.errno or 0)}"
            raise OSError(exc.errno, message) from None


def _write_proc(name: str, text: str) -> None:
    """One ``write`` to ``/proc/self/NAME`` (the maps accept exactly one)."""
    fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    except OSError as exc:
        message = f"writing /proc/self/{name}: {os.strerror(exc.errno or 0)}"
        raise OSError(exc.errno, message) from None
    finally:
        os.close(fd)


def _rehearse(steps: Callable[[], None]) -> None:
    """Run ``steps`` in a forked child; raise :class:`NamespaceUnavailable` if they fail."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child answers through the pipe and never returns to the caller
        try:
            message = "-"
            try:
                steps()
            except OSError as exc:
                message = _describe(exc)
            except BaseException as exc:  # anything, rather than run the caller twice
                message = f"{type(exc).__name__}: {exc}"
            os.write(write_end, message.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read().decode(errors="replace")
    os.waitpid(pid, 0)
    if answer != "-":
        raise NamespaceUnavailable(answer or "the rehearsal child died")


def _describe(exc: OSError) -> str:
    return exc.strerror or str(exc)


Sysctl = Callable[[str], str | None]
"""Reads ``/proc/sys/NAME``: the value, or None where the file does not exist."""


def read_sysctl(name: str) -> str | None:
    """The value of ``/proc/sys/NAME`` (``kernel/unprivileged_userns_clone``), or None."""
    try:
        with open(f"/proc/sys/{name}", encoding="ascii") as file:
            return file.read().strip()
    except OSError:
        return None


def userns_remedy(sysctl: Sysctl = read_sysctl) -> str:
    """What to change so that an ordinary user may create user namespaces here."""
    if sysctl("kernel/unprivileged_userns_clone") == "0":  # Debian kernels before 6.x
        return "sudo sysctl -w kernel.unprivileged_userns_clone=1"
    if sysctl("kernel/apparmor_restrict_unprivileged_userns") == "1":  # Ubuntu 23.10+
        return "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
    if sysctl("user/max_user_namespaces") == "0":
        return "sudo sysctl -w user.max_user_namespaces=10000"
    return "allow unshare(2) of user namespaces (a container's seccomp profile may forbid it)"
