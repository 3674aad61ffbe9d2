"""The SIP endpoint under test, and the operation rules every SIP client here follows.

:class:`UserAgent` is one phone: registration, calls, failover, inbound requests.
:mod:`._operations` holds the sans-IO rules (digest rounds, 423, failover, contacts,
RFC 3261 §18.1.1) that the user agent and the load engine both drive with
:func:`drive`.
"""

from ._agent import RegistrationState, UserAgent
from ._config import LARGE_MESSAGE_POLICIES, ClientConfig
from ._drive import DriveNow, Send, SendNow, drive
from ._inbound import ALLOW, InboundAnswerer, InboundRequest
from ._locate import Located, Locator, StaticLocator
from ._operations import (
    FAILOVER_ERRORS,
    MAX_AUTH_ROUNDS,
    Note,
    Operation,
    Registration,
    RequestSequence,
    SendRequest,
    Verdict,
    contact_address,
    contact_uri,
    should_fail_over,
    targets_in_order,
    udp_size_decision,
)
from ._outcome import ERROR_KINDS, CallDetails, Dialog, Exchange, Outcome
from ._program import (
    PLACEHOLDERS,
    PROGRAM_KINDS,
    ClientProgram,
    ProgramError,
    ProgramMissing,
    ProgramSpec,
    program_spec,
)

__all__ = [
    "PLACEHOLDERS", "PROGRAM_KINDS", "ClientProgram", "ProgramError", "ProgramMissing",
    "ProgramSpec", "program_spec",
    "ALLOW", "ERROR_KINDS", "FAILOVER_ERRORS", "LARGE_MESSAGE_POLICIES", "MAX_AUTH_ROUNDS",
    "CallDetails", "ClientConfig", "Dialog", "Exchange", "InboundAnswerer", "InboundRequest",
    "DriveNow", "Located", "Locator", "Note", "Operation", "Outcome", "Registration",
    "RegistrationState", "RequestSequence", "Send", "SendNow", "SendRequest", "StaticLocator",
    "UserAgent", "Verdict",
    "contact_address", "contact_uri", "drive", "should_fail_over", "targets_in_order",
    "udp_size_decision",
]
