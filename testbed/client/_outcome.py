"""What the client reports: one :class:`Outcome` per operation, with its exchanges.

An outcome is data, not an exception: the CLI prints its ``summary``, the scenario
runner compares its fields with expectations, and the diagnosis reads its exchanges
and the trace. ``error`` names the kind of failure in the words of the troubleshooting
table: ``timeout``, ``refused``, ``tls``, ``websocket``, ``transport``, ``dns``,
``auth`` (credentials rejected), ``rejected`` (a final error response).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._agent import Dialog

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
    tls_failure: object = None

    @property
    def where(self) -> str:
        host, port = self.remote
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{port}/{self.transport}"


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
    tls_failure: object = None
    expires: int | None = None
    started: float = 0.0
    ended: float = 0.0
    call: CallDetails | None = None  # call: the INVITE's size and transport, the dialog
    received: bool | None = None  # inbound: did the client receive the request
    load: dict[str, Any] | None = None  # load: the load result as JSON data

    def __str__(self) -> str:
        return self.summary
