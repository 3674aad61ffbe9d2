"""The mock registrar/PBX and its location service."""

from ._location import (
    TOO_MANY_CONTACTS,
    Binding,
    LocationTable,
    RegisterRejected,
    RegisterUpdate,
    aor_of,
)
from ._policy import REGISTRAR_POLICIES, authorise
from ._registrar import (
    INVITE_CHALLENGES,
    RECEIVED_LIMIT,
    UNKNOWN_USER_ANSWERS,
    Received,
    Registrar,
    RegistrarConfig,
)

__all__ = ["INVITE_CHALLENGES", "RECEIVED_LIMIT", "REGISTRAR_POLICIES", "TOO_MANY_CONTACTS",
           "UNKNOWN_USER_ANSWERS", "Binding", "LocationTable", "Received", "RegisterRejected",
           "RegisterUpdate", "Registrar", "RegistrarConfig", "aor_of", "authorise"]
