"""Broken scenario files get one line: file:line: field: message. Never a traceback."""

from pathlib import Path

import pytest

from testbed.scenario import ScenarioError, check, discover

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
    assert len(INVALID) >= 28


SCENARIO = (Path(__file__).parent / "invalid" / "unknown-field.yaml").read_text(encoding="utf-8")


def test_an_empty_folder_says_why_nothing_ran(tmp_path):
    with pytest.raises(ScenarioError) as raised:
        discover([tmp_path])
    assert str(raised.value) == (f"{tmp_path}: no scenario files (*.yaml or *.yml with a "
                                 f"top-level `steps` list) under {tmp_path}")


def test_other_yaml_is_never_taken_for_a_scenario(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services:\n  pbx: {image: kamailio}\n")
    (tmp_path / "pipeline.yml").write_text("name: ci\nsteps:\n  - run: make test\n")
    with pytest.raises(ScenarioError) as raised:
        discover([tmp_path])
    assert str(raised.value).endswith(
        f"under {tmp_path}; 2 other YAML file(s) skipped, e.g. {tmp_path}/docker-compose.yml")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "typo.yaml").write_text(SCENARIO)   # broken, but a scenario
    assert discover([tmp_path]) == [tmp_path / "sub" / "typo.yaml"]


def test_hidden_and_invalid_folders_are_skipped_unless_named(tmp_path):
    for folder in (".venv/lib", "invalid", "ok"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "s.yaml").write_text(SCENARIO)
    assert discover([tmp_path]) == [tmp_path / "ok" / "s.yaml"]
    assert discover([tmp_path / "invalid"]) == [tmp_path / "invalid" / "s.yaml"]


def test_no_path_means_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SCENARIO)
    assert discover([]) == [Path("s.yaml")]


def test_a_missing_path_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ScenarioError) as raised:
        discover(["scenarios"])
    assert str(raised.value) == (f"scenarios: no such file or folder (looked for "
                                 f"{tmp_path.resolve()}/scenarios)")
