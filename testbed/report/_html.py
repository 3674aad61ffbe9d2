"""The HTML pages' one template environment (Jinja2, the templates shipped in the package).

Every page is one self-contained file: its CSS, script and drawings are inline, and its
Content-Security-Policy lets the browser load nothing at all, so a page opens offline,
attached to a ticket, exactly as it was written. Links to the artefacts beside it
(capture, key log, message log) are plain navigations.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

PAGE_FILE = "index.html"
"""A scenario's page in its artefact folder (``DIR/<scenario>/index.html``), and the
run's page at the top (``DIR/index.html``)."""


@cache
def environment() -> jinja2.Environment:
    """Templates from ``testbed/report/templates``; every value escaped; undefined names
    are errors (a template's typo fails the tests, never shows an empty cell)."""
    return jinja2.Environment(loader=jinja2.PackageLoader("testbed.report", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render(template: str, **context: Any) -> str:
    """The page ``template`` with ``context``."""
    return environment().get_template(template).render(**context)


def write_page(path: Path, template: str, **context: Any) -> Path:
    """Render ``template`` into ``path`` (its folder made if needed); return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(template, **context), encoding="utf-8")
    return path
