"""Benchmarks (``make bench``, ``python -m testbed.bench``): figures, never asserts.

Figures are printed and written as JSON with the machine they were taken on; nothing
about time is ever asserted.
"""

from ._main import PHASES, machine_info, main
from ._report import markdown, rows, table
from ._sipp import REGISTER_UAC, REGISTER_UAS, read_sipp_stats, write_sipp_scenarios

__all__ = [
    "PHASES", "REGISTER_UAC", "REGISTER_UAS", "machine_info", "main", "markdown",
    "read_sipp_stats", "rows", "table", "write_sipp_scenarios",
]
