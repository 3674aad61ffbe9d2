"""The mock registrar/PBX and its location service."""

from ._location import Binding, LocationTable, RegisterRejected, aor_of
from ._registrar import Received, Registrar, RegistrarConfig

__all__ = ["Binding", "LocationTable", "Received", "RegisterRejected", "Registrar",
           "RegistrarConfig", "aor_of"]
