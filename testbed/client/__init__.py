"""The SIP endpoint under test: registration, calls, failover and inbound requests."""

from ._agent import Dialog, InboundRequest, UserAgent
from ._config import LARGE_MESSAGE_POLICIES, TRANSPORT_MODES, ClientConfig
from ._diagnosis import QUICK_REFERENCE, ROW_IDS, ROWS, TLS_CAUSES, Diagnosis, Row, diagnose
from ._locate import Located, Locator, Target
from ._outcome import ERROR_KINDS, CallDetails, Exchange, Outcome

__all__ = [
    "ERROR_KINDS", "CallDetails", "LARGE_MESSAGE_POLICIES", "TRANSPORT_MODES", "ClientConfig", "Dialog",
    "Exchange", "InboundRequest", "QUICK_REFERENCE", "ROW_IDS", "ROWS", "TLS_CAUSES",
    "Diagnosis", "Row", "diagnose", "Located", "Locator", "Outcome", "Target", "UserAgent",
]
