"""Renderers of results: console, JSON, JUnit, and per-scenario artefacts."""

from ._artefacts import write_artefacts
from ._ladder import ladder, message_log
from ._machine import result_json, write_json, write_junit
from ._pcap import write_pcap
from ._scenario import write_scenario_report
from ._summary import (
    catalogue_markdown,
    catalogue_table,
    failure_details,
    progress_line,
    summary_table,
)

__all__ = [
    "catalogue_markdown", "catalogue_table", "failure_details", "progress_line", "result_json",
    "summary_table",
    "write_json", "write_junit", "write_scenario_report",
    "ladder", "message_log", "write_artefacts", "write_pcap",
]
