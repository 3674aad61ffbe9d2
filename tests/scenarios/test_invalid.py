"""Broken scenario files get one line: file:line: field: message. Never a traceback."""

from pathlib import Path

import pytest

from testbed.scenario import check

INVALID = sorted((Path(__file__).parent / "invalid").glob("*.yaml"))


def expected_error(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: ...'"
    return first[len("# expect: "):]


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_scenario_names_file_line_and_field(path):
    errors, scenario = check(path.read_text(encoding="utf-8"), path.name)
    assert scenario is None
    assert str(errors[0]) == expected_error(path)


def test_there_are_invalid_examples():
    assert len(INVALID) >= 8
