"""Loading scenarios: file → validated :class:`Scenario`, or a :class:`ScenarioError`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._validation import validate
from ._yaml import LocatedData, ScenarioError, load_with_lines

SCENARIO_SUFFIXES = (".yaml", ".yml")


@dataclass
class Scenario:
    """A validated scenario: its data, where each value came from, and its file."""

    path: str
    data: dict[str, Any]
    located: LocatedData

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
    errors = validate(located)
    if errors:
        return errors, None
    return [], Scenario(filename, located.data, located)


def load(path: str | Path) -> Scenario:
    """Read and validate one scenario file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), None, "", f"cannot read: {exc}") from None
    return parse(text, str(path))


def discover(paths: Sequence[str | Path]) -> list[Path]:
    """Scenario files under ``paths`` (files as given, folders searched recursively)."""
    found: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in SCENARIO_SUFFIXES
                                and p.is_file() and "invalid" not in p.parts))
        elif path.exists():
            found.append(path)
        else:
            raise ScenarioError(str(path), None, "", "no such file or folder")
    return found
