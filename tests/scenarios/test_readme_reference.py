"""README's scenario reference is the one the schema renders, and it misses no field."""

from pathlib import Path

from testbed.scenario import SCHEMA, reference_in, reference_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_readme_reference_is_current():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert reference_in(readme) == reference_markdown(), (
        "README's scenario reference is stale: run `make schema`")


def descriptions(schema):
    if isinstance(schema, dict):
        if isinstance(schema.get("description"), str):
            yield schema["description"]
        for value in schema.values():
            yield from descriptions(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from descriptions(item)


def test_the_reference_documents_every_field_of_the_schema():
    reference = reference_markdown().replace("\\|", "|")
    missing = [d for d in descriptions(SCHEMA["properties"]) if d not in reference]
    assert missing == []
