"""The load engine's REGISTER fast path: prepared requests, scanned answers (SIPp's way).

Profiling the load client against SIPp's UAS found the time spread over building a
:class:`Request` (header objects, then serialising them), the client transaction
(created, timed and matched in the table), parsing every answer in full and the
Deferred chain between them. For REGISTERs over UDP and TCP, :class:`FastRegister`
instead

* writes each request from a per-flow template (start line and Via prefix made once
  per flow; the endpoint's From, To, Call-ID, Contact and the operation's CSeq,
  Expires and Authorization substituted): the bytes are those ``Request.to_bytes()``
  gives for the same fields (the unit tests compare them);
* keeps a light client transaction per branch (RFC 3261 §17.1.2): over UDP the request
  is retransmitted at T1, doubling to T2 (at T2 once a provisional answer came,
  §17.1.2.2), Timer F ends it after 64*T1 as a timeout, a final answer's retransmissions
  are absorbed for T4 (Timer K); a connection lost or an ICMP error fails it at once,
  as the stack's transactions fail. Their timers are deadlines in one heap under one
  reactor timer (armed at the earliest live deadline), not a ``callLater`` each: an
  answered transaction leaves its deadline behind, skipped when it comes up; its end
  is told to a :class:`Waiter` (the operation's :class:`DriveNow`), not through a
  Deferred;
* reads answers with :func:`scan_response` (status, Call-ID, CSeq, branch, challenge)
  before the parser, and hands the operation rules (:class:`Registration`: digest,
  423, verdict) the :class:`Response` the parser would have made. An answer it cannot
  scan, or that is not for one of its requests, goes the full way.

The operation rules are the user agent's: only the carrying of requests is different.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from twisted.internet import error
from twisted.internet.interfaces import IDelayedCall

from testbed.client import DriveNow, SendRequest
from testbed.reactor import IReactor
from testbed.sip import (
    BRANCH_MAGIC_COOKIE,
    RemoteProtocolError,
    Request,
    Response,
    Timers,
    Transport,
    parse_message,
    scan_response,
)
from testbed.transport import Flow, SipStack, Trace, TransactionFailed

from ._quiet_trace import QuietTrace

FAST_TRANSPORTS = (Transport.UDP, Transport.TCP)


def fast_branch(rng: random.Random) -> str:
    """A fresh branch (RFC 3261 §8.1.1.7): the magic cookie and 80 random bits in hex,
    drawn in one call (``new_branch`` draws a character at a time: several times the
    cost, per request)."""
    return f"{BRANCH_MAGIC_COOKIE}{rng.getrandbits(80):020x}"


def register_bytes(uri: str, flow: Flow, branch: str, from_: str, to: str, call_id: str,
                   cseq: int, user_agent: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """A REGISTER as ``Request(...).to_bytes()`` writes it for the load engine's fields."""
    host, port = flow.local
    host = f"[{host}]" if ":" in host else host
    lines = [f"REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/{flow.transport} {host}:{port};branch=",
             branch, ";rport\r\nMax-Forwards: 70\r\nFrom: ", from_, "\r\nTo: ", to,
             "\r\nCall-ID: ", call_id, "\r\nCSeq: ", str(cseq), " REGISTER\r\nUser-Agent: ",
             user_agent, "\r\n"]
    for name, value in headers:
        if name != "Content-Length":
            lines.append(f"{name}: {value}\r\n")
    lines.append("Content-Length: 0\r\n\r\n")
    return "".join(lines).encode("utf-8", "surrogateescape")


class Waiter(Protocol):
    """Who hears how a request of :class:`FastRegister` ended (:class:`DriveNow` does)."""

    def answered(self, response: Response) -> None:
        """Its final response."""

    def failed(self, failure: TransactionFailed) -> None:
        """No final response: a timeout, a transport error, a lost connection."""


@dataclass(slots=True, eq=False)
class _Pending:
    """One request in flight: a light non-INVITE client transaction (§17.1.2)."""

    flow: Flow
    data: bytes
    waiter: Waiter
    on_transmit: Callable[[bool], None] | None
    deadline: float
    interval: float
    due: float = 0.0
    """When its next timer (E over UDP, F over TCP) fires; heap entries for another
    time, or for a transaction no longer pending, are stale."""
    proceeding: bool = False


class FastRegister:
    """Prepared REGISTERs and scanned answers on one stack (see the module)."""

    def __init__(self, reactor: IReactor, stack: SipStack, trace: Trace) -> None:
        self.reactor = reactor
        self.timers: Timers = stack.timers
        self.trace = trace
        self.requests = 0
        """Requests this path sent (first transmissions)."""
        self._pending: dict[str, _Pending] = {}
        self._completed: dict[str, float] = {}
        self._expiries: deque[tuple[float, str]] = deque()
        self._uri_of: tuple[Request, str] | None = None
        self._timers: list[tuple[float, int, str]] = []  # (due, order, branch key)
        self._order = 0
        self._armed: IDelayedCall | None = None
        self._armed_at = 0.0
        stack.fast_path = self.answer
        stack.on_unreachable.append(self.unreachable)

    @staticmethod
    def takes(flow: Flow) -> bool:
        return flow.transport in FAST_TRANSPORTS and not flow.closed

    def sender(self, request: Request, flow: Flow, draw: Callable[[], tuple[str, str]],
               to: str, call_id: str, contact: str, user_agent: str,
               on_transmit: Callable[[bool], None] | None = None) -> RegisterSender:
        """How an endpoint's REGISTERs go out on ``flow`` (see :class:`RegisterSender`)."""
        if self._uri_of is None or self._uri_of[0] is not request:  # the engine keeps one
            self._uri_of = (request, str(request.uri))
        return RegisterSender(self, request, self._uri_of[1], flow, draw, to, call_id,
                              contact, user_agent, on_transmit)

    def send(self, flow: Flow, data: bytes, branch: str, waiter: Waiter,
             on_transmit: Callable[[bool], None] | None = None) -> None:
        """Send ``data`` (a REGISTER whose top Via has ``branch``) and run its client
        transaction: ``waiter`` hears of its final response or of its failure
        (:class:`TransactionFailed`), maybe before this returns (a write error)."""
        now = self.reactor.seconds()
        timers = self.timers
        pending = _Pending(flow, data, waiter, on_transmit, now + timers.timer_f, timers.t1)
        if not self._write(pending, retransmission=False):
            return
        key = branch.lower()
        self._pending[key] = pending
        self.requests += 1
        # Timer E over UDP (§17.1.2.2), else Timer F alone
        self._at(pending, key, now + (timers.t1 if flow.transport is Transport.UDP
                                      else timers.timer_f), now)

    def _at(self, pending: _Pending, key: str, due: float, now: float) -> None:
        """Set ``pending``'s next timer to ``due``; arm the reactor's if it is the earliest."""
        pending.due = due
        self._order += 1
        heap = self._timers
        if len(heap) > 2 * len(self._pending) + 1024:  # mostly stale (Timer F is 64*T1)
            live = self._pending
            heap[:] = [entry for entry in heap
                       if (found := live.get(entry[2])) is not None and found.due == entry[0]]
            heapq.heapify(heap)
        heapq.heappush(heap, (due, self._order, key))
        armed = self._armed
        if armed is None or due < self._armed_at:
            if armed is not None:
                armed.cancel()
            self._armed_at = due
            self._armed = self.reactor.callLater(max(0.0, due - now), self._fire)

    def _fire(self) -> None:
        """Run every timer now due, then arm for the earliest live one left."""
        self._armed = None
        now = self.reactor.seconds()
        heap = self._timers
        pending_of = self._pending
        while heap:
            due, _, key = heap[0]
            pending = pending_of.get(key)
            if pending is None or pending.due != due:
                heapq.heappop(heap)  # answered, failed, or moved: stale
                continue
            if due > now + 1e-9:
                break
            heapq.heappop(heap)
            if pending.flow.transport is Transport.UDP:
                self._retransmit(key)
            else:
                self._expire_f(key)
        if heap and (self._armed is None or heap[0][0] < self._armed_at):
            if self._armed is not None:  # a retransmission above armed it for later
                self._armed.cancel()
            self._armed_at = heap[0][0]
            self._armed = self.reactor.callLater(max(0.0, heap[0][0] - now), self._fire)

    def _write(self, pending: _Pending, *, retransmission: bool) -> bool:
        flow = pending.flow
        try:
            if flow.closed:
                raise ConnectionError(f"{flow.transport} flow to {flow.remote} is closed")
            flow.write(pending.data)
        except (ConnectionError, OSError, error.MessageLengthError) as exc:
            self._count("send-failed")
            pending.waiter.failed(TransactionFailed("transport", str(exc)))
            return False
        self._count("sent")
        if pending.on_transmit is not None:
            pending.on_transmit(retransmission)
        return True

    def _retransmit(self, key: str) -> None:
        pending = self._pending.get(key)
        if pending is None:
            return
        now = self.reactor.seconds()
        if now >= pending.deadline - 1e-9:
            self._expire_f(key)
            return
        if not self._write(pending, retransmission=True):
            del self._pending[key]
            return
        t2 = self.timers.t2
        pending.interval = t2 if pending.proceeding else min(2 * pending.interval, t2)
        self._at(pending, key, now + min(pending.interval, pending.deadline - now), now)

    def _expire_f(self, key: str) -> None:
        pending = self._pending.pop(key, None)
        if pending is not None:
            self._count("timeout")
            pending.waiter.failed(TransactionFailed("timeout", "Timer F expired", "F"))

    def answer(self, data: bytes, flow: Flow) -> bool:
        """The stack's fast path: True when ``data`` answered one of our requests.

        An answer the scanner leaves (several Vias, a body...) is parsed in full when
        requests of ours are in flight, and still ends the one it answers."""
        view = scan_response(data)
        if view is not None:
            if view.method != "REGISTER":
                return False
            return self._answered(view.branch.lower(), view.status, view.response, flow)
        if not self._pending and not self._completed:
            return False
        try:
            message = parse_message(data)
        except RemoteProtocolError:
            return False  # the stack logs and drops it (RFC 3261 §18.1.2)
        if not isinstance(message, Response) or message.cseq.method != "REGISTER":
            return False
        branch = message.top_via.branch
        return branch is not None and self._answered(branch.lower(), message.status,
                                                     lambda: message, flow)

    def _answered(self, key: str, status: int, response: Callable[[], Response],
                  flow: Flow) -> bool:
        pending = self._pending.get(key)
        now = self.reactor.seconds()
        if pending is None:
            self._forget(now)
            if key in self._completed:  # Timer K: a retransmitted answer (§17.1.2.2)
                self._count("received")
                return True
            return False
        self._count("received")
        if status < 200:
            pending.proceeding = True
            return True
        del self._pending[key]  # its timer entry is stale now
        if flow.transport is Transport.UDP:
            self._completed[key] = now + self.timers.timer_k
            self._expiries.append((now + self.timers.timer_k, key))
        pending.waiter.answered(response())
        return True

    def _forget(self, now: float) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            self._completed.pop(expiries.popleft()[1], None)

    def flow_closed(self, flow: Flow, reason: str) -> None:
        """A connection was lost: its transactions fail with a transport error."""
        self._fail(flow, "transport", f"connection lost: {reason}")

    def unreachable(self, flow: Flow, kind: str, reason: str) -> None:
        """ICMP said ``flow``'s destination is unreachable (RFC 3261 §18.4)."""
        self._fail(flow, kind, reason)

    def _fail(self, flow: Flow, kind: str, reason: str) -> None:
        for key, pending in list(self._pending.items()):
            if pending.flow.key == flow.key:
                del self._pending[key]
                pending.waiter.failed(TransactionFailed(kind, reason))

    def stop(self) -> None:
        if self._armed is not None and self._armed.active():
            self._armed.cancel()
        self._armed = None
        self._timers.clear()
        self._pending.clear()

    def _count(self, kind: str) -> None:
        trace = self.trace
        if isinstance(trace, QuietTrace):
            trace.count(kind)



class RegisterSender:
    """One endpoint's REGISTERs on one flow, as :class:`DriveNow` sends them: the load
    engine's fields (``draw`` gives a new branch and From tag, drawn as the engine's
    ``_request`` draws them), written by :func:`register_bytes`. ``request`` (method and
    URI) is what the operation rules read of the request for digest; ``on_transmit``
    hears of each transmission (True for a retransmission), as
    :meth:`SipStack.send_request` tells it. Made once per endpoint and flow."""

    __slots__ = ("fast", "request", "uri", "flow", "draw", "from_", "to", "call_id",
                 "contact", "user_agent", "on_transmit")

    def __init__(self, fast: FastRegister, request: Request, uri: str, flow: Flow,
                 draw: Callable[[], tuple[str, str]], to: str, call_id: str, contact: str,
                 user_agent: str, on_transmit: Callable[[bool], None] | None) -> None:
        self.fast = fast
        self.request = request
        self.uri = uri
        self.flow = flow
        self.draw = draw
        self.to = to
        self.from_ = f"{to};tag="
        self.call_id = call_id
        self.contact = contact
        self.user_agent = user_agent
        self.on_transmit = on_transmit

    def __call__(self, action: SendRequest, run: DriveNow) -> Request:
        branch, tag = self.draw()
        data = register_bytes(self.uri, self.flow, branch, self.from_ + tag, self.to,
                              self.call_id, action.cseq, self.user_agent,
                              [("Contact", self.contact), *action.headers])
        self.fast.send(self.flow, data, branch, run, self.on_transmit)
        return self.request
