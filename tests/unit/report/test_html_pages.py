"""The run's index and a scenario's page as written: self-contained (nothing to fetch,
a policy that forbids fetching), every value escaped, the index's filter attributes."""

from __future__ import annotations

import re

from testbed.report import NotRun, write_index, write_scenario_page
from testbed.transport import TraceEvent

from .conftest import CLIENT, REGISTRAR, result, scenario

HOSTILE = b"MESSAGE sip:x SIP/2.0\r\nSubject: <script>alert(1)</script>\r\nCSeq: 1 MESSAGE\r\n\r\n"


def page_of(tmp_path, **kwargs) -> str:
    events = (TraceEvent(1.0, "sent", "UDP", CLIENT, REGISTRAR, "MESSAGE sip:x (CSeq 1 MESSAGE)",
                         HOSTILE, owner="client"),
              TraceEvent(1.001, "received", "UDP", REGISTRAR, CLIENT,
                         "MESSAGE sip:x (CSeq 1 MESSAGE)", HOSTILE, owner="registrar"))
    return write_scenario_page(tmp_path, result(events=events, **kwargs)).read_text()


def test_a_scenario_page_is_self_contained_and_escapes_what_it_shows(tmp_path):
    page = page_of(tmp_path)
    assert "default-src 'none'" in page  # the browser may fetch nothing
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<link" not in page.replace('<link rel="icon" href="data:,">', "")
    assert page.count("<script>") == 1  # the page's own, inline
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count('<g class="row message"') == 1  # one message, sent and received
    assert 'data-label="MESSAGE"' in page and "<h2>Timeline</h2>" in page


def test_the_index_lists_every_entry_with_its_filters(tmp_path):
    page_of(tmp_path)
    entries = [result(), result("tls-cn-only", passed=False, row="tls-handshake-failure"),
               NotRun.of(scenario("never"), "the run was interrupted by SIGINT")]
    page = write_index(tmp_path, entries, interrupted="SIGINT").read_text()
    rows = re.findall(r'<tr data-result="([^"]+)" data-transport="([^"]+)" data-row="([^"]+)">',
                      page)
    assert rows == [("passed", "UDP", "healthy"), ("failed", "UDP", "healthy"),  # declared
                    ("not-run", "UDP", "healthy")]
    assert '<a href="healthy-udp/index.html">healthy-udp</a>' in page  # its page exists
    assert "<a href=\"never/" not in page  # no page: no link
    options = re.findall(r'<select data-filter="(\w+)"', page)
    assert options == ["result", "transport", "row"]
    assert "interrupted by SIGINT" in page
