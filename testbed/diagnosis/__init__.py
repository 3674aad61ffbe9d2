"""The troubleshooting table and the diagnosis of what any SIP client recorded.

:func:`diagnose` reads outcomes (of our user agent, of a load run, of a live check)
and returns a :class:`Diagnosis`: one row of the table with its evidence, and the
findings of the whole journey (:class:`Finding`). It sits above the client and below
the scenario runner, the reports and the command line.

A real client program under test reports nothing itself: :mod:`._observed` makes its
outcomes from what our registrars, DNS server, relays and TLS listeners saw.
"""

from ._findings import FINDING_IDS, Finding, findings_of
from ._observed import (
    CERTIFICATE_FAILURES,
    NOTE_IDS,
    Handshake,
    Listener,
    Observed,
    observed_inbound,
    observed_registration,
    program_notes,
)
from ._table import QUICK_REFERENCE, ROW_IDS, ROWS, TLS_CAUSES, Diagnosis, Row, diagnose

__all__ = ["CERTIFICATE_FAILURES", "NOTE_IDS", "Handshake", "Listener", "Observed",
           "observed_inbound", "observed_registration", "program_notes",
           "FINDING_IDS", "QUICK_REFERENCE", "ROWS", "ROW_IDS", "TLS_CAUSES", "Diagnosis",
           "Finding", "Row", "diagnose", "findings_of"]
