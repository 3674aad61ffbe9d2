"""What the client reports: one :class:`Outcome` per operation, with its exchanges.

An outcome is data, not an exception: the CLI prints its ``summary``, the scenario
runner compares its fields with expectations, and the diagnosis reads its exchanges
and the trace. ``error`` names the kind of failure in the words of the troubleshooting
table: ``timeout``, ``refused``, ``tls``, ``websocket``, ``transport``, ``dns``,
``auth`` (credentials rejected), ``rejected`` (a final error response).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from testbed.dns import QueryRecord
from testbed.sip import Address, SipUri, Timers, fmt_hostport
from testbed.transport import Flow, TlsFailure

from ._operations import Note

ERROR_KINDS = ("timeout", "refused", "unreachable", "tls", "websocket", "transport", "dns",
               "auth", "rejected", "error")


@dataclass
class Exchange:
    """One request sent to one target and what came of it."""

    method: str
    transport: str
    remote: tuple[str, int]
    started: float
    branch: str = ""
    ended: float | None = None
    status: int | None = None
    reason: str = ""
    error: str | None = None  # one of ERROR_KINDS, None when a response arrived
    detail: str = ""
    transmissions: int = 1
    tls_failure: TlsFailure | None = None
    retry_after: int | None = None  # a 503's Retry-After, seconds (RFC 3261 §20.33)
    size: int = 0  # bytes of the request as sent
    timer: str = ""  # the timer that ended a timed-out transaction: B, F, or C

    @property
    def where(self) -> str:
        return f"{fmt_hostport(self.remote)}/{self.transport}"

    def describe_failure(self, timers: Timers) -> str:
        """One line in the words of the troubleshooting table, with the evidence."""
        where = self.where
        if self.error == "timeout" and not self.transmissions and self.detail:
            return f"connection to {where} not established: {self.detail}"  # connect timeout
        if self.error == "timeout" and self.timer == "C":
            return f"{self.detail} (from {where})"
        if self.error == "timeout":
            waited = (self.ended or self.started) - self.started
            timer = "Timer B" if self.method == "INVITE" else "Timer F"
            return (f"no response to {self.method} from {where} after {self.transmissions} "
                    f"transmission(s) in {waited:.1f} s ({timer}, 64*T1 with T1 = "
                    f"{timers.t1:g} s)")
        if self.error in ("refused", "unreachable") and self.transport == "UDP":
            return f"{self.method} to {where} answered by {self.detail}"
        if self.error == "refused":
            return f"connection refused by {where}"
        if self.error == "tls":
            return f"TLS handshake with {where} failed: {self.tls_failure or self.detail}"
        if self.error == "websocket":
            return f"WebSocket upgrade at {where} failed: {self.detail}"
        if self.error == "transport":
            return f"transport failure on {where}: {self.detail}"
        if self.status is not None:
            return f"{self.status} {self.reason} from {where}"
        return f"{self.error} at {where}: {self.detail}"


@dataclass
class Dialog:
    """An established call (RFC 3261 §12): what a BYE needs."""

    call_id: str
    local: Address
    remote: Address
    remote_target: SipUri
    route_set: list[str]
    cseq: int
    flow: Flow


@dataclass
class CallDetails:
    """What a call attempt learnt of its INVITE, and the dialog it set up."""

    invite_size: int
    invite_over: str
    dialog: Dialog | None = None
    bye: str | None = None  # the BYE's summary, once the call was hung up


@dataclass
class Outcome:
    """The result of one client operation (register, unregister, options, call, bye)."""

    operation: str
    ok: bool
    summary: str
    status: int | None = None
    reason: str = ""
    error: str | None = None
    transport: str | None = None
    remote: tuple[str, int] | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    resolution: list[str] = field(default_factory=list)
    tls_failure: TlsFailure | None = None
    expires: int | None = None
    started: float = 0.0
    ended: float = 0.0
    call: CallDetails | None = None  # call: the INVITE's size and transport, the dialog
    received: bool | None = None  # inbound: did the client receive the request
    load: dict[str, Any] | None = None  # load: the load result as JSON data
    queries: list[QueryRecord] = field(default_factory=list)  # the DNS exchanges
    notes: list[Note] = field(default_factory=list)  # what no exchange shows by itself

    def __str__(self) -> str:
        return self.summary
