"""The page of ``testbed load --report-dir`` in headless Chromium: a real run against
our registrar in a process of its own; the page loads offline with no console error and
shows its four plots, drawn."""

from __future__ import annotations

import subprocess

from .conftest import COMMAND, ROOT, Browser


def test_the_load_page_loads_offline_and_draws_its_plots(browser: Browser, tmp_path):
    done = subprocess.run([*COMMAND, "load", "sip:example.com", "--transport", "udp",
                           "--endpoints", "10", "--count", "120", "--rate", "200",
                           "--password", "pw", "--server-process", "--no-progress",
                           "--stats-interval", "0.2", "--report-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    page, visit = browser.open(tmp_path / "index.html")
    assert (visit.console_errors, visit.page_errors, visit.outside) == ([], [], [])
    assert page.locator("#status").inner_text() == "OK"
    ids = page.eval_on_selector_all("svg.plot", "svgs => svgs.map(s => s.id)")
    assert ids == ["plot-rate", "plot-latency", "plot-errors", "plot-histogram"]
    for name in ids:
        box = page.locator(f"#{name}").bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
        lines = page.locator(f"#{name} path").count()
        assert lines > 5  # axes, ticks and the data were drawn
    assert "UDP p99" in page.locator("#plot-latency").text_content()
    assert page.locator("#latency tbody tr td").first.inner_text() == "UDP"
    page.close()
