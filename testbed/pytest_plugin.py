"""pytest plugin: scenario files are test items, selectable by transport and by row.

Installed with the package (entry point ``pytest11``), it collects the scenario files
under the folders of the ini option ``testbed_scenarios`` (paths relative to the
rootdir; ``scenarios`` when the option is absent), and any scenario file named on the
command line. A file is a scenario by its content: one YAML mapping with a ``steps``
list and at least one key only a scenario has (``client``, ``registrars``,
``troubleshooting``); any other YAML beside it (a docker-compose.yml, a CI pipeline,
even one with a ``steps`` list) is not collected and does not fail collection.
Folders named ``invalid`` are skipped, as ``testbed run`` skips them.

Each scenario carries the markers ``scenario``, its client transport (``udp``,
``tcp``, ``tls``, ``wss``, ``auto``) and its troubleshooting row as ``row_<id>`` with
``_`` for ``-`` (``row_tls_handshake_failure``, ``row_healthy``); all are registered,
so ``--strict-markers`` passes and ``pytest -m "tls and not row_healthy"`` selects.

A failed scenario prints, without a Python traceback: the expectations that did not
hold, the diagnosis with its findings and their evidence, the tail of the ladder
diagram (``testbed_ladder_lines``), and, when a report folder is configured
(``--testbed-report-dir`` or ``testbed_report_dir``), the artefacts written there. A
malformed file fails with every ``file:line: field: message``. Scenarios run on the
reactor pytest-twisted drives, with every step kind the command line knows. Where their
worlds need ports below 1024 that the user may not bind, the session moves into a
private user and network namespace once collected, as ``testbed run`` does
(:mod:`testbed.netns`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from testbed.diagnosis import ROWS
from testbed.load import load_step
from testbed.netns import isolate_worlds
from testbed.reactor import IReactor
from testbed.report import diagnosis_text, ladder_excerpt, scenario_ladder, write_scenario_report
from testbed.scenario import (
    SCENARIO_SUFFIXES,
    Scenario,
    ScenarioError,
    ScenarioResult,
    check,
    is_scenario_file,
    run,
)
from testbed.sip import MODES

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr  # what Item.repr_failure returns; not exported

SCENARIOS_INI = "testbed_scenarios"
REPORT_DIR_INI = "testbed_report_dir"
LADDER_LINES_INI = "testbed_ladder_lines"
DEFAULT_FOLDERS = ("scenarios",)
DEFAULT_LADDER_LINES = 40
SCENARIO_MARKER = "scenario"

_LADDER_LINES = pytest.StashKey[int]()


def row_marker(row: str) -> str:
    """The marker of a troubleshooting row.

    ``tls-handshake-failure`` → ``row_tls_handshake_failure``.
    """
    return "row_" + row.replace("-", "_")


# -- options, markers, collection -------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("testbed", "SIP transport testbed scenarios")
    group.addoption("--testbed-report-dir", metavar="DIR", default=None,
                    help="write each scenario's diagnosis, ladder, message log, pcap and "
                         f"TLS keys into DIR/<scenario name>/ (ini: {REPORT_DIR_INI})")
    parser.addini(SCENARIOS_INI, type="args", default=list(DEFAULT_FOLDERS),
                  help="folders (relative to the rootdir) whose scenario files are tests; "
                       "default: scenarios")
    parser.addini(REPORT_DIR_INI, default="",
                  help="folder (relative to the rootdir) for each scenario's artefacts")
    parser.addini(LADDER_LINES_INI, default=str(DEFAULT_LADDER_LINES),
                  help="ladder rows a failed scenario prints (0: none)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{SCENARIO_MARKER}: a testbed scenario file")
    for mode in MODES:
        config.addinivalue_line("markers", f"{mode}: a testbed scenario whose client "
                                           f"transport is {mode.upper()}")
    for row in ROWS:
        config.addinivalue_line("markers", f"{row_marker(row.id)}: a testbed scenario "
                                           f"reproducing the row '{row.symptom}'")
    lines = str(config.getini(LADDER_LINES_INI)).strip()
    if not lines.isdigit():
        raise pytest.UsageError(f"{LADDER_LINES_INI}: expected a number of lines, got {lines!r}")
    config.stash[_LADDER_LINES] = int(lines)
    if config.getini(SCENARIOS_INI) != list(DEFAULT_FOLDERS):
        for folder in scenario_folders(config):
            if not folder.is_dir():
                config.issue_config_time_warning(pytest.PytestConfigWarning(
                    f"{SCENARIOS_INI}: {folder} is not a folder"), stacklevel=2)


def scenario_folders(config: pytest.Config) -> list[Path]:
    """The folders of ``testbed_scenarios``, absolute (relative ones from the rootdir)."""
    return [config.rootpath / folder for folder in config.getini(SCENARIOS_INI)]


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix not in SCENARIO_SUFFIXES:
        return None
    if not (parent.session.isinitpath(file_path)
            or _in_folders(file_path, scenario_folders(parent.config))):
        return None
    if not is_scenario_file(file_path):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


def _in_folders(file_path: Path, folders: list[Path]) -> bool:
    for folder in folders:
        if file_path.is_relative_to(folder):
            return "invalid" not in file_path.relative_to(folder).parts[:-1]
    return False


class ScenarioFile(pytest.File):
    """A scenario file: one item, or one failing item naming its mistakes."""

    def collect(self) -> Iterator[pytest.Item]:
        shown = _shown_path(self.config, self.path)
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors = [ScenarioError(shown, None, "", f"cannot read: {exc}")]
            scenario = None
        else:
            errors, scenario = check(text, shown)
        if scenario is None:
            broken = BrokenScenarioItem.from_parent(self, name=self.path.stem, errors=errors)
            broken.add_marker(SCENARIO_MARKER)
            yield broken
            return
        item = ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)
        for marker in (SCENARIO_MARKER, scenario.mode, row_marker(scenario.row)):
            item.add_marker(marker)
        yield item


def _shown_path(config: pytest.Config, path: Path) -> str:
    return str(path.relative_to(config.rootpath)) if path.is_relative_to(config.rootpath) \
        else str(path)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Worlds that need ports below 1024 get a private network namespace (testbed.netns)."""
    note = isolate_worlds(i.scenario for i in session.items if isinstance(i, ScenarioItem))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if note is not None and reporter is not None:
        reporter.write_line(f"testbed: {note}")


# -- running and reporting --------------------------------------------------------------


class ScenarioFailed(Exception):
    """A scenario whose expectations did not hold (carries the result)."""

    def __init__(self, result: ScenarioResult, artefacts: Path | None) -> None:
        super().__init__(result.failures)
        self.result = result
        self.artefacts = artefacts


class ScenarioItem(pytest.Item):
    """One scenario, run on pytest-twisted's reactor and judged by its expectations."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        # Imported here, not at the top: importing the reactor installs one, and
        # pytest-twisted must install its own first (in its pytest_configure).
        try:
            import pytest_twisted  # type: ignore[import-untyped]  # ships no type information
        except ImportError:
            pytest.fail("testbed scenarios run on pytest-twisted's reactor: "
                        "pip install pytest-twisted", pytrace=False)
        from twisted.internet import defer
        from twisted.internet import reactor as global_reactor

        report_dir = _report_dir(self.config)
        keylog = _keylog(report_dir, self.scenario.name)
        running = run(self.scenario, cast(IReactor, global_reactor), keylog_path=keylog,
                      steps={"load": load_step})
        result: ScenarioResult = pytest_twisted.blockon(defer.ensureDeferred(running))
        if result.skipped:  # a client program not installed, outside CI
            pytest.skip(result.skipped)
        if result.diagnosis is not None:
            self.user_properties.append(("diagnosis", result.diagnosis.row))
            self.user_properties.append(("findings", " ".join(result.diagnosis.finding_ids)))
        artefacts = (write_scenario_report(report_dir, result, keylog)
                     if report_dir is not None else None)
        if not result.passed:
            raise ScenarioFailed(result, artefacts)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, ScenarioFailed):
            return failure_text(excinfo.value.result, excinfo.value.artefacts,
                                self.config.stash[_LADDER_LINES])
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.name}"


class BrokenScenarioItem(pytest.Item):
    """A scenario file with mistakes: fails with each ``file:line: field: message``."""

    def __init__(self, *, errors: list[ScenarioError], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.errors = errors

    def runtest(self) -> None:
        raise self.errors[0]

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        return "\n".join(str(error) for error in self.errors)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario file: {self.name}"


def _report_dir(config: pytest.Config) -> Path | None:
    given = config.getoption("testbed_report_dir")
    if given:
        return Path(given).absolute()
    configured = config.getini(REPORT_DIR_INI)
    return config.rootpath / configured if configured else None


def _keylog(report_dir: Path | None, name: str) -> str | None:
    """A fresh ``keys.log`` for the scenario's TLS keys, when there is a report folder."""
    if report_dir is None:
        return None
    folder = report_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "keys.log"
    path.write_text("", encoding="utf-8")
    return str(path)


def failure_text(result: ScenarioResult, artefacts: Path | None, ladder_lines: int) -> str:
    """What a failed scenario prints under pytest: expectations, diagnosis, findings,
    ladder excerpt, artefacts (the console's renderings, indented)."""
    lines = list(result.failures) or [f"scenario {result.scenario.name} failed"]
    if result.diagnosis is not None:
        lines += ["", "diagnosis:", f"  row: {result.diagnosis.row}"]
        lines += _indented(diagnosis_text(result.diagnosis).splitlines())
    if ladder_lines > 0:
        whole = (artefacts / "ladder.txt" if artefacts is not None
                 else "--testbed-report-dir DIR writes it")
        excerpt = ladder_excerpt(scenario_ladder(result), ladder_lines, whole)
        lines += ["", "ladder:", *_indented(excerpt.splitlines())]
    if artefacts is not None:
        lines += ["", f"artefacts in {artefacts}/:"]
        lines += [f"  {path.name}" for path in sorted(artefacts.iterdir()) if path.is_file()]
    return "\n".join(lines)


def _indented(lines: list[str]) -> list[str]:
    return [f"  {line}".rstrip() for line in lines]
