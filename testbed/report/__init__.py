"""Renderers of results: console, JSON, JUnit, and per-scenario artefacts.

They never decide pass or fail (the runner did); they only say it. A report lists
every requested scenario: a :class:`~testbed.scenario.ScenarioResult` for one that
ran, a :class:`NotRun` for one that did not (never counted as passed).
"""

from ._check_report import check_json, check_text, write_check_json, write_check_junit
from ._console import (
    RunConsole,
    is_plain,
    make_console,
    progress_line,
    progress_text,
    summary_renderable,
    summary_table,
    verbose_text,
)
from ._html_check import write_check_page
from ._html_load import LoadRun, write_load_page
from ._html_run import page_path, write_index, write_scenario_page, write_served_page
from ._json_junit import entry_json, result_json, write_json, write_junit
from ._ladder import LadderModel, LadderRow, Party, ladder_model
from ._ladder_text import ladder, ladder_text, message_log
from ._live import LiveLog, dns_line, live_line
from ._pcap import PcapngWriter, PcapStream, write_pcap
from ._report_dir import (
    scenario_ladder,
    write_artefacts,
    write_scenario_report,
    write_served_ladder,
    write_world_page,
)
from ._status import FAILED, NOT_RUN, PASSED, Entry, NotRun, counts, status, totals_line
from ._summary import (
    catalogue_markdown,
    catalogue_table,
    diagnosis_text,
    failure_details,
    format_duration,
    ladder_excerpt,
)

__all__ = [
    "catalogue_markdown", "catalogue_table", "check_json", "check_text", "counts",
    "diagnosis_text", "dns_line", "Entry", "entry_json", "FAILED", "failure_details",
    "format_duration", "is_plain", "ladder", "ladder_excerpt", "ladder_model",
    "ladder_text", "LadderModel", "LadderRow", "live_line", "LiveLog", "LoadRun",
    "make_console", "message_log", "NOT_RUN", "NotRun", "page_path", "Party", "PASSED",
    "PcapngWriter", "PcapStream", "progress_line", "progress_text", "result_json",
    "RunConsole", "scenario_ladder", "status", "summary_renderable", "summary_table",
    "totals_line", "verbose_text", "write_artefacts", "write_check_json",
    "write_check_junit", "write_check_page", "write_index", "write_json", "write_junit",
    "write_load_page", "write_pcap", "write_scenario_page", "write_scenario_report",
    "write_served_ladder", "write_served_page", "write_world_page",
]
