"""The README's catalogue table is the one `testbed list --markdown` prints."""

from pathlib import Path

from testbed.diagnosis import ROWS
from testbed.report import catalogue_markdown
from testbed.scenario import discover, load

ROOT = Path(__file__).resolve().parents[2]


def test_readme_catalogue_is_current(monkeypatch):
    monkeypatch.chdir(ROOT)
    scenarios = [load(path) for path in discover(["scenarios"])]
    table = catalogue_markdown(scenarios, {row.id: row for row in ROWS})
    assert table in (ROOT / "README.md").read_text(encoding="utf-8"), (
        "README catalogue is stale: paste `testbed list --markdown` into it")


def test_every_row_of_the_table_has_a_scenario():
    scenarios = [load(path) for path in discover([ROOT / "scenarios"])]
    covered = {s.row for s in scenarios}
    missing = {row.id for row in ROWS} - covered - {"unclassified"}
    assert not missing, f"rows without a scenario: {sorted(missing)}"
