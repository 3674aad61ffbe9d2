"""ICMP errors for an unconnected UDP socket: who refused the datagram we sent.

A UDP socket that is not connected never hears that its datagram met a closed port:
the kernel receives the ICMP port-unreachable and drops it. With ``IP_RECVERR``
(Linux, ``ip(7)``) the kernel queues it instead, with the datagram's original
destination, on the socket's *error queue*, read with ``recvmsg(MSG_ERRQUEUE)``.
That keeps one socket per element (RFC 3261 §18, RFC 3581 ``rport``) and still tells
the client "refused" at once, as a connected socket or a TCP RST would.

Twisted does not read the error queue. Its epoll and poll reactors treat a socket
that reports ``EPOLLERR`` without ``EPOLLIN`` as closed and would call
``connectionLost`` on the port (the UDP socket would stop). :class:`ErrQueuePort`
reads the queue first: in ``doRead`` when data and an error arrive together, and in
``readConnectionLost`` (it declares itself half-closeable, which routes the error-only
event there instead of ``connectionLost``), after which it resumes reading. A send
that meets the pending error (``ECONNREFUSED`` from ``sendto``, which the kernel
reports for *any* destination once an error is pending) drains the queue and is
retried, instead of being dropped silently as ``udp.Port.write`` would.

The protocol is told through ``destination_unreachable(remote, kind, reason)`` when
it has that method: ``kind`` is ``"refused"`` (port unreachable) or ``"unreachable"``
(host, network, ...), ``reason`` a sentence naming the ICMP error and the address.
"""

from __future__ import annotations

import errno
import socket
import struct
import sys

from twisted.internet import error, udp
from twisted.internet.interfaces import (
    IHalfCloseableDescriptor,
    IListeningPort,
    IReactorFDSet,
    IReactorUDP,
)
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from testbed.sip import fmt_hostport

IP_RECVERR = getattr(socket, "IP_RECVERR", 11)  # Linux values; Python 3.11 lacks them
IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
SUPPORTED = sys.platform.startswith("linux")

# struct sock_extended_err: errno, origin, type, code, pad, info, data; then the offender
_EXTENDED_ERR = struct.Struct("=IBBBBII")
_ORIGIN_ICMP, _ORIGIN_ICMP6 = 2, 3
_MAX_ERRORS_PER_READ = 64
_RECVERR_CMSG = {(socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR)}

_log = Logger()

_WHAT = {
    errno.ECONNREFUSED: ("refused", "ICMP port unreachable"),
    errno.EHOSTUNREACH: ("unreachable", "ICMP host unreachable"),
    errno.ENETUNREACH: ("unreachable", "ICMP network unreachable"),
    errno.EACCES: ("unreachable", "ICMP communication administratively prohibited"),
    errno.EMSGSIZE: ("unreachable", "ICMP fragmentation needed"),
}


def describe_icmp(err: int, destination: tuple[str, int], offender: str | None) -> tuple[str, str]:
    """``(kind, reason)`` for an ICMP error about a datagram sent to ``destination``."""
    kind, what = _WHAT.get(err, ("unreachable", f"ICMP error ({errno.errorcode.get(err, err)})"))
    reason = f"{what} from {fmt_hostport(destination)}"
    if offender and offender != destination[0]:
        reason += f" (reported by {offender})"
    return kind, reason


def _offender(data: bytes) -> str | None:
    """The address in the ``sockaddr`` that follows ``sock_extended_err``, if any."""
    raw = data[_EXTENDED_ERR.size:]
    if len(raw) < 2:
        return None
    family = struct.unpack("=H", raw[:2])[0]
    if family == socket.AF_INET and len(raw) >= 8:
        return socket.inet_ntop(socket.AF_INET, raw[4:8])
    if family == socket.AF_INET6 and len(raw) >= 24:
        return socket.inet_ntop(socket.AF_INET6, raw[8:24])
    return None


@implementer(IHalfCloseableDescriptor)
class ErrQueuePort(udp.Port):
    """A ``udp.Port`` that enables ``IP_RECVERR`` and reports what the error queue holds."""

    reports_icmp = True

    def _bindSocket(self) -> None:
        super()._bindSocket()
        if self.addressFamily == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
        else:
            self.socket.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)

    def doRead(self) -> None:
        self.drain_errors()
        super().doRead()

    def readConnectionLost(self, reason: Failure) -> None:
        """The reactor saw an error without data: read the queue and keep listening."""
        self.drain_errors()
        # Whatever is left pending (nothing, normally) is cleared by reading SO_ERROR,
        # so that the socket is not reported again at once.
        self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if self.connected:
            self.startReading()

    def writeConnectionLost(self, reason: Failure) -> None:  # pragma: no cover - UDP
        pass

    def write(self, datagram: bytes, addr: tuple[str, int] | None = None) -> None:
        if self._connectedAddr or addr is None:
            return super().write(datagram, addr)
        for _ in range(2):
            try:
                self.socket.sendto(datagram, addr)
                return
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                if exc.errno in _WHAT and self.drain_errors():
                    continue  # an earlier datagram's error was pending: now sent for real
                if exc.errno == errno.EMSGSIZE:
                    raise error.MessageLengthError("message too long") from exc
                raise

    def drain_errors(self) -> int:
        """Read every queued ICMP error and report it; returns how many there were."""
        count = 0
        while count < _MAX_ERRORS_PER_READ:
            try:
                _, ancillary, _, address = self.socket.recvmsg(1, 512, MSG_ERRQUEUE)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                    break
                raise
            count += 1
            for level, kind, data in ancillary:
                if (level, kind) not in _RECVERR_CMSG or len(data) < _EXTENDED_ERR.size:
                    continue
                err, origin = _EXTENDED_ERR.unpack(data[:_EXTENDED_ERR.size])[:2]
                if origin not in (_ORIGIN_ICMP, _ORIGIN_ICMP6) or not address:
                    continue
                self._report(err, (address[0], address[1]), _offender(data))
        return count

    def _report(self, err: int, destination: tuple[str, int], offender: str | None) -> None:
        report = getattr(self.protocol, "destination_unreachable", None)
        if report is None:
            return
        kind, reason = describe_icmp(err, destination, offender)
        try:
            report(destination, kind, reason)
        except Exception:  # the protocol's bug must not stop the socket (one boundary)
            _log.failure("destination_unreachable failed")


def listen_udp(reactor: IReactorUDP, port: int, protocol: DatagramProtocol, interface: str,
               max_packet_size: int = 65535) -> IListeningPort:
    """``reactor.listenUDP`` with ICMP errors reported (Linux, a posix reactor).

    Elsewhere (another platform, a test reactor without file descriptors) it falls back
    to ``reactor.listenUDP``; the caller learns which from the port's class: only an
    :class:`ErrQueuePort` ``reports_icmp``.
    """
    if SUPPORTED and IReactorFDSet.providedBy(reactor):
        listening = ErrQueuePort(port, protocol, interface, max_packet_size, reactor)
        listening.startListening()
        return listening
    return reactor.listenUDP(port, protocol, interface=interface, maxPacketSize=max_packet_size)
