"""Driving a sans-IO :class:`Operation` on the reactor: the one loop every driver uses.

The user agent and the load engine hand :func:`drive` an operation and a ``send``
coroutine that turns a :class:`SendRequest` into a request on their flow and returns it
with its final response (raising :class:`TransactionFailed` when none came).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

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


SendNow = Callable[[SendRequest], "defer.Deferred[tuple[Request, Response]]"]


def drive_now(operation: Operation, send: SendNow, clock: IReactorTime,
              done: Callable[[Verdict], None], crashed: Callable[[Failure], None]) -> None:
    """:func:`drive` without a coroutine: the same loop on Deferred callbacks, for a
    driver that runs thousands of operations a second (the load engine's fast path).
    ``done`` gets the verdict; ``crashed`` any failure but :class:`TransactionFailed`
    (a bug, not the network)."""

    def step(action: Action) -> None:
        if isinstance(action, Verdict):
            done(action)
            return
        send(action).addCallbacks(answered, failed).addErrback(crashed)

    def answered(sent: tuple[Request, Response]) -> None:
        request, response = sent
        step(operation.response_received(request, response, clock.seconds()))

    def failed(failure: Failure) -> None:
        if not isinstance(failure.value, TransactionFailed):
            failure.raiseException()
        step(operation.transport_failed(failure.value.kind, failure.value.reason,
                                        clock.seconds()))

    step(operation.start(clock.seconds()))


__all__ = ["Send", "SendNow", "drive", "drive_now"]
