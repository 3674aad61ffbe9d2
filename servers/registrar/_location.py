"""The registrar's location service: RFC 3261 §10.3 REGISTER processing, as pure logic.

Time comes in as ``now``; the table holds, per address-of-record, the bindings with
their expiry, the Call-ID/CSeq that last touched them (for ordering, step 7) and the
flow they registered over, so that requests to the contact reuse it (RFC 5626 §5).

Expired bindings go when their address-of-record is next touched, and every
:data:`SWEEP_INTERVAL` seconds a sweep drops those of every other one, so a registrar
left running holds the live bindings only (plus at most a sweep interval's worth).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from testbed.sip import Address, Request, SipUri

SWEEP_INTERVAL = 60.0
"""Seconds between two sweeps of expired bindings (each costs one pass over the table)."""


@dataclass
class Binding:
    """One contact of an address-of-record."""

    contact: Address
    expires_at: float
    call_id: str
    cseq: int
    flow: object = None  # the transport flow the REGISTER arrived on
    source: tuple[str, int] | None = None

    def remaining(self, now: float) -> int:
        return max(0, int(round(self.expires_at - now)))


class RegisterRejected(Exception):
    """A REGISTER the location service refuses; ``status`` and headers for the answer."""

    def __init__(self, status: int, reason: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers


def aor_of(uri: SipUri | object) -> str:
    """Canonical address-of-record ``sip:user@host`` (RFC 3261 §10.3 step 5)."""
    if not isinstance(uri, SipUri):
        raise RegisterRejected(404, "Not Found (address-of-record must be a SIP URI)")
    user = uri.user_unescaped or ""
    return f"sip:{user}@{uri.host.lower()}" if user else f"sip:{uri.host.lower()}"


@dataclass
class LocationTable:
    """Bindings by address-of-record, with RFC 3261 §10.3 expiry rules."""

    default_expires: int = 3600
    min_expires: int = 1
    max_expires: int = 86400
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    sweep_interval: float = SWEEP_INTERVAL
    _next_sweep: float = field(default=float("-inf"), repr=False)

    def register(self, request: Request, now: float, *, flow: object = None,
                 source: tuple[str, int] | None = None) -> list[Binding]:
        """Apply a REGISTER (§10.3 steps 6-8); returns the AOR's bindings afterwards.

        Raises :class:`RegisterRejected` for 400 (bad wildcard) and 423 (too brief).
        """
        if now >= self._next_sweep:
            self.expire(now)
        aor = aor_of(request.to.uri)
        call_id = request.call_id
        cseq = request.cseq.seq
        current = [b for b in self.bindings.get(aor, []) if b.expires_at > now]
        if request.contact_star:
            # Step 6: "*" only with Expires: 0, and then removes every binding.
            if request.expires != 0:
                raise RegisterRejected(400, "Bad Request (Contact * needs Expires: 0)")
            for binding in current:
                if binding.call_id == call_id and cseq <= binding.cseq:
                    return current  # out of order: ignore (step 6)
            self.bindings.pop(aor, None)
            return []
        header_expires = request.expires
        for contact in request.contacts:
            expires = contact.param("expires")
            seconds = int(expires) if expires is not None else header_expires
            if seconds is None:
                seconds = self.default_expires
            if 0 < seconds < self.min_expires:
                # Step 7: too brief → 423 with Min-Expires (§10.3, §20.23).
                raise RegisterRejected(423, "Interval Too Brief",
                                       (("Min-Expires", str(self.min_expires)),))
            seconds = min(seconds, self.max_expires)
            key = _contact_key(contact)
            existing = next((b for b in current if _contact_key(b.contact) == key), None)
            if existing is not None:
                if existing.call_id == call_id and cseq <= existing.cseq:
                    continue  # a stale or replayed request (step 7)
                current.remove(existing)
            if seconds > 0:
                current.append(Binding(contact, now + seconds, call_id, cseq, flow, source))
        if current:
            self.bindings[aor] = current
        else:
            self.bindings.pop(aor, None)
        return list(current)

    def expire(self, now: float) -> int:
        """Drop every expired binding (and every AOR left without one); how many went."""
        self._next_sweep = now + self.sweep_interval
        dropped = 0
        for aor, bindings in list(self.bindings.items()):
            live = [b for b in bindings if b.expires_at > now]
            if len(live) == len(bindings):
                continue
            dropped += len(bindings) - len(live)
            if live:
                self.bindings[aor] = live
            else:
                del self.bindings[aor]
        return dropped

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """Live bindings of ``aor`` (expired ones are dropped)."""
        live = [b for b in self.bindings.get(aor, []) if b.expires_at > now]
        if live:
            self.bindings[aor] = live
        else:
            self.bindings.pop(aor, None)
        return live

    def contact_headers(self, bindings: list[Binding], now: float) -> list[tuple[str, str]]:
        """Contact header fields for a 200 OK, each with its remaining ``expires``."""
        return [("Contact", str(b.contact.with_param("expires", str(b.remaining(now)))))
                for b in bindings]


def _contact_key(contact: Address) -> str:
    """Contacts compare by URI (RFC 3261 §10.3 step 7, §19.1.4), ignoring header params."""
    uri = contact.uri
    if isinstance(uri, SipUri):
        return f"{uri.scheme}:{uri.user_unescaped}@{uri.host.lower()}:{uri.port}:{uri.transport}"
    return str(uri)
