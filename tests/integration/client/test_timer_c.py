"""An INVITE whose final response never comes ends at Timer C with a CANCEL (RFC 3261
§9.1, §16.6), instead of leaving the call waiting forever after 100 Trying."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import defer, protocol, reactor

from testbed.client import ClientConfig, UserAgent
from testbed.sip import Request, SipUri, Timers, make_response, parse_message, parse_uri


class TryingOnly(protocol.DatagramProtocol):
    """A server that answers INVITE with 100 Trying and nothing else; 200 to CANCEL."""

    def __init__(self) -> None:
        self.cancelled: defer.Deferred[Request] = defer.Deferred()

    def datagramReceived(self, data: bytes, addr) -> None:  # Twisted API
        request = parse_message(data)
        if not isinstance(request, Request):
            return
        if request.method == "INVITE":
            self.transport.write(make_response(request, 100).to_bytes(), addr)
        elif request.method == "CANCEL":
            self.transport.write(make_response(request, 200).to_bytes(), addr)
            if not self.cancelled.called:
                self.cancelled.callback(request)


@pytest_twisted.ensureDeferred
async def test_a_lost_final_response_ends_at_timer_c_with_a_cancel():
    server = TryingOnly()
    port = reactor.listenUDP(0, server, interface="127.0.0.1")
    timers = Timers.scaled(0.005)  # Timer C = 360 * T1 = 1.8 s
    agent = UserAgent(reactor, ClientConfig(
        aor=SipUri(host="example.com", user="alice"),
        registrar=parse_uri(f"sip:127.0.0.1:{port.getHost().port}"), timers=timers))
    agent.start()
    try:
        started = reactor.seconds()
        outcome = await agent.call(parse_uri(f"sip:bob@127.0.0.1:{port.getHost().port}"))
        cancel = await server.cancelled
    finally:
        await agent.stop()
        await port.stopListening()
    assert not outcome.ok and outcome.error == "timeout"
    assert "Timer C" in outcome.summary and "CANCEL sent" in outcome.summary
    assert reactor.seconds() - started >= timers.timer_c
    assert cancel.cseq.method == "CANCEL"
    assert cancel.top_via.branch == outcome.exchanges[-1].branch  # matches the INVITE
