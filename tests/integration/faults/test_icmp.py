"""The client's UDP socket hears ICMP errors (IP_RECVERR) and keeps serving other peers."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import defer, protocol, reactor

from servers.faults import ClosedPort
from testbed.transport._icmp import ErrQueuePort, listen_udp


class Recorder(protocol.DatagramProtocol):
    def __init__(self) -> None:
        self.errors: list[tuple] = []
        self.received: list[bytes] = []
        self.waiters: list[tuple[int, defer.Deferred]] = []

    def destination_unreachable(self, remote, kind, reason) -> None:
        self.errors.append((remote, kind, reason))
        self._check()

    def datagramReceived(self, data, addr) -> None:
        self.received.append(data)
        self._check()

    def until(self, count: int) -> defer.Deferred:
        waiter: defer.Deferred = defer.Deferred()
        self.waiters.append((count, waiter))
        self._check()
        return waiter.addTimeout(2, reactor)

    def _check(self) -> None:
        for count, waiter in list(self.waiters):
            if len(self.errors) + len(self.received) >= count and not waiter.called:
                self.waiters.remove((count, waiter))
                waiter.callback(None)


class Echo(protocol.DatagramProtocol):
    def datagramReceived(self, data, addr) -> None:
        self.transport.write(b"echo " + data, addr)


@pytest_twisted.ensureDeferred
async def test_a_queued_icmp_error_neither_stops_the_socket_nor_eats_the_next_datagram():
    recorder = Recorder()
    port = listen_udp(reactor, 0, recorder, "127.0.0.1")
    closed = ClosedPort("UDP", "127.0.0.1")
    echo = reactor.listenUDP(0, Echo(), interface="127.0.0.1")
    echo_address = ("127.0.0.1", echo.getHost().port)
    try:
        assert isinstance(port, ErrQueuePort) and port.reports_icmp
        for round_ in range(3):
            # same tick: the ICMP error for the first is pending when the second is sent
            port.write(b"to nobody", closed.address)
            port.write(b"hello %d" % round_, echo_address)
            await recorder.until(2 * (round_ + 1))
        assert recorder.received == [b"echo hello 0", b"echo hello 1", b"echo hello 2"]
        assert [e[:2] for e in recorder.errors] == [(closed.address, "refused")] * 3
        host, number = closed.address
        assert recorder.errors[0][2] == f"ICMP port unreachable from {host}:{number}"
        assert port.connected  # the reactor did not take the error for a closed socket
    finally:
        closed.close()
        await port.stopListening()
        await echo.stopListening()
