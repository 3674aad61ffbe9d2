"""Driving a sans-IO :class:`Operation` on the reactor: the one loop every driver uses.

The user agent and the load engine hand :func:`drive` an operation and a ``send``
coroutine that turns a :class:`SendRequest` into a request on their flow and returns it
with its final response (raising :class:`TransactionFailed` when none came).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

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


SendNow = Callable[[SendRequest, "DriveNow"], Request]
"""``send(action, run)``: put the request for ``action`` on the wire now and return it;
later call ``run.answered(response)`` with its final response or ``run.failed(failure)``
with the :class:`TransactionFailed` that ended it."""


class DriveNow:
    """:func:`drive` without a coroutine or a Deferred, for a driver that runs thousands
    of operations a second (the load engine's fast path): the same loop, stepped by the
    transaction's answer. ``done`` gets the verdict; ``crashed`` an exception raised by
    the operation's rules (a bug, not the network). Start it with :meth:`start`.

    No closures and no Deferred per operation: nothing here forms a reference cycle, so
    a finished operation is freed at once instead of waiting for the garbage collector.
    """

    __slots__ = ("operation", "send", "clock", "done", "crashed", "request")

    def __init__(self, operation: Operation, send: SendNow, clock: IReactorTime,
                 done: Callable[[Verdict], None], crashed: Callable[[Failure], None]) -> None:
        self.operation = operation
        self.send = send
        self.clock = clock
        self.done = done
        self.crashed = crashed
        self.request: Request | None = None

    def start(self) -> None:
        """Send the operation's first request (or end it at once)."""
        self._step(self.operation.start, self.clock.seconds())

    def answered(self, response: Response) -> None:
        """The final response to the request last sent."""
        request = self.request
        assert request is not None, "answered before anything was sent"
        self._step(self.operation.response_received, request, response, self.clock.seconds())

    def failed(self, failure: TransactionFailed) -> None:
        """The request last sent got no final response."""
        self._step(self.operation.transport_failed, failure.kind, failure.reason,
                   self.clock.seconds())

    def _step(self, rule: Callable[..., Action], *args: object) -> None:
        try:
            action = rule(*args)
        except Exception:  # a bug in the rules: the driver counts it, the run goes on
            self.crashed(Failure())
            return
        if isinstance(action, Verdict):
            self.done(action)
        else:
            self.request = self.send(action, self)


__all__ = ["DriveNow", "Send", "SendNow", "drive"]
