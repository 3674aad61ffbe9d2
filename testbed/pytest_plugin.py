"""pytest plugin: every scenario YAML under a ``scenarios/`` folder is a test item.

``pytest scenarios/`` runs the catalogue with normal pytest output; a failed scenario
prints its failed expectations and diagnosis, not a traceback, and a malformed file
fails with its ``file:line: field: message``. Scenarios run on the reactor that
pytest-twisted drives (``pytest_twisted.blockon``), with every step kind the command
line knows (the ``load`` step included).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from testbed.load import load_step
from testbed.netns import isolate_worlds
from testbed.reactor import IReactor
from testbed.scenario import SCENARIO_SUFFIXES, Scenario, ScenarioError, ScenarioResult, load, run

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr  # what Item.repr_failure returns; not exported


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if (file_path.suffix in SCENARIO_SUFFIXES and "scenarios" in file_path.parts
            and "invalid" not in file_path.parts):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFailed(Exception):
    """A scenario whose expectations did not hold (carries the result)."""

    def __init__(self, result: ScenarioResult) -> None:
        super().__init__(result.failures)
        self.result = result


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            scenario = load(self.path)
        except ScenarioError as error:
            yield BrokenScenarioItem.from_parent(self, name=self.path.stem, error=error)
            return
        yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        import pytest_twisted  # type: ignore[import-untyped]  # it ships no type information
        from twisted.internet import defer
        from twisted.internet import reactor as global_reactor  # pytest-twisted installed it

        reactor = cast(IReactor, global_reactor)
        running = run(self.scenario, reactor, steps={"load": load_step})
        result = pytest_twisted.blockon(defer.ensureDeferred(running))
        if not result.passed:
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, ScenarioFailed):
            result = excinfo.value.result
            lines = [f"scenario {self.scenario.name} failed:"]
            lines += [f"  {failure}" for failure in result.failures]
            if result.diagnosis is not None:
                lines += ["", str(result.diagnosis)]
            return "\n".join(lines)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.name}"


class BrokenScenarioItem(pytest.Item):
    def __init__(self, *, error: ScenarioError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        return str(excinfo.value)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario file: {self.name}"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Worlds that need ports below 1024 get a private network namespace (testbed.netns)."""
    note = isolate_worlds(i.scenario for i in session.items if isinstance(i, ScenarioItem))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if note is not None and reporter is not None:
        reporter.write_line(f"testbed: {note}")
