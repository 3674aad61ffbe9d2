"""Loading scenarios: file → validated :class:`Scenario`, or a :class:`ScenarioError`.

A scenario file is a YAML mapping with a ``steps`` list (:func:`is_scenario_file`: the one
rule that tells scenarios from other YAML); :func:`discover` finds them in folders by that content
(other YAML, such as a docker-compose.yml, is left alone) and says why when a folder
holds none.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._durations import Duration, in_seconds
from ._schema import DURATION_PATHS
from ._validation import normalise_case, validate
from ._yaml import FieldPath, LocatedData, ScenarioError, load_with_lines

SCENARIO_SUFFIXES = (".yaml", ".yml")
WHAT_A_SCENARIO_IS = "*.yaml or *.yml with a top-level `steps` list"
SCENARIO_ONLY_KEYS = frozenset({"client", "registrars", "troubleshooting"})
"""Top-level keys that tell a scenario from other YAML with a ``steps`` list."""
_STEPS_LINE = re.compile(r"^steps\s*:", re.MULTILINE)


@dataclass
class Scenario:
    """A validated scenario: the data it runs, where each value came from, and its file.

    ``data`` is what the world and the runner read: every duration in seconds, scaled
    by ``time_scale``. The file as written is ``located.data`` (:attr:`stated`);
    :attr:`durations` holds each duration both ways, for reports to show "wait 30 s
    (3 s scaled)" (:meth:`duration`).
    """

    path: str
    data: dict[str, Any]
    located: LocatedData
    time_scale: float = 1.0
    durations: dict[FieldPath, Duration] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def row(self) -> str:
        return str(self.data["troubleshooting"])

    @property
    def mode(self) -> str:
        return str(self.data["client"]["transport"])

    @property
    def description(self) -> str:
        return str(self.data.get("description", "")).strip()

    @property
    def proves(self) -> str:
        return str(self.data.get("proves", "")).strip()

    @property
    def stated(self) -> dict[str, Any]:
        """The document as the file states it (durations as written, unscaled)."""
        assert isinstance(self.located.data, dict)
        return self.located.data

    def duration(self, path: FieldPath) -> Duration | None:
        """The duration at ``path`` (e.g. ``("steps", 2, "wait")``), stated and scaled."""
        return self.durations.get(tuple(path))


def parse(text: str, filename: str) -> Scenario:
    """Validate ``text``; raise the first :class:`ScenarioError` (see :func:`check`)."""
    errors, scenario = check(text, filename)
    if errors:
        raise errors[0]
    assert scenario is not None
    return scenario


def check(text: str, filename: str) -> tuple[list[ScenarioError], Scenario | None]:
    """All errors of a scenario text (empty when valid) and the scenario if valid."""
    try:
        located = load_with_lines(text, filename)
    except ScenarioError as error:
        return [error], None
    if not isinstance(located.data, dict):
        message = "a scenario is a mapping (name:, client:, ...)"
        return [ScenarioError(filename, 1, "", message)], None
    normalise_case(located.data)
    errors = validate(located)
    if errors:
        return errors, None
    scale = float(located.data.get("time_scale", 1))
    data, durations = in_seconds(located.data, DURATION_PATHS, scale)
    return [], Scenario(filename, data, located, scale, durations)


def load(path: str | Path) -> Scenario:
    """Read and validate one scenario file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), None, "", f"cannot read: {exc}") from None
    return parse(text, str(path))


def is_scenario_file(path: Path) -> bool:
    """Whether ``path`` holds a scenario: one YAML mapping with a ``steps`` list and a
    key only a scenario has (:data:`SCENARIO_ONLY_KEYS`).

    A file that is not YAML at all counts when it has a top-level ``steps:`` line, so a
    scenario with a syntax error still fails with its ``file:line``.
    """
    if path.suffix not in SCENARIO_SUFFIXES or not path.is_file():
        return False
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return _STEPS_LINE.search(text) is not None
    if len(documents) != 1 or not isinstance(documents[0], yaml.MappingNode):
        return False
    keys = {key.value: value for key, value in documents[0].value
            if isinstance(key, yaml.ScalarNode)}
    return (isinstance(keys.get("steps"), yaml.SequenceNode)
            and not SCENARIO_ONLY_KEYS.isdisjoint(keys))


def discover(paths: Sequence[str | Path]) -> list[Path]:
    """Scenario files under ``paths`` (files as given, folders searched recursively).

    In folders, a scenario file is one :func:`is_scenario_file` accepts, outside hidden
    folders and folders named ``invalid`` (broken examples kept for tests). No
    ``paths`` means the current directory. A path that does not exist, or a folder
    with no scenario file, raises :class:`ScenarioError` saying where it looked.
    """
    found: list[Path] = []
    for item in paths or ["."]:
        path = Path(item)
        if path.is_dir():
            files = _yaml_files(path)
            scenarios = [p for p in files if is_scenario_file(p)]
            if not scenarios:
                other = (f"; {len(files)} other YAML file(s) skipped, e.g. {files[0]}"
                         if files else "")
                raise ScenarioError(str(path), None, "", f"no scenario files "
                                    f"({WHAT_A_SCENARIO_IS}) under {path.resolve()}{other}")
            found.extend(scenarios)
        elif path.exists():
            found.append(path)
        else:
            raise ScenarioError(str(path), None, "", f"no such file or folder (looked for "
                                f"{path.resolve()})")
    return found


def _yaml_files(folder: Path) -> list[Path]:
    """YAML files below ``folder``, not descending into hidden or ``invalid`` folders."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "invalid"]
        found += [Path(root, name) for name in files if Path(name).suffix in SCENARIO_SUFFIXES]
    return sorted(found)
