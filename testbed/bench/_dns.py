"""DNS queries per second against our authoritative server, over UDP.

A small closed-loop client on the bench's reactor: ``window`` queries in flight, each
answer (matched by its ID) lets the next query go, for ``seconds``. The queries are
built once with dnslib (NAPTR, SRV and A for the served domain, round robin) and only
their ID changes, so the client costs little next to the server it measures. The
server runs in its own process; lost answers are re-sent after ``retry`` seconds.
"""

from __future__ import annotations

import struct
from typing import Any

from twisted.internet import defer, protocol
from twisted.internet.interfaces import IDelayedCall

from testbed.reactor import IReactor


def queries(domain: str) -> list[bytes]:
    """Wire-format queries for the records an AUTO client asks for."""
    from dnslib import DNSRecord

    return [DNSRecord.question(domain, "NAPTR").pack(),
            DNSRecord.question(f"_sip._udp.{domain}", "SRV").pack(),
            DNSRecord.question(f"pbx.{domain}", "A").pack()]


class _Blaster(protocol.DatagramProtocol):
    def __init__(self, reactor: IReactor, server: tuple[str, int], packets: list[bytes],
                 window: int, seconds: float, retry: float) -> None:
        self.reactor = reactor
        self.server = server
        self.packets = packets
        self.window = window
        self.seconds = seconds
        self.retry = retry
        self.next_id = 0
        self.in_flight: dict[int, float] = {}
        self.answered = 0
        self.resent = 0
        self.started = 0.0
        self.done: defer.Deferred[tuple[int, float, int]] = defer.Deferred()
        self._check: IDelayedCall | None = None
        self._stop: IDelayedCall | None = None

    def startProtocol(self) -> None:
        self.started = self.reactor.seconds()
        for _ in range(self.window):
            self._send_new()
        self._stop = self.reactor.callLater(self.seconds, self._finish)
        self._check = self.reactor.callLater(self.retry, self._resend_lost)

    def _send_new(self) -> None:
        self.next_id = (self.next_id + 1) & 0xFFFF
        self._send(self.next_id)

    def _send(self, qid: int) -> None:
        packet = self.packets[qid % len(self.packets)]
        self.in_flight[qid] = self.reactor.seconds()
        assert self.transport is not None, "sends only once started"
        self.transport.write(struct.pack("!H", qid) + packet[2:], self.server)

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        if len(data) < 2 or self.done.called:
            return
        (qid,) = struct.unpack("!H", data[:2])
        if self.in_flight.pop(qid, None) is None:
            return
        self.answered += 1
        self._send_new()

    def _resend_lost(self) -> None:
        now = self.reactor.seconds()
        for qid, sent in list(self.in_flight.items()):
            if now - sent > self.retry:
                self.resent += 1
                self._send(qid)
        self._check = self.reactor.callLater(self.retry, self._resend_lost)

    def _finish(self) -> None:
        if self._check is not None and self._check.active():
            self._check.cancel()
        elapsed = self.reactor.seconds() - self.started
        self.done.callback((self.answered, elapsed, self.resent))


async def measure(reactor: IReactor, server: tuple[str, int], domain: str, *,
                  seconds: float, window: int = 50, retry: float = 1.0) -> dict[str, Any]:
    """Answers per second of the DNS server at ``server`` over ``seconds``."""
    blaster = _Blaster(reactor, server, queries(domain), window, seconds, retry)
    port = reactor.listenUDP(0, blaster, interface="127.0.0.1", maxPacketSize=8192)
    try:
        answered, elapsed, resent = await blaster.done
    finally:
        await defer.maybeDeferred(port.stopListening)
    return {"answered": answered, "seconds": round(elapsed, 3), "resent": resent,
            "qps": answered / elapsed if elapsed > 0 else 0.0}
