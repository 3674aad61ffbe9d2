"""Where a served world listens: the same addresses at every start, or one pinned address.

A world run by ``testbed run`` takes any free 127.0.0.N. A world left running for a
softphone (``testbed serve``) must not move, or the phone's configuration breaks at the
next start: :meth:`AddressPlan.stable` derives a /24 of loopback addresses from the
scenario's name (``127.A.B.0``, A and B from a hash of the name, A never 0 so it never
meets the 127.0.0.N of other worlds) and the world's parts take them in order from
``127.A.B.2``; one that is taken (another program, another world) moves the part to the
next one, the same way at every start. :meth:`AddressPlan.pinned` puts every address a
phone reaches (each registrar's, or the fault proxy in front of it, and the DNS
server's) on one given address, e.g. the machine's LAN address for a hardware phone;
what hides behind a fault proxy stays on the stable loopback addresses.
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import socket
from dataclasses import dataclass

DNS_FALLBACK_PORT = 10053
"""The DNS port of a planned world when 53 cannot be bound (no root): fixed, so a phone's
DNS server setting survives restarts too."""


class AddressError(ValueError):
    """An address a world cannot be pinned to; one line."""


@dataclass(frozen=True)
class AddressPlan:
    """The addresses a world's parts try, in order: ``public`` for what a phone reaches,
    ``private`` for a registrar hidden behind its fault proxy."""

    public: tuple[str, ...]
    private: tuple[str, ...]
    pinned: str | None = None

    @classmethod
    def stable(cls, name: str) -> AddressPlan:
        """127.A.B.2..254, A and B from the scenario name: the same at every start."""
        digest = hashlib.sha256(name.encode("utf-8")).digest()
        a, b = 1 + digest[0] % 255, digest[1]
        addresses = tuple(f"127.{a}.{b}.{n}" for n in range(2, 255))
        return cls(addresses, addresses)

    @classmethod
    def pin(cls, address: str, name: str) -> AddressPlan:
        """Every public part on ``address`` (checked by :func:`check_local_address`)."""
        return cls((address,), cls.stable(name).private, pinned=address)


def check_local_address(address: str) -> str:
    """``address`` normalised, or :class:`AddressError` when it is not an IP address of
    this machine (a world can only listen on its own addresses)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise AddressError(f"--address {address}: not an IP address") from None
    if ip.is_unspecified or ip.is_multicast:
        raise AddressError(f"--address {address}: give one address of this machine, "
                           "not a wildcard or multicast one")
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((str(ip), 0))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise AddressError(f"--address {address}: not an address of this machine "
                                   "(`ip -brief address` lists them)") from None
            raise AddressError(f"--address {address}: {exc.strerror}") from None
    return str(ip)
