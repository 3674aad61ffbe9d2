"""Renderers of results: console, JSON, JUnit, and per-scenario artefacts."""

from ._machine import result_json, write_json, write_junit
from ._scenario import write_scenario_report
from ._summary import catalogue_table, failure_details, progress_line, summary_table

__all__ = [
    "catalogue_table", "failure_details", "progress_line", "result_json", "summary_table",
    "write_json", "write_junit", "write_scenario_report",
]
