"""What the user agent keeps while it works: its registration, and each operation's
journey (what was located, every exchange, the notes no exchange shows)."""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.internet.interfaces import IDelayedCall

from testbed.sip import Address, Request
from testbed.transport import Flow

from ._locate import Located
from ._operations import Note, RequestSequence
from ._outcome import Exchange


@dataclass
class RegistrationState:
    """The client's registration: one Call-ID and CSeq for every REGISTER (RFC 3261
    §10.2), and the binding it holds."""

    sequence: RequestSequence
    expires: int | None = None
    flow: Flow | None = None
    contact: Address | None = None
    refresh: IDelayedCall | None = None
    registered_at: float | None = None

    @property
    def call_id(self) -> str:
        return self.sequence.call_id

    @property
    def cseq(self) -> int:
        return self.sequence.cseq


@dataclass
class Journey:
    """What one operation went through: the targets located, every exchange, and the
    notes no exchange shows by itself (RFC 3261 §18.1.1 decisions, insecure trust)."""

    started: float
    located: Located = field(default_factory=lambda: Located([]))
    exchanges: list[Exchange] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


@dataclass
class Sent:
    """The flow an operation ended on (RFC 3261 §18.1.1 may switch it) and its last
    request."""

    flow: Flow
    request: Request | None = None


__all__ = ["Journey", "RegistrationState", "Sent"]
