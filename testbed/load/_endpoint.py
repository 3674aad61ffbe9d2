"""One simulated user of the load engine: identity, registration sequence, digest state."""

from __future__ import annotations

from testbed.client import RequestSequence, contact_address
from testbed.dns import Target
from testbed.sip import DigestClient, SipUri
from testbed.transport import Flow, SipStack

from ._fast_client import RegisterSender


class _Endpoint:
    """One user: its identity, registration sequence and digest state, its contact per
    flow, and where it last succeeded."""

    __slots__ = ("index", "user", "aor", "to", "sequence", "digest", "stack", "flow",
                 "target", "busy", "sender", "_contact")

    def __init__(self, index: int, user: str, domain: str, password: str | None,
                 call_id: str) -> None:
        self.index = index
        self.user = user
        self.aor = SipUri(host=domain, user=user)
        self.to = f"<{self.aor}>"
        self.sequence = RequestSequence(call_id)
        self.digest = DigestClient(user, password) if password is not None else None
        self.stack: SipStack | None = None
        self.flow: Flow | None = None
        self.target: Target | None = None
        self.busy = False
        self.sender: RegisterSender | None = None
        """How its REGISTERs go out on the fast path (made for one flow)."""
        self._contact: tuple[tuple[str, str, int], str] | None = None

    def contact(self, flow: Flow, secure: bool) -> str:
        """The Contact header value for ``flow`` (made once per flow)."""
        key = (flow.transport, *flow.local)
        if self._contact is None or self._contact[0] != key:
            value = str(contact_address(flow.transport, flow.local, self.user, secure=secure))
            self._contact = (key, value)
        return self._contact[1]
