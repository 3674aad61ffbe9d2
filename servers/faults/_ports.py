"""Ports whose behaviour the kernel carries out: refused, or silently unanswered.

- :class:`ClosedPort` (``not-listening``, ``firewall: reject``): the port is reserved so
  nothing else takes it, yet no socket accepts the client's packets, so the kernel
  answers them: a TCP SYN gets a RST (connection refused), a UDP datagram an ICMP port
  unreachable. TCP: a socket bound and never listening. UDP: a socket bound and
  *connected to itself*: a connected UDP socket only receives from its peer, so the
  client's datagrams match no socket.
- :class:`SynDropPort` (``firewall: drop`` on TCP): a listening socket with a backlog of
  0 whose accept queue holds one connection of our own that is never accepted. Linux
  drops every further SYN while the accept queue is full (``tcp_conn_request``: the
  ``ListenOverflows`` counter), with or without SYN cookies: the client's connect times
  out as behind a firewall that drops. The queue is checked full with ``TCP_INFO``
  (for a listening socket, ``tcpi_unacked`` is the queue and ``tcpi_sacked`` its limit).

No privilege is needed for either. Userland cannot see these packets one by one, so
each port logs one ``policy`` record saying what the kernel does with every packet.
"""

from __future__ import annotations

import socket
import struct

from testbed.sip import Transport

from ._log import HostPort

_TCP_INFO_QUEUE = struct.Struct("=II")  # tcpi_unacked, tcpi_sacked at offset 24


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class ClosedPort:
    """A reserved port on which nothing listens; ``transport`` is its carrier (UDP, TCP)."""

    def __init__(self, transport: str, host: str, port: int = 0) -> None:
        self.transport = Transport.parse(transport).carrier
        udp = self.transport is Transport.UDP
        self.socket = socket.socket(_family(host), socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        try:
            self.socket.bind((host, port))  # no SO_REUSEADDR: nobody may share the port
            if udp:
                self.socket.connect(self.socket.getsockname()[:2])
        except OSError:
            self.socket.close()
            raise
        self.address: HostPort = self.socket.getsockname()[:2]

    @property
    def answer(self) -> str:
        if self.transport is Transport.UDP:
            return "the kernel answers every datagram with ICMP port unreachable"
        return "the kernel answers every SYN with a RST (connection refused)"

    def close(self) -> None:
        self.socket.close()


class SynDropPort:
    """A TCP port whose SYNs go unanswered: the accept queue is kept full."""

    transport = Transport.TCP
    answer = "the kernel drops every SYN (the accept queue is kept full): connects time out"

    def __init__(self, host: str, port: int = 0) -> None:
        self.socket = socket.socket(_family(host), socket.SOCK_STREAM)
        self.filler: socket.socket | None = None
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((host, port))
            self.socket.listen(0)
            self.address: HostPort = self.socket.getsockname()[:2]
            self.filler = socket.socket(_family(host), socket.SOCK_STREAM)
            self.filler.settimeout(2.0)
            self.filler.connect(self.address)  # completes: it is the one the queue holds
            queued, limit = self.queue()
            if queued <= limit:
                raise OSError(f"accept queue of {self.address} is not full ({queued} <= "
                              f"{limit}): SYNs would be answered")
        except OSError:
            self.close()
            raise

    def queue(self) -> tuple[int, int]:
        """(connections waiting in the accept queue, the queue's limit)."""
        info = self.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        return _TCP_INFO_QUEUE.unpack_from(info, 24)

    def close(self) -> None:
        if self.filler is not None:
            self.filler.close()
        self.socket.close()
