"""The connection policy of a listening side: deadlines, lifetimes and caps.

A server that is left running and pointed at by untrusted peers must not let a
connection hold a descriptor for nothing. Every connection a stack *accepts* (TCP, TLS,
WS, WSS) goes through a :class:`ConnectionGate` and is watched by a
:class:`ConnectionGuard`; connections the stack opens itself (a client's) keep no
deadline but the connect timeout. The shape and the defaults are Kamailio's (core
``tcp_main.c``, ``tcp_read.c``, ``tcp_init.h``, ``main.c``; module ``tls``):

========================== ========= ==================================================
``ConnectionPolicy``       default   Kamailio
========================== ========= ==================================================
handshake_timeout          5 s       ``tcp_msg_data_timeout`` (20 s from accept, TLS
                                     handshake included); for the WebSocket upgrade,
                                     autobahn's ``openHandshakeTimeout`` (5 s)
first_message_timeout      5 s       ``tcp_msg_data_timeout`` (20 s; a CRLF ping is
                                     not data)
message_timeout            10 s      ``tcp_msg_read_timeout`` (20 s)
idle_timeout               120 s     ``tcp_connection_lifetime`` (120 s); the ``tls``
                                     module's ``connection_timeout`` (600 s)
max_connections            2048      ``tcp_max_connections`` (2048), and
                                     ``tls_max_connections`` (2048)
max_connections_per_source 1024      ``tcp_accept_iplimit`` (1024)
listen_backlog             1024      ``tcp_listen_backlog`` (1024)
max_upgrade_size           8 KiB     (none: nginx ``large_client_header_buffers``
                                     8 KiB, Apache ``LimitRequestFieldSize`` 8190)
make_room                  True      (none: Kamailio refuses at ``tcp_max_connections``)
========================== ========= ==================================================

What each does, on a listening side:

- *handshake*: the TLS handshake and the WebSocket upgrade must be over within
  ``handshake_timeout`` of the accept; a plain TCP connection is ready at once.
- *first message*: once ready, the first whole SIP message must arrive within
  ``first_message_timeout`` (RFC 5626 §3.5.1 keep-alives do not count: Kamailio's
  ``tcp_read.c`` does not count a CRLF ping as data either).
- *message*: bytes that do not complete a message (a half-sent request, a trickle)
  must be completed within ``message_timeout`` of the first of them.
- *idle*: a connection without a complete message or keep-alive for ``idle_timeout``
  is closed, unless it carries a registration: a 2xx to a REGISTER received on it
  holds it for as long as the bindings it made (the answer's ``expires``), as
  Kamailio's ``tcp_set_connection_lifetime()`` after ``save()`` does; refreshes and
  keep-alives (RFC 5626 §4.4.1, §5.4) count as traffic.
- *caps*: a connection beyond ``max_connections_per_source`` open ones from its
  address is closed at accept (before TLS), and so is one beyond ``max_connections``
  in all, unless ``make_room``: then a connection that has not sent a whole SIP
  message yet (still in its handshake or first-message time, which a phone is out
  of within milliseconds and a silent flood never) is closed to admit the new one:
  among the :data:`ROOM_CANDIDATES` oldest of them, the one whose address holds the
  most connections (a flood's, rather than a lone phone's that is still connecting).
  Connections that have spoken, registered or not, are never closed for room: a
  flood of silent connections from many addresses then costs each newcomer one
  silent connection's place instead of locking everyone out for as long as it lasts.

``None`` turns a limit off; :meth:`ConnectionPolicy.off` turns every one off (the
server of before, for reproducing one on purpose). Each close is one line in the
trace, and refusals and closes of connections that never became ready are at most
one line a second per cause (a flood of them is summed up, not written out).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from twisted.internet.interfaces import IAddress, IDelayedCall, ITransport
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure

from testbed.reactor import IReactorTime
from testbed.sip import Request, Response, fmt_hostport

from ._trace import Trace, hostport_of

LOG_INTERVAL = 1.0
"""Seconds between two trace lines of one cause of refusal or early close."""

GRANTS_KEPT = 8192
"""Distinct REGISTER texts (one a registered phone) a gate remembers the grant of."""

ROOM_CANDIDATES = 16
"""How many of the oldest silent connections ``make_room`` weighs (a bounded cost per
accept, whatever the number of connections)."""


@dataclass(frozen=True)
class ConnectionPolicy:
    """What a listening side allows its connections (see the module's table).

    Times are seconds, sizes bytes; ``None`` turns that limit off. Raises
    :class:`ValueError` naming the field for a value that is not positive.
    """

    handshake_timeout: float | None = 5.0
    first_message_timeout: float | None = 5.0
    message_timeout: float | None = 10.0
    idle_timeout: float | None = 120.0
    max_connections: int | None = 2048
    max_connections_per_source: int | None = 1024
    listen_backlog: int = 1024
    max_upgrade_size: int | None = 8192
    make_room: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.make_room, bool):
            raise ValueError(f"make_room: expected true or false, not {self.make_room!r}")
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "make_room" or value is None and item.name != "listen_backlog":
                continue
            integral = item.name.startswith(("max_", "listen_"))
            kind = int if integral else (int, float)
            if isinstance(value, bool) or not isinstance(value, kind) or not value > 0 \
                    or (not integral and not math.isfinite(value)):
                what = "a positive whole number" if integral else "a positive number of seconds"
                raise ValueError(f"{item.name}: expected {what}"
                                 f"{'' if item.name == 'listen_backlog' else ' or None'}, "
                                 f"not {value!r}")

    @classmethod
    def off(cls, listen_backlog: int = 50) -> ConnectionPolicy:
        """No deadline and no cap: a server that keeps whatever connects (Twisted's
        default backlog of 50 unless told)."""
        return cls(None, None, None, None, None, None, listen_backlog, None, False)

    @property
    def watches(self) -> bool:
        """Whether accepted connections need a gate at all (any limit is on)."""
        return any(getattr(self, f.name) is not None for f in fields(self)
                   if f.name not in ("listen_backlog", "make_room"))


def registration_hold(request: Request, response: Response) -> tuple[str, float] | None:
    """What a 2xx to a REGISTER says about the connection the REGISTER came on.

    Returns ``(address_of_record, seconds)``: the connection carries bindings of that
    address-of-record for ``seconds`` more (the largest ``expires`` the registrar gave
    back to a contact of this request, RFC 3261 §10.3 step 8), ``0`` when it carries
    none any more (``Contact: *`` or ``Expires: 0``). ``None`` when the REGISTER
    changed nothing (a query without Contact, §10.2.3) or the answer cannot be read.
    """
    try:
        aor = str(request.to.uri)
        if request.contact_star:
            return aor, 0.0
        asked = {str(contact.uri) for contact in request.contacts}
        if not asked:
            return None
        seconds = 0.0
        for contact in response.contacts:
            expires = contact.param("expires")
            if expires is not None and expires.isdigit() and str(contact.uri) in asked:
                seconds = max(seconds, float(expires))
    except ValueError:  # RemoteProtocolError is one: a header we cannot read says nothing
        return None
    return aor, seconds


class _Throttle:
    """At most one line per cause every :data:`LOG_INTERVAL` seconds; the lines left
    out are counted into the next one."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._next: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def allow(self, cause: str) -> int | None:
        """None: say nothing now; else how many lines of ``cause`` were left out."""
        now = self.clock()
        if now < self._next.get(cause, -math.inf):
            self._skipped[cause] = self._skipped.get(cause, 0) + 1
            return None
        self._next[cause] = now + LOG_INTERVAL
        return self._skipped.pop(cause, 0)


class ConnectionGate:
    """The accepted connections of one stack: counts, caps and the policy they keep.

    :meth:`factory` wraps a listening port's outermost factory (around TLS and the
    capture), so a refused connection costs no handshake and records no segment.
    """

    def __init__(self, clock: IReactorTime, trace: Trace, policy: ConnectionPolicy) -> None:
        self.clock = clock
        self.trace = trace
        self.policy = policy
        self.total = 0
        self.by_source: dict[str, int] = {}
        self.refused = 0
        self.expired = 0
        self.evicted = 0
        self.silent: dict[ConnectionGuard, None] = {}  # not spoken yet, oldest first
        # What a REGISTER text (To, Contact, Expires) was granted: (AOR, seconds) or None.
        self.granted: dict[tuple[str | None, ...], tuple[str, float] | None] = {}
        self._throttle = _Throttle(clock.seconds)

    def factory(self, wrapped: Factory[Any], transport: str) -> _GatedFactory:
        """``wrapped`` (a listening port's factory) behind this gate."""
        return _GatedFactory(self, wrapped, transport)

    def admit(self, source: str, transport: str, local: object) -> bool:
        """Count a connection from ``source`` in (closing a silent one to make room if
        the policy says so), or refuse it; either is logged (throttled)."""
        policy = self.policy
        here = self.by_source.get(source, 0)
        if policy.max_connections_per_source is not None \
                and here >= policy.max_connections_per_source:
            why = (f"{here} connections open from {source} "
                   f"(max_connections_per_source {policy.max_connections_per_source})")
            cause = "max_connections_per_source"
        elif policy.max_connections is not None and self.total >= policy.max_connections \
                and not (policy.make_room and self.silent):
            why = f"{self.total} connections open (max_connections {policy.max_connections})"
            cause = "max_connections"
        else:
            if policy.max_connections is not None and self.total >= policy.max_connections:
                self._room_victim().make_room()
                here = self.by_source.get(source, 0)
            self.total += 1
            self.by_source[source] = here + 1
            return True
        self.refused += 1
        self._log(cause, "note", transport, local, None,
                  f"refused a {transport} connection from {source} at accept: {why}")
        return False

    def drop_silent(self) -> None:
        """Close every connection that has not spoken yet (the element is stopping:
        those have no flow for it to close)."""
        for guard in list(self.silent):
            guard.drop()

    def _room_victim(self) -> ConnectionGuard:
        """Of the oldest silent connections, one from the address holding the most
        connections (the oldest of those)."""
        counts = self.by_source
        victim, most = None, 0
        for guard, _ in zip(self.silent, range(ROOM_CANDIDATES), strict=False):
            held = counts[guard.source]
            if held > most:
                victim, most = guard, held
        assert victim is not None  # only called with silent connections
        return victim

    def release(self, source: str) -> None:
        self.total -= 1
        left = self.by_source[source] - 1
        if left:
            self.by_source[source] = left
        else:
            del self.by_source[source]

    def closed_early(self, guard: ConnectionGuard, cause: str, reason: str) -> None:
        """Log the close of a connection that never became ready (throttled): a ready
        one is logged by its flow, with ``reason``, when it closes."""
        self._log(cause, "closed", guard.transport_name, guard.local, guard.peer,
                  f"closed {guard.transport_name} connection from "
                  f"{fmt_hostport(guard.peer)}: {reason}")

    def _log(self, cause: str, kind: str, transport: str, local: object, remote: object,
             summary: str) -> None:
        skipped = self._throttle.allow(cause)
        if skipped is None:
            return
        if skipped:
            summary += f" (and {skipped} more like it since the last line)"
        self.trace.record(kind, transport, local=local, remote=remote, summary=summary,
                          detail=f"connection policy: {cause}")


class _GatedFactory(WrappingFactory):
    """A listening port's factory behind the gate: ``None`` (Twisted closes the socket
    at once) for a connection over a cap, else the connection inside a guard."""

    def __init__(self, gate: ConnectionGate, wrapped: Factory[Any], transport: str) -> None:
        super().__init__(wrapped)
        self.gate = gate
        self.transport_name = transport
        self.local: tuple[str, int] | None = None  # the listening address, once bound

    def registerProtocol(self, p: Protocol) -> None:
        pass  # the gate counts; no table of protocols to keep

    def unregisterProtocol(self, p: Protocol) -> None:
        pass

    # Twisted lets a factory refuse a connection with None (IProtocolFactory);
    # WrappingFactory's annotation leaves that out.
    def buildProtocol(self, addr: IAddress | None) -> ConnectionGuard | None:  # type: ignore[override]
        assert addr is not None  # a listening port always says who connected
        source, _ = hostport_of(addr)
        if not self.gate.admit(source, self.transport_name, self.local):
            return None
        inner = self.wrappedFactory.buildProtocol(addr)
        if inner is None:
            self.gate.release(source)
            return None
        return ConnectionGuard(self, inner, source)


class ConnectionGuard(ProtocolWrapper):
    """One accepted connection's deadlines (the outermost protocol of the connection).

    The protocol that carries SIP (innermost, under TLS and the capture) is told of
    its guard (``guard`` attribute) before it is connected, and reports to it:
    :meth:`ready` (handshake or upgrade done), :meth:`message` (a whole SIP message),
    :meth:`keepalive` (a ping or pong, or a malformed message answered),
    :meth:`pending` (bytes of an incomplete message left over). The stack calls
    :meth:`registered` with each 2xx to a REGISTER received on it. One ``callLater``
    per connection, armed at the nearest deadline and re-evaluated when it fires.
    """

    factory: _GatedFactory
    _aggregator = None  # what ``flush_now`` asks a transport for (a TLS one's): none here

    def __init__(self, factory: _GatedFactory, wrapped: Protocol, source: str) -> None:
        super().__init__(factory, wrapped)  # type: ignore[arg-type]  # any protocol
        gate = factory.gate
        self.gate = gate
        self.policy = gate.policy
        self.clock = gate.clock
        self.transport_name = factory.transport_name
        self.source = source
        self.local: tuple[str, int] | None = None
        self.peer: tuple[str, int] = (source, 0)
        self.accepted = self._now = self.last_activity = self.clock.seconds()
        self.ready_at: float | None = None
        self.spoke = False
        self.partial_since: float | None = None
        self.holds: dict[str, float] = {}
        self.close_reason = ""
        self._call: IDelayedCall | None = None
        self._counted = True
        gate.silent[self] = None
        inner: Any = wrapped
        while getattr(inner, "wrappedProtocol", None) is not None:  # TLS, capture
            inner = inner.wrappedProtocol
        if hasattr(inner, "guard"):  # a protocol of ours that reports (not a fault page)
            inner.guard = self

    # -- Twisted ----------------------------------------------------------------------

    def makeConnection(self, transport: ITransport) -> None:
        self.local = hostport_of(transport.getHost())
        self.peer = hostport_of(transport.getPeer())
        super().makeConnection(transport)
        self._schedule()

    def dataReceived(self, data: bytes) -> None:
        now = self._now = self.clock.seconds()
        fresh = self.partial_since is None
        if fresh:
            self.partial_since = now
        self.wrappedProtocol.dataReceived(data)
        # Bytes that completed nothing (a half message, a TLS record trickling in):
        # make sure the message deadline is armed (rarely earlier than the one armed).
        if fresh and self.partial_since is not None and self.spoke:
            self._schedule()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._uncount()
        super().connectionLost(reason)

    def _uncount(self) -> None:
        """Leave the gate's counts and stop the timer: closed, or about to be."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        self.gate.silent.pop(self, None)
        if self._counted:
            self._counted = False
            self.gate.release(self.source)

    # -- what the inner protocol and the stack report -----------------------------------

    def ready(self) -> None:
        """The connection can carry SIP: TCP accepted, TLS handshake or upgrade done."""
        if self.ready_at is None:
            self.ready_at = self.clock.seconds()
            self.partial_since = None
            self._schedule()

    def message(self) -> None:
        """A whole SIP message arrived."""
        if not self.spoke:
            self.spoke = True
            self.gate.silent.pop(self, None)
        self.last_activity = self._now
        self.partial_since = None

    def keepalive(self) -> None:
        """Traffic that is no message: an RFC 5626 ping or pong, a WebSocket ping."""
        self.last_activity = self._now
        self.partial_since = None

    def pending(self) -> None:
        """Bytes of an incomplete message stay buffered after a read."""
        if self.partial_since is None:
            self.partial_since = self._now

    def registered(self, request: Request, response: Response, now: float) -> None:
        """``response``, a 2xx, answered the REGISTER ``request`` received here at ``now``:
        hold the connection for as long as the bindings it made.

        The answer is read (:func:`registration_hold`) the first time a request text
        (its To, first Contact and Expires lines) comes to the gate: a refresh repeats
        the text of the registration and is granted the same time again, and reading
        the answer's Contacts anew would cost more than the rest of the policy.
        """
        headers = request.headers
        key = (headers.get("To"), headers.get("Contact"), headers.get("Expires"))
        granted = self.gate.granted
        try:
            held = granted[key]
        except KeyError:
            held = registration_hold(request, response)
            if len(granted) >= GRANTS_KEPT:
                del granted[next(iter(granted))]  # the oldest text
            granted[key] = held
        if held is not None:
            self.hold(held[0], now + held[1], now)

    def hold(self, aor: str, until: float, now: float) -> None:
        """The connection carries bindings of ``aor`` until ``until`` (clock time, as
        ``now``); ``until`` not after ``now`` releases them."""
        before = self.holds.get(aor)
        if until > now:
            self.holds[aor] = until
        else:
            self.holds.pop(aor, None)
        if before is not None and until < before:
            self._schedule()  # nearer now; a later deadline is found when the timer fires

    @property
    def held_until(self) -> float | None:
        return max(self.holds.values()) if self.holds else None

    # -- deadlines ----------------------------------------------------------------------

    def next_deadline(self) -> tuple[float, str, str] | None:
        """The nearest deadline: ``(time, cause, reason)``, None if nothing is due."""
        policy = self.policy
        due: list[tuple[float, str, str]] = []
        if self.ready_at is None:
            if policy.handshake_timeout is not None:
                what = {"TLS": "TLS handshake", "WS": "WebSocket upgrade",
                        "WSS": "TLS handshake and WebSocket upgrade"}.get(
                            self.transport_name, "handshake")
                due.append((self.accepted + policy.handshake_timeout, "handshake_timeout",
                            f"no {what} within {policy.handshake_timeout:g} s"))
            return min(due) if due else None
        if not self.spoke and policy.first_message_timeout is not None:
            due.append((self.ready_at + policy.first_message_timeout, "first_message_timeout",
                        f"no SIP message within {policy.first_message_timeout:g} s"))
        if self.partial_since is not None and policy.message_timeout is not None:
            due.append((self.partial_since + policy.message_timeout, "message_timeout",
                        f"an incomplete message for {policy.message_timeout:g} s"))
        if policy.idle_timeout is not None:
            idle = self.last_activity if self.spoke else self.ready_at
            idle_end = idle + policy.idle_timeout
            held = self.held_until
            if held is not None and held > idle_end:
                due.append((held, "registration", "its registration expired"))
            else:
                due.append((idle_end, "idle_timeout",
                            f"idle for {policy.idle_timeout:g} s without a registration"))
        return min(due) if due else None

    def _schedule(self) -> None:
        """Arm the timer at the nearest deadline if it is nearer than the armed one (a
        later one is found when the armed one fires: moving timers costs more)."""
        deadline = self.next_deadline()
        if deadline is None or not self._counted:
            return
        call = self._call
        if call is not None and call.active():
            if call.getTime() <= deadline[0]:
                return
            call.cancel()
        self._call = self.clock.callLater(max(0.0, deadline[0] - self.clock.seconds()),
                                          self._fire)

    def _fire(self) -> None:
        self._call = None
        deadline = self.next_deadline()
        if deadline is None:
            return
        when, cause, reason = deadline
        if when > self.clock.seconds():
            self._schedule()
            return
        self.gate.expired += 1
        self._close(cause, reason)

    def make_room(self) -> None:
        """Close this silent connection now, and leave its place to a new one."""
        self.gate.evicted += 1
        age = self.clock.seconds() - self.accepted
        self._uncount()
        self._close("make_room", f"no SIP message after {age:.3g} s, and its place was "
                                 f"taken by a new connection "
                                 f"(max_connections {self.policy.max_connections})")

    def drop(self) -> None:
        """Close the connection now, without a word: its element is stopping."""
        self._uncount()
        transport = self.transport
        if transport is not None:
            transport.abortConnection()  # type: ignore[attr-defined]  # TCP transports can

    def _close(self, cause: str, reason: str) -> None:
        self.close_reason = f"closed by the connection policy: {reason}"
        if self.ready_at is None:
            self.gate.closed_early(self, cause, reason)
        transport = self.transport
        assert transport is not None  # connected: the timer is cancelled on loss
        abort = getattr(transport, "abortConnection", None)
        if abort is not None:
            abort()
        else:  # pragma: no cover - every TCP transport can abort
            transport.loseConnection()
