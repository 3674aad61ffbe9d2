"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``) driven
by Playwright through its own path (``TESTBED_CHROMIUM`` overrides it).

A missing browser (or Playwright) fails the tests when ``CI`` is set (``.ci/run``
installs it) and skips them elsewhere, naming what to install. Every page is opened in
a context that is offline and refuses any request that is not a local file: a page that
needed the network would show it as a failed request and a console error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "testbed.cli"]
INSTALL = ("apt-get install chromium (Debian's package; or set TESTBED_CHROMIUM to a "
           "Chromium binary) and pip install playwright (the [test] extra)")


def missing(message: str) -> None:
    """Fail in CI (where .ci/run installs the browser), skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def chromium_path() -> str | None:
    given = os.environ.get("TESTBED_CHROMIUM")
    if given:
        return given if Path(given).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/local/bin")
        if found:
            return found
    return None


@dataclass
class Visit:
    """What one page did in the browser: console errors, page errors, requests that
    went anywhere but a local file."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


class Browser:
    """One offline browser context: :meth:`open` a report file, get the page and what it
    did. ``outside`` lists every request that was not for a local file (all refused)."""

    def __init__(self, context: Any, outside: list[str]) -> None:
        self.context = context
        self.outside = outside

    def open(self, path: Path) -> tuple[Any, Visit]:
        visit = Visit()
        before = len(self.outside)
        page = self.context.new_page()
        page.on("console", lambda m: visit.console_errors.append(m.text)
                if m.type == "error" else None)
        page.on("pageerror", lambda e: visit.page_errors.append(str(e)))
        page.goto(path.resolve().as_uri(), wait_until="load")
        visit.outside += self.outside[before:]
        return page, visit


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        missing(f"no Chromium found: {INSTALL}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing(f"Playwright is not installed: {INSTALL}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        context = chromium.new_context(offline=True, java_script_enabled=True)
        outside: list[str] = []

        def guard(route: Any) -> None:
            url = route.request.url
            if url.startswith(("file:", "data:", "about:")):
                route.continue_()
            else:
                outside.append(url)
                route.abort()

        context.route("**/*", guard)
        try:
            yield Browser(context, outside)
        finally:
            context.close()
            chromium.close()


@dataclass(frozen=True)
class CatalogueReport:
    folder: Path
    results: dict[str, Any]

    def page(self, name: str) -> Path:
        return self.folder / name / "index.html"


@pytest.fixture(scope="session")
def catalogue_report(tmp_path_factory: pytest.TempPathFactory) -> CatalogueReport:
    """The whole catalogue run by the real command with ``--report-dir``."""
    folder = tmp_path_factory.mktemp("report")
    done = subprocess.run([*COMMAND, "run", "scenarios", "--report-dir", str(folder),
                           "--json", str(folder / "results.json")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_COLOR": "1"})
    assert (folder / "index.html").exists(), done.stderr[-3000:]
    return CatalogueReport(folder, json.loads((folder / "results.json").read_text()))
