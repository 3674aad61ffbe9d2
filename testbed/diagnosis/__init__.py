"""The troubleshooting table and the diagnosis of what any SIP client recorded.

:func:`diagnose` reads outcomes (of our user agent, of a load run, of a live check)
and returns a :class:`Diagnosis`: one row of the table with its evidence. It sits above
the client and below the scenario runner, the reports and the command line.
"""

from ._table import QUICK_REFERENCE, ROW_IDS, ROWS, TLS_CAUSES, Diagnosis, Row, diagnose

__all__ = ["QUICK_REFERENCE", "ROWS", "ROW_IDS", "TLS_CAUSES", "Diagnosis", "Row", "diagnose"]
