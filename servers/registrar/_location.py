"""The registrar's location service: RFC 3261 §10.3 REGISTER processing, as pure logic.

Time comes in as ``now``; the table holds, per address-of-record, the bindings with
their expiry, the Call-ID/CSeq that last touched them (for ordering, step 7) and the
flow they registered over, so that requests to the contact reuse it (RFC 5626 §5).

Expired bindings go when their address-of-record is next touched, and every
:data:`SWEEP_INTERVAL` seconds a sweep drops those of every other one, so a registrar
left running holds the live bindings only (plus at most a sweep interval's worth).

A REGISTER is applied in two steps, so that no binding is stored behind an answer that
was never sent: :meth:`LocationTable.prepare` computes the bindings the request would
leave (refusing it as a registrar would), :meth:`LocationTable.commit` stores them
once the 200 OK that lists them went out. Three limits keep the table and its answers
bounded, each answered as Kamailio's registrar answers it (a ``P-Registrar-Error``
header says which): ``max_contacts`` per address-of-record and ``max_aors`` in all
(503 Service Unavailable), ``contact_max_size`` per Contact URI (400 Bad Request).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from testbed.sip import Address, Request, SipUri

SWEEP_INTERVAL = 60.0
"""Seconds between two sweeps of expired bindings (each costs one pass over the table)."""


@dataclass(slots=True)
class Binding:
    """One contact of an address-of-record.

    Each REGISTER compares its contact with every binding of its address-of-record (by
    ``key``) and lists them all in its 200 OK (from ``template``): both are made once,
    or handed on from the binding a refresh replaces.
    """

    contact: Address
    expires_at: float
    call_id: str
    cseq: int
    flow: object = None  # the transport flow the REGISTER arrived on
    source: tuple[str, int] | None = None
    template: str | None = field(default=None, repr=False, compare=False)
    """Its Contact header value with the ``expires`` left as a placeholder (200 OKs)."""
    key: str = field(kw_only=True, repr=False, compare=False)
    """What contacts compare by (:func:`_contact_key`)."""
    def remaining(self, now: float) -> int:
        return max(0, int(round(self.expires_at - now)))

    @property
    def uri_text(self) -> str:
        """The contact's URI as text."""
        return str(self.contact.uri)


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
    return _aor_of(uri)


@functools.lru_cache(maxsize=8192)
def _aor_of(uri: SipUri) -> str:
    """:func:`aor_of` of a SIP URI, remembered (a user's URI comes back at every refresh)."""
    user = uri.user_unescaped or ""
    return f"sip:{user}@{uri.host.lower()}" if user else f"sip:{uri.host.lower()}"


_CONTACT_TEXTS = 100_000
"""Contact texts kept for the 200 OKs (the table empties itself past it)."""

TOO_MANY_CONTACTS = "Too many registered contacts"
"""Kamailio's ``P-Registrar-Error`` when an address-of-record would exceed its contacts."""


def too_many_contacts(why: str = "") -> RegisterRejected:
    """The answer to a REGISTER that would leave too many contacts (or too many to list
    in one message): 503 with Kamailio's ``P-Registrar-Error``."""
    reason = "Service Unavailable" + (f" ({why})" if why else "")
    return RegisterRejected(503, reason, (("P-Registrar-Error", TOO_MANY_CONTACTS),))


@dataclass
class RegisterUpdate:
    """The bindings a REGISTER leaves its address-of-record with, not yet stored."""

    aor: str
    bindings: list[Binding]


@dataclass
class LocationTable:
    """Bindings by address-of-record, with RFC 3261 §10.3 expiry rules.

    ``max_contacts`` caps the contacts of one address-of-record, ``max_aors`` the
    addresses-of-record with bindings, ``contact_max_size`` the characters of one
    Contact URI; 0 means no limit.
    """

    default_expires: int = 3600
    min_expires: int = 1
    max_expires: int = 86400
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    max_contacts: int = 0
    max_aors: int = 0
    contact_max_size: int = 0
    sweep_interval: float = SWEEP_INTERVAL
    _next_sweep: float = field(default=float("-inf"), repr=False)
    _swept_at: float = field(default=float("-inf"), repr=False)
    # A contact's text with a placeholder for its expires (one per contact in use).
    _contact_texts: dict[Address, str] = field(default_factory=dict, repr=False)

    def register(self, request: Request, now: float, *, flow: object = None,
                 source: tuple[str, int] | None = None) -> list[Binding]:
        """Apply a REGISTER at once (:meth:`prepare`, then :meth:`commit`); returns the
        address-of-record's bindings afterwards."""
        update = self.prepare(request, now, flow=flow, source=source)
        self.commit(update)
        return list(update.bindings)

    def prepare(self, request: Request, now: float, *, flow: object = None,
                source: tuple[str, int] | None = None) -> RegisterUpdate:
        """What a REGISTER would leave (§10.3 steps 6-8), without storing anything.

        Raises :class:`RegisterRejected` for 400 (bad wildcard, Contact URI too long),
        423 (too brief) and 503 (too many contacts or addresses-of-record).
        """
        return self.prepare_fields(
            aor_of(request.to.uri), request.call_id, request.cseq.seq, now,
            contacts=request.contacts, star=request.contact_star, expires=request.expires,
            contact_lines=request.headers.get_all("Contact"), flow=flow, source=source)

    def prepare_fields(self, aor: str, call_id: str, cseq: int, now: float, *,
                       contacts: list[Address], star: bool, expires: int | None,
                       contact_lines: list[str], flow: object = None,
                       source: tuple[str, int] | None = None) -> RegisterUpdate:
        """:meth:`prepare` from a REGISTER's fields (its address-of-record, Call-ID,
        CSeq number, Contacts, ``Contact: *``, Expires and Contact lines): the REGISTER
        fast path reads those without building a :class:`Request`."""
        if now >= self._next_sweep:
            self.expire(now)
        known = self.bindings.get(aor)
        current = [b for b in known if b.expires_at > now] if known else []
        if star:
            # Step 6: "*" only with Expires: 0, and then removes every binding.
            if expires != 0:
                raise RegisterRejected(400, "Bad Request (Contact * needs Expires: 0)")
            for binding in current:
                if binding.call_id == call_id and cseq <= binding.cseq:
                    return RegisterUpdate(aor, current)  # out of order: ignore (step 6)
            return RegisterUpdate(aor, [])
        header_expires = expires
        limit = self.contact_max_size
        if limit and not (len(contact_lines) == 1 and len(contact_lines[0]) <= limit):
            self._check_contact_sizes(contact_lines, contacts)
        for contact in contacts:
            param = contact.param("expires") if contact.params else None
            seconds = int(param) if param is not None else header_expires
            if seconds is None:
                seconds = self.default_expires
            if 0 < seconds < self.min_expires:
                # Step 7: too brief → 423 with Min-Expires (§10.3, §20.23).
                raise RegisterRejected(423, "Interval Too Brief",
                                       (("Min-Expires", str(self.min_expires)),))
            if seconds > self.max_expires:
                seconds = self.max_expires
            # A refresh names its contact with the text it registered, parsed once (the
            # scanners' memo): the same object, so its key is the binding's.
            existing = None
            for binding in current:
                if binding.contact is contact:
                    existing = binding
                    break
            if existing is not None:
                key = existing.key
            else:
                key = _contact_key(contact)
                for binding in current:
                    if binding.key == key:
                        existing = binding
                        break
            template = None
            if existing is not None:
                if existing.call_id == call_id and cseq <= existing.cseq:
                    continue  # a stale or replayed request (step 7)
                current.remove(existing)
                if existing.contact is contact:  # the same text, parsed once (memoised)
                    template = existing.template
            if seconds > 0:
                current.append(Binding(contact, now + seconds, call_id, cseq, flow, source,
                                       template, key=key))
        if self.max_contacts and len(current) > self.max_contacts:
            raise too_many_contacts()
        if current and aor not in self.bindings and self.max_aors \
                and len(self.bindings) >= self.max_aors:
            self._sweep(now)
            if len(self.bindings) >= self.max_aors:
                raise RegisterRejected(503, "Service Unavailable", (
                    ("P-Registrar-Error", "Too many registered addresses-of-record"),))
        return RegisterUpdate(aor, current)

    def commit(self, update: RegisterUpdate) -> None:
        """Store what :meth:`prepare` computed (once the answer listing it is sent)."""
        if update.bindings:
            self.bindings[update.aor] = update.bindings
        else:
            self.bindings.pop(update.aor, None)

    def _check_contact_sizes(self, lines: list[str], contacts: list[Address]) -> None:
        """400 for a Contact URI longer than ``contact_max_size`` (Kamailio's
        ``contact_max_size``, answered with its ``P-Registrar-Error``)."""
        limit = self.contact_max_size
        if all(len(line) <= limit for line in lines):
            return  # no URI is longer than the line it is on
        if any(len(str(contact.uri)) > limit for contact in contacts):
            raise RegisterRejected(
                400, f"Bad Request (Contact URI longer than {limit} characters)",
                (("P-Registrar-Error", "Contact/received too long"),))

    def _sweep(self, now: float) -> None:
        """Sweep before the sweep interval is up (the table is full): at most once a
        second, so a full table costs one pass per second, not one per REGISTER."""
        if now - self._swept_at < 1.0:
            return
        self._swept_at = now
        self.expire(now)

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
        texts = self._contact_texts
        headers = []
        for binding in bindings:
            text = binding.template
            if text is None:
                text = texts.get(binding.contact)
                if text is None:
                    if len(texts) >= _CONTACT_TEXTS:
                        texts.clear()
                    text = texts[binding.contact] = str(
                        binding.contact.with_param("expires", "\x00"))
                binding.template = text
            headers.append(("Contact", text.replace("\x00", str(binding.remaining(now)))))
        return headers


@functools.lru_cache(maxsize=8192)
def _contact_key(contact: Address) -> str:
    """Contacts compare by URI (RFC 3261 §10.3 step 7, §19.1.4), ignoring header params."""
    uri = contact.uri
    if isinstance(uri, SipUri):
        return f"{uri.scheme}:{uri.user_unescaped}@{uri.host.lower()}:{uri.port}:{uri.transport}"
    return str(uri)
