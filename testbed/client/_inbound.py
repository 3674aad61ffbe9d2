"""The client as a UAS: what it answers when the registrar (or a PBX) reaches it.

Inbound requests travel back over the registered flow, through NATs and firewalls, so
whether they arrive is how NAT and keep-alive cases are seen: every request is
recorded as an :class:`InboundRequest`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from testbed.sip import RemoteProtocolError, Request, answer_for, parse_sdp
from testbed.transport import Flow, ServerContext

from ._operations import contact_address

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY"
"""The methods the client accepts (RFC 3261 §20.5)."""

_ANSWERED_OK = ("OPTIONS", "BYE", "MESSAGE", "NOTIFY", "CANCEL")


@dataclass
class InboundRequest:
    """A request the client received (from the registrar, through NAT, ...)."""

    time: float
    method: str
    transport: str
    remote: tuple[str, int]
    answered: int
    call_id: str


class InboundAnswerer:
    """Answers inbound requests as a phone would: INVITE with ``answer_status`` (an SDP
    answer for a 200; 488 when the offer cannot be read), OPTIONS/BYE/... with 200,
    anything else with 405 (RFC 3261 §8.2.1)."""

    def __init__(self, *, user: str | None, secure: bool, answer_status: int,
                 rng: random.Random, tag: Callable[[], str]) -> None:
        self.user = user
        self.secure = secure
        self.answer_status = answer_status
        self.rng = rng
        self.tag = tag

    def answer(self, context: ServerContext) -> int:
        """Respond to ``context``'s request; the final status sent."""
        request = context.request
        to_tag = self.tag()
        if request.method == "INVITE":
            return self._invite(context, to_tag)
        if request.method in _ANSWERED_OK:
            extra = ([("Allow", ALLOW), ("Accept", "application/sdp")]
                     if request.method == "OPTIONS" else [])
            context.respond(200, to_tag=to_tag, headers=extra)
            return 200
        context.respond(405, to_tag=to_tag, headers=[("Allow", ALLOW)])
        return 405

    def _invite(self, context: ServerContext, to_tag: str) -> int:
        status = self.answer_status
        if status >= 300:
            context.respond(status, to_tag=to_tag)
            return status
        context.respond(180, to_tag=to_tag)
        try:
            offer = parse_sdp(context.request.body)
        except RemoteProtocolError:
            context.respond(488, to_tag=to_tag)  # RFC 3261 §13.3.1.3: offer not acceptable
            return 488
        flow = context.flow
        body = answer_for(offer, address=flow.local[0], port=41000,
                          session_id=self.rng.randrange(1, 2**31)).to_bytes()
        context.respond(200, to_tag=to_tag, body=body, headers=[
            ("Contact", contact_address(flow.transport, flow.local, self.user,
                                        secure=self.secure)),
            ("Content-Type", "application/sdp")])
        return 200


def inbound_record(time: float, request: Request, flow: Flow, answered: int) -> InboundRequest:
    """What :attr:`UserAgent.inbound` keeps of one request."""
    return InboundRequest(time, request.method, flow.transport, flow.remote, answered,
                          request.call_id)


__all__ = ["ALLOW", "InboundAnswerer", "InboundRequest", "inbound_record"]
