"""pytest plugin: every scenario YAML under a ``scenarios/`` folder is a test item.

``pytest scenarios/`` runs the catalogue with normal pytest output; a failed scenario
prints its failed expectations and diagnosis, not a traceback, and a malformed file
fails with its ``file:line: field: message``. Scenarios run on the reactor that
pytest-twisted drives (``pytest_twisted.blockon``).
"""

from __future__ import annotations

import pytest

from ._model import SCENARIO_SUFFIXES, load
from ._yaml import ScenarioError


def pytest_collect_file(parent: pytest.Collector, file_path):  # noqa: ANN001
    if (file_path.suffix in SCENARIO_SUFFIXES and "scenarios" in file_path.parts
            and "invalid" not in file_path.parts):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFailed(Exception):
    """A scenario whose expectations did not hold (carries the result)."""

    def __init__(self, result: object) -> None:
        super().__init__(result.failures)
        self.result = result


class ScenarioFile(pytest.File):
    def collect(self):
        try:
            scenario = load(self.path)
        except ScenarioError as error:
            yield BrokenScenarioItem.from_parent(self, name=self.path.stem, error=error)
            return
        yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: object, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        import pytest_twisted
        from twisted.internet import defer, reactor

        from ._runner import run

        result = pytest_twisted.blockon(defer.ensureDeferred(run(self.scenario, reactor)))
        if not result.passed:
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo, style=None):  # noqa: ANN001
        if isinstance(excinfo.value, ScenarioFailed):
            result = excinfo.value.result
            lines = [f"scenario {self.scenario.name} failed:"]
            lines += [f"  {failure}" for failure in result.failures]
            if result.diagnosis is not None:
                lines += ["", str(result.diagnosis)]
            return "\n".join(lines)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"scenario: {self.name}"


class BrokenScenarioItem(pytest.Item):
    def __init__(self, *, error: ScenarioError, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo, style=None):  # noqa: ANN001
        return str(excinfo.value)

    def reportinfo(self):
        return self.path, 0, f"scenario file: {self.name}"
