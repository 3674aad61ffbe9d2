"""Peer input that a layer refused, in one log line at most, rate-limited.

Whatever a peer sends that a layer refuses (bytes the parser cannot read, a stream that
can no longer be framed, a request no transaction can take, a request whose handling
failed, a REGISTER the registrar forbids) is answered or dropped by the rules of that
layer and recorded in the trace; :class:`RejectionLog` also gives it one line in the
``testbed.rejected`` log, never a traceback. A flood costs a bounded number of lines:
at most ``per_source`` a ``window`` for one source address (any port), at most ``total``
a window in all, and for each window that had to keep quiet one line saying how many it
suppressed, written when the next line is (there is no timer: a server that no one
talks to writes nothing). The sources it counts are bounded too (``max_sources``, the
least recently heard first out), so spoofed addresses cannot make it grow.

Time comes from the clock it is given (the reactor's), so tests drive it with a Clock.

:func:`answer_internal_error` is what the stack's boundary does with a message whose
handling raised anything else than the peer's fault: 500 to a request, one line naming
the error and where it was raised.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from testbed.sip import (
    Message,
    RemoteProtocolError,
    Request,
    Response,
    TransactionState,
    TransactionTable,
    fmt_hostport,
    make_response,
    server_key,
)

from ._flows import Flow, FlowSink
from ._trace import HostPort

LOGGER = logging.getLogger("testbed.rejected")
"""Where the lines go: a warning each, so that Python's last-resort handler prints them
on stderr when the application configured no logging."""


_LINE_MAX = 300


@dataclass(slots=True)
class _Window:
    start: float
    logged: int = 0
    suppressed: int = 0


class RejectionLog:
    """One rate-limited log line per refused input (see the module's documentation)."""

    def __init__(self, clock: Callable[[], float], *, per_source: int = 5, total: int = 50,
                 window: float = 1.0, max_sources: int = 1024,
                 logger: logging.Logger = LOGGER) -> None:
        self.clock = clock
        self.per_source = per_source
        self.total = total
        self.window = window
        self.max_sources = max_sources
        self.logger = logger
        self._all = _Window(float("-inf"))
        self._sources: OrderedDict[str, _Window] = OrderedDict()

    def rejected(self, transport: str, remote: HostPort | None, what: str) -> None:
        """Log ``what`` was refused from ``remote`` over ``transport``, if the rate allows."""
        now = self.clock()
        every = self._all
        if now - every.start >= self.window:
            if every.suppressed:
                self._write(f"{every.suppressed} more rejected input(s) not logged in "
                            f"{now - every.start:.1f} s (at most {self.total} lines a "
                            f"{self.window:g} s)")
            self._all = every = _Window(now)
        host = remote[0] if remote else ""
        source = self._source(host, now)
        summary = ""
        if now - source.start >= self.window:
            if source.suppressed:
                summary = (f"{source.suppressed} more rejected input(s) from {host} not "
                           f"logged in {now - source.start:.1f} s")
            source.start, source.logged, source.suppressed = now, 0, 0
        if source.logged >= self.per_source:
            source.suppressed += 1
            return
        if every.logged >= self.total:
            every.suppressed += 1 + (summary != "")
            return
        if summary:
            self._write(summary)
            every.logged += 1
        where = fmt_hostport(remote) if remote else "?"
        self._write(f"rejected {transport} {where}: {what}")
        source.logged += 1
        every.logged += 1

    def _source(self, host: str, now: float) -> _Window:
        sources = self._sources
        source = sources.get(host)
        if source is None:
            if len(sources) >= self.max_sources:
                _, oldest = sources.popitem(last=False)
                self._all.suppressed += oldest.suppressed  # still told, in the total
            source = sources[host] = _Window(now)
        else:
            sources.move_to_end(host)
        return source

    def _write(self, line: str) -> None:
        # One line, whatever the peer put in the reason.
        self.logger.warning("%s", line.replace("\r", " ").replace("\n", " ")[:_LINE_MAX])


class _Stack(FlowSink, Protocol):
    """What :func:`answer_internal_error` needs of the stack."""

    table: TransactionTable

    def send_response(self, response: Response) -> None: ...


def answer_internal_error(stack: _Stack, message: Message, flow: Flow,
                          exc: Exception) -> None:
    """Answer 500 to a request whose handling raised (RFC 3261 §21.5.1) if its server
    transaction still owes a final response (so that it ends as usual); then one log
    line naming the error and where it was raised. Nothing else is answered: a request
    whose transaction answered already, or is gone, or never was, must not get a
    second answer or a stray one; a response or an ACK gets none anyway."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = "" if frame is None else \
        f" at {frame.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.tb_lineno}"
    what = f"internal error: {type(exc).__name__}: {exc}{where}"
    request = message if isinstance(message, Request) and message.method != "ACK" else None
    transaction = None
    if request is not None:
        try:
            transaction = stack.table.get(server_key(request))
        except RemoteProtocolError:
            transaction = None
    if request is not None and transaction is not None \
            and transaction.state in (TransactionState.TRYING, TransactionState.PROCEEDING):
        stack.send_response(make_response(request, 500))
        stack.input_rejected(flow, f"500 Server Internal Error (answered): {what}")
    else:
        stack.input_rejected(flow, f"{what} (not answered)")


__all__ = ["LOGGER", "RejectionLog", "answer_internal_error"]
