"""The SIP endpoint under test: registration, calls, failover and inbound requests."""

from ._agent import Dialog, InboundRequest, UserAgent
from ._config import LARGE_MESSAGE_POLICIES, TRANSPORT_MODES, ClientConfig
from ._locate import Located, Locator, Target
from ._outcome import ERROR_KINDS, CallDetails, Exchange, Outcome

__all__ = [
    "ERROR_KINDS", "LARGE_MESSAGE_POLICIES", "TRANSPORT_MODES", "CallDetails", "ClientConfig",
    "Dialog", "Exchange", "InboundRequest", "Located", "Locator", "Outcome", "Target",
    "UserAgent",
]
