"""The REGISTER fast path: a plain REGISTER answered from its lazily read fields.

Profiling the registrar under SIPp showed no single hotspot: a REGISTER cost about 870
Python calls, a quarter in the full parser (every header validated and kept), a fifth
in the transaction layer (a server transaction created, timed and matched) and the rest
in building and serialising a :class:`Response`. The fast path takes the framed bytes
before all that (:attr:`SipStack.fast_path`) and:

* reads them with :func:`scan_register` (start line, Via, From, To, Call-ID, CSeq,
  Contact, Expires, Authorization); anything else goes the full way;
* absorbs retransmissions as the server non-INVITE transaction would (RFC 3261
  §17.2.2): over UDP the final answer is kept by transaction key (branch, sent-by,
  method, §17.2.3) for Timer J and sent again for a retransmitted request; a key the
  transaction table holds (a request that went the full way) goes the full way again;
* runs the registrar's own rules, not a copy of them: digest authentication
  (:meth:`Registrar._authenticate`, 401 challenges included), authorisation and the
  location update of §10.3 (:meth:`Registrar.bind` with
  :meth:`LocationTable.prepare_fields`), refusals (400, 403, 404, 423, 503);
* writes the answer as text: the Via stamped with ``received``/``rport`` (§18.2.1,
  RFC 3581) from a per-client template, the request's From, To (with our tag), Call-ID
  and CSeq in their order (§8.2.6.2), then the registrar's headers. The bytes are those
  the full path would send (the unit tests compare them).

It records what the full path records (trace events, :class:`Received`) and holds an
accepted connection for its bindings as the connection policy asks.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Iterable
from typing import Protocol

from twisted.internet import error

from testbed.reactor import IReactor
from testbed.sip import (
    REASON_PHRASES,
    RegisterView,
    RemoteProtocolError,
    ServerKey,
    SipUri,
    Transport,
    Uri,
    Via,
    scan_register,
)
from testbed.transport import ConnectionGuard, Flow, HostPort, SipStack

from ._answer import Answerable, RegisterAnswer
from ._location import LocationTable, RegisterRejected, aor_of


class RegisterRules(Protocol):
    """What the fast path uses of the registrar (:class:`Registrar`)."""

    reactor: IReactor
    stack: SipStack
    location: LocationTable

    @property
    def forced_status(self) -> int | None:
        """The status every REGISTER gets, when configured (the full path answers it)."""
        ...

    def register_fields(self, answer: RegisterAnswer, view: RegisterView,
                        aor: str | None = None) -> tuple[int, str]: ...

    def protocol_error(self, answer: Answerable, exc: RemoteProtocolError) -> tuple[int, str]: ...

    def record(self, method: str, flow: Flow, status: int, user: str, note: str) -> None: ...

_PLACEHOLDER = "\x00"
_UDP = Transport.UDP  # an Enum member is a slow attribute: looked up once
_CACHED = 4096  # stamped Via and tagged To templates kept (clients and users in flight)
_COPIED_LINES = {"via": "Via: {0}\r\n", "from": "From: {1}\r\n", "to": "To: {2}\r\n",
                 "call-id": "Call-ID: {3}\r\n", "cseq": "CSeq: {4}\r\n"}


@functools.lru_cache(maxsize=128)
def _copied_format(order: tuple[str, ...]) -> str:
    """The lines a response copies from its request (RFC 3261 §8.2.6.2), in the
    request's ``order``, as a format of Via, From, To, Call-ID and CSeq."""
    return "".join(_COPIED_LINES[key] for key in order)


class _To:
    """What the fast path derives from a To header's text, once (§10.3 step 5)."""

    __slots__ = ("aor", "tagged", "uri")

    def __init__(self, view: RegisterView) -> None:
        address = view.to_address
        try:
            aor = aor_of(address.uri)
        except RegisterRejected:
            aor = ""  # not a SIP URI: the registrar answers that
        self.aor = aor
        """The address-of-record, "" when there is none."""
        self.tagged: str | None = None if address.tag is not None \
            else str(address.with_param("tag", _PLACEHOLDER))
        """The To with a placeholder tag as ``make_response`` writes it; None when it
        has a tag of its own (copied as it is)."""
        self.uri = str(address.uri)
        """Its URI as text (what an accepted connection is held for)."""


class _Lookup:
    """The credentials lines of a scanned REGISTER (what authentication reads)."""

    def __init__(self, authorization: list[str]) -> None:
        self.authorization = authorization

    def get_all(self, name: str) -> list[str]:
        return self.authorization if name.lower() == "authorization" else []


class _Fields:
    """A scanned REGISTER as :meth:`Registrar._authenticate` reads a request."""

    method = "REGISTER"
    body = b""

    def __init__(self, view: RegisterView) -> None:
        self.uri: Uri = view.uri
        self.headers = _Lookup(view.authorization)


class FastAnswer:
    """Answers one scanned REGISTER with text built from its fields."""

    def __init__(self, path: RegisterFastPath, view: RegisterView, to: _To, flow: Flow,
                 via: str, destination: HostPort) -> None:
        self.path = path
        self.view = view
        self.to = to
        self.flow = flow
        self.via = via
        self.destination = destination
        self.sent: bytes | None = None
        self.summary = ""

    @property
    def request(self) -> _Fields:
        """The REGISTER as authentication reads it (made only when asked)."""
        return _Fields(self.view)

    def respond(self, status: int, reason: str | None = None, *, to_tag: str | None = None,
                headers: Iterable[tuple[str, object]] = (), body: bytes = b"") -> bytes:
        data = self._text(status, reason, to_tag, headers, body)
        self._send(data, status, reason)
        return data

    def send_ok(self, headers: list[tuple[str, str]], to_tag: str, limit: int) -> bool:
        data = self._text(200, None, to_tag, headers, b"")
        if len(data) > limit:
            return False
        self._send(data, 200, None)
        return True

    def _text(self, status: int, reason: str | None, to_tag: str | None,
              headers: Iterable[tuple[str, object]], body: bytes) -> bytes:
        """The response as ``make_response(...).to_bytes()`` would serialise it."""
        view = self.view
        if reason is None:
            reason = REASON_PHRASES.get(status, "")
        to = view.to
        if to_tag and status != 100:
            tagged = self.to.tagged
            if tagged is not None:
                to = tagged.replace(_PLACEHOLDER, to_tag)
        copied = _copied_format(view.order).format(
            self.via, view.from_, to, view.call_id, view.cseq_text)
        added = "".join([f"{name}: {value}\r\n" for name, value in headers
                         if name != "Content-Length"])
        text = f"SIP/2.0 {status} {reason}\r\n{copied}{added}Content-Length: {len(body)}\r\n\r\n"
        return text.encode("utf-8", "surrogateescape") + body

    def _summary(self, status: int, reason: str | None) -> str:
        reason = REASON_PHRASES.get(status, "") if reason is None else reason
        return f"{status} {reason} (CSeq {self.view.cseq_text})"

    def _send(self, data: bytes, status: int, reason: str | None) -> None:
        flow = self.flow
        udp = flow.transport is _UDP
        if udp:
            flow = self.path.registrar.stack.udp_flow(*self.destination)
        trace = flow.trace
        try:
            if flow.closed:
                raise ConnectionError(f"{flow.transport} flow to {flow.remote} is closed")
            flow.write(data)
        except (ConnectionError, OSError, error.MessageLengthError) as exc:
            trace.record("send-failed", flow.transport, local=flow.local, remote=flow.remote,
                         summary=self._summary(status, reason), data=data, detail=str(exc))
            return
        self.sent = data
        if udp:  # kept with the answer, for the retransmissions it absorbs
            self.summary = self._summary(status, reason)
        if not trace.counted("sent"):
            trace.record("sent", flow.transport, local=flow.local, remote=flow.remote,
                         summary=self.summary or self._summary(status, reason), data=data)


class RegisterFastPath:
    """The registrar's REGISTER fast path; install it as its stack's ``fast_path``."""

    def __init__(self, registrar: RegisterRules) -> None:
        self.registrar = registrar
        self.taken = 0
        """REGISTERs answered here (retransmissions not counted)."""
        self.absorbed = 0
        """Retransmissions answered again from the kept answer."""
        # Completed server transactions over UDP: key -> (answer, destination), until Timer J.
        self._answered: dict[tuple[str, str, str], tuple[bytes, HostPort, str]] = {}
        self._expiries: deque[tuple[float, tuple[str, str, str]]] = deque()
        # (id of a scanned Via, source) -> (that Via, its stamped text, where answers go)
        self._vias: dict[tuple[int, HostPort], tuple[Via, str | None, HostPort]] = {}
        self._tos: dict[str, _To] = {}  # by the To's text
        self._summaries: dict[SipUri, str] = {}

    def __call__(self, data: bytes, flow: Flow) -> bool:
        view = scan_register(data)
        if view is None:
            return False
        registrar = self.registrar
        stack = registrar.stack
        now = registrar.reactor.seconds()
        key = view.key
        udp = flow.transport is _UDP
        if udp:  # only answers sent over UDP are kept (Timer J is 0 over the others)
            self._expire(now)
            kept = self._answered.get(key)
            if kept is not None:
                self._received(view, flow, data)
                sent, destination, summary = kept
                stack.udp_flow(*destination).write(sent)  # §17.2.2: the answer again
                flow.trace.record("sent", flow.transport, local=flow.local,
                                  remote=destination, summary=summary, data=sent)
                self.absorbed += 1
                return True
        if registrar.forced_status is not None \
                or stack.table.get(ServerKey(*key)) is not None:
            return False
        via, destination = self._stamped(view, flow.remote)
        to = self.to_of(view)
        answer = FastAnswer(self, view, to, flow, via.replace(_PLACEHOLDER, view.branch)
                            if via is not None else view.via_text, destination)
        self._received(view, flow, data)
        aor = to.aor
        try:
            status, note = registrar.register_fields(answer, view, aor)
        except RemoteProtocolError as exc:
            status, note = registrar.protocol_error(answer, exc)
        if status == 200 and aor and view.contact is not None:
            guard = flow.guard
            if guard is not None:
                self._hold(view, to, guard, now)
        if udp and answer.sent is not None:
            self._answered[key] = (answer.sent, destination, answer.summary)
            self._expiries.append((now + stack.timers.timer_j, key))
        self.taken += 1
        registrar.record("REGISTER", flow, status, aor, note)
        return True

    def _received(self, view: RegisterView, flow: Flow, data: bytes) -> None:
        if flow.trace.counted("received"):
            return
        summary = self._summaries.get(view.uri)
        if summary is None:
            if len(self._summaries) >= _CACHED:
                self._summaries.clear()
            summary = self._summaries[view.uri] = f"REGISTER {view.uri}"
        flow.trace.record("received", flow.transport, local=flow.local, remote=flow.remote,
                          summary=f"{summary} (CSeq {view.cseq_text})", data=data)

    def _expire(self, now: float) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            _, key = expiries.popleft()
            self._answered.pop(key, None)

    def _stamped(self, view: RegisterView, remote: HostPort) -> tuple[str | None, HostPort]:
        """The top Via as the stack stamps it (RFC 3261 §18.2.1, RFC 3581 §4), with the
        branch left as a placeholder (None: unchanged, the text as received), and where
        a UDP answer goes (§18.2.2)."""
        via = view.via
        # By the Via's id (hashing a Via hashes all its fields); the entry holds the Via,
        # so no other object has that id while it is there.
        found = self._vias.get((id(via), remote))
        if found is not None:
            return found[1], found[2]
        changed = via
        if via.host != remote[0] or via.rport is True:
            changed = changed.with_param("received", remote[0])
        if via.rport is True:
            changed = changed.with_param("rport", str(remote[1]))
        rport = changed.rport
        host = changed.received or changed.host
        if isinstance(rport, int) and not isinstance(rport, bool):
            destination = (host, rport)
        else:
            destination = (host, changed.port or Transport.UDP.default_port)
        if len(self._vias) >= _CACHED:
            self._vias.clear()
        stamped = None if changed is via else str(changed)
        self._vias[(id(via), remote)] = (via, stamped, destination)
        return stamped, destination

    def to_of(self, view: RegisterView) -> _To:
        """What the To of ``view`` gives (remembered by its text)."""
        to = self._tos.get(view.to)
        if to is None:
            if len(self._tos) >= _CACHED:
                self._tos.clear()
            to = self._tos[view.to] = _To(view)
        return to

    def _hold(self, view: RegisterView, to: _To, guard: ConnectionGuard, now: float) -> None:
        """Hold an accepted connection for the bindings this REGISTER left on it, as the
        stack does after a full-path 200 (``registration_hold``)."""
        assert view.contact is not None
        contact = view.contact
        asked: str | None = None
        until = now
        for binding in self.registrar.location.bindings.get(to.aor, ()):
            if binding.contact is not contact:  # the scanner's memo gives the same object
                if asked is None:
                    asked = str(contact.uri)
                if binding.uri_text != asked:
                    continue
            expiry = now + binding.remaining(now)
            if expiry > until:
                until = expiry
        guard.hold(to.uri, until, now)
