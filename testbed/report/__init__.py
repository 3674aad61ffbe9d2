"""Renderers of results: console, JSON, JUnit, and per-scenario artefacts.

They never decide pass or fail (the runner did); they only say it.
"""

from ._json_junit import write_json, write_junit
from ._ladder import ladder, message_log
from ._pcap import PcapngWriter, PcapStream, write_pcap
from ._report_dir import write_artefacts, write_scenario_report
from ._summary import (
    catalogue_markdown,
    catalogue_table,
    failure_details,
    progress_line,
    summary_table,
)

__all__ = [
    "PcapStream", "PcapngWriter",
    "catalogue_markdown", "catalogue_table", "failure_details", "ladder", "message_log",
    "progress_line", "summary_table", "write_artefacts", "write_json",
    "write_junit", "write_pcap", "write_scenario_report",
]
