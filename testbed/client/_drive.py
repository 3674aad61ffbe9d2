"""Driving a sans-IO :class:`Operation` on the reactor: the one loop every driver uses.

The user agent and the load engine hand :func:`drive` an operation and a ``send``
coroutine that turns a :class:`SendRequest` into a request on their flow and returns it
with its final response (raising :class:`TransactionFailed` when none came).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from twisted.internet.interfaces import IReactorTime

from testbed.sip import Request, Response
from testbed.transport import TransactionFailed

from ._operations import Action, Operation, SendRequest, Verdict

Send = Callable[[SendRequest], Awaitable[tuple[Request, Response]]]


async def drive(operation: Operation, send: Send, clock: IReactorTime) -> Verdict:
    """Run ``operation`` to its verdict, sending each request it asks for."""
    action: Action = operation.start(clock.seconds())
    while isinstance(action, SendRequest):
        try:
            request, response = await send(action)
        except TransactionFailed as failure:
            return operation.transport_failed(failure.kind, failure.reason, clock.seconds())
        action = operation.response_received(request, response, clock.seconds())
    return action


__all__ = ["Send", "drive"]
