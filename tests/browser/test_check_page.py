"""The page of ``testbed check --report-dir`` in headless Chromium: it loads offline with
no console error, and the matrix links each check to its section."""

from __future__ import annotations

from testbed.check import CheckReport, Discovery, TargetCheck
from testbed.diagnosis import Diagnosis, Finding
from testbed.report import write_check_page
from testbed.sip import Transport

from .conftest import Browser

EXPIRED = Diagnosis("tls-handshake-failure", "TLS handshake failure",
                    "The server certificate has expired", "Install a valid certificate.",
                    ("expired: certificate for sip.example.com expired 2026-12-02",),
                    (Finding("tls-handshake-failure", "pbx.sip.example.com:5061/TLS: "
                             "certificate expired", ()),))
HEALTHY = Diagnosis("healthy", "No problem", "Registration works", "Nothing to fix.", (), ())


def test_the_check_page_loads_offline_and_links_each_check(browser: Browser, tmp_path):
    report = CheckReport("sip:sip.example.com", Discovery(
        "sip.example.com", naptr_outcome="no records", address_outcome="127.0.0.5"), [
        TargetCheck(Transport.UDP, "pbx.sip.example.com:5060", "SRV _sip._udp", True, HEALTHY,
                    ["OPTIONS answered 200 OK"]),
        TargetCheck(Transport.TLS, "pbx.sip.example.com:5061", "SRV _sips._tcp", False,
                    EXPIRED, ["TLS handshake failed: expired"], "CN=sip.example.com, expired")])
    path = write_check_page(tmp_path, report)
    page, visit = browser.open(path)
    assert (visit.console_errors, visit.page_errors, visit.outside) == ([], [], [])
    assert page.locator("#status").inner_text() == "FAIL"
    assert page.locator("#totals").inner_text().startswith("1 of 2 checks passed")
    rows = page.locator("#checks tbody tr")
    assert [rows.nth(i).get_attribute("data-result") for i in range(2)] == ["passed", "failed"]
    page.click("#checks a:text-is('pbx.sip.example.com:5061')")
    assert page.url.endswith("#check-1")
    section = page.locator("#check-1").inner_text()
    assert "The server certificate has expired" in section and "Install a valid" in section
    page.close()
