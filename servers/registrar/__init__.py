"""The mock registrar/PBX and its location service."""

from ._location import Binding, LocationTable, RegisterRejected, aor_of
from ._registrar import (
    INVITE_CHALLENGES,
    RECEIVED_LIMIT,
    UNKNOWN_USER_ANSWERS,
    Received,
    Registrar,
    RegistrarConfig,
)

__all__ = ["INVITE_CHALLENGES", "RECEIVED_LIMIT", "UNKNOWN_USER_ANSWERS", "Binding",
           "LocationTable", "Received", "RegisterRejected", "Registrar", "RegistrarConfig",
           "aor_of"]
