"""The catalogue's HTML report in headless Chromium: every page loads offline with no
console error, a known ladder has its arrows in order, clicking an arrow shows that
message (or DNS answer, or TLS failure), and the index's filters work."""

from __future__ import annotations

from .conftest import Browser, CatalogueReport


def rows(page) -> list[dict]:
    """The ladder's rows as drawn: label, style classes, and the shaft's ends."""
    return page.eval_on_selector_all("svg.ladder g.row", """rows => rows.map(g => {
        const shaft = g.querySelector('line.shaft');
        return {label: g.dataset.label, style: g.dataset.style, classes: g.getAttribute('class'),
                y: Number(g.querySelector('rect.band').getAttribute('y')),
                x1: shaft ? Number(shaft.getAttribute('x1')) : null,
                x2: shaft ? Number(shaft.getAttribute('x2')) : null};
    })""")


def columns(page) -> dict[str, float]:
    return dict(page.eval_on_selector_all("svg.ladder g.party", """gs => gs.map(g => [
        g.dataset.party, Number(g.querySelector('line.party-line').getAttribute('x1'))])"""))


def shown_detail(page) -> str:
    sections = page.locator("section.detail:visible")
    assert sections.count() == 1
    return sections.inner_text()


def test_every_page_of_the_catalogue_loads_offline_without_a_console_error(
        browser: Browser, catalogue_report: CatalogueReport):
    scenarios = catalogue_report.results["scenarios"]
    pages = [catalogue_report.folder / "index.html"]
    pages += [catalogue_report.page(s["name"]) for s in scenarios]
    assert len(pages) == catalogue_report.results["requested"] + 1 > 40
    drawn = {catalogue_report.page(s["name"]) for s in scenarios if s["status"] != "skipped"}
    for path in pages:
        page, visit = browser.open(path)
        assert (visit.console_errors, visit.page_errors, visit.outside) == ([], [], []), path
        remote = page.eval_on_selector_all(
            "[src], link[href], object[data]",
            "els => els.map(e => e.src || e.href || e.data).filter(u => /^https?:/.test(u))")
        assert remote == [], path
        assert page.locator("h1").count() == 1
        if path in drawn:  # a skipped one (a client program missing) has no exchange
            assert page.locator("svg.ladder g.row").count() > 0, path
            for link in page.eval_on_selector_all("#artefacts a", "as => as.map(a => a.href)"):
                assert link.startswith("file:") and (path.parent / link.rsplit("/", 1)[1]).exists()
        page.close()


def test_the_index_links_every_scenario_to_its_page(browser: Browser,
                                                    catalogue_report: CatalogueReport):
    page, _ = browser.open(catalogue_report.folder / "index.html")
    links = page.eval_on_selector_all("#scenarios tbody a", "as => as.map(a => a.textContent)")
    assert links == [s["name"] for s in catalogue_report.results["scenarios"]]
    page.click("#scenarios a:text-is('healthy-udp')")
    page.wait_for_load_state()
    assert page.url.endswith("/healthy-udp/index.html")
    assert page.locator("#status").inner_text() == "PASS"
    page.close()


def test_the_ladder_of_a_firewall_drop_shows_every_retransmission_dropped(
        browser: Browser, catalogue_report: CatalogueReport):
    page, _ = browser.open(catalogue_report.page("firewall-drop-udp"))
    drawn = rows(page)
    x = columns(page)
    assert list(x)[:3] == ["client", "fault proxy", "pbx"]  # the registrar nothing reached too
    registers = [r for r in drawn if r["label"] == "REGISTER"]
    assert len(registers) == 11  # T1 .. Timer F (64*T1): RFC 3261 §17.1.2.2
    assert [r["style"] for r in registers] == ["dropped"] * 11
    assert [("retransmission" in r["classes"]) for r in registers] == [False] + [True] * 10
    assert all(r["x1"] == x["client"] and r["x2"] > r["x1"] for r in registers)
    assert drawn[-1]["style"] == "timeout" and "Timer F" in drawn[-1]["label"]
    assert [r["y"] for r in drawn] == sorted(r["y"] for r in drawn)
    # 11 REGISTERs and Timer F, and the firewall's policy among the notes (a loaded
    # machine may add a note, never an arrow)
    assert len([r for r in drawn if r["style"] != "note"]) == 12
    assert "· fault firewall: policy" in [r["label"] for r in drawn if r["style"] == "note"]
    page.close()


def test_the_ladder_of_a_healthy_registration_runs_in_order_and_shows_each_message(
        browser: Browser, catalogue_report: CatalogueReport):
    page, _ = browser.open(catalogue_report.page("healthy-udp"))
    drawn = [r for r in rows(page) if r["style"] == "message"]
    x = columns(page)
    first = [(r["label"], r["x1"], r["x2"]) for r in drawn[:4]]
    assert first == [("REGISTER", x["client"], x["pbx"] - 4),
                     ("401 Unauthorized", x["pbx"], x["client"] + 4),
                     ("REGISTER", x["client"], x["pbx"] - 4),
                     ("200 OK", x["pbx"], x["client"] + 4)]
    assert page.locator("section.detail:visible").count() == 0
    page.locator("svg.ladder g.row[data-label='401 Unauthorized']").first.click()
    detail = shown_detail(page)
    assert "SIP/2.0 401 Unauthorized" in detail and "WWW-Authenticate: Digest" in detail
    assert page.locator("svg.ladder g.row.selected").get_attribute("data-label") == \
        "401 Unauthorized"
    page.locator("svg.ladder g.row[data-label='REGISTER']").nth(1).click()
    detail = shown_detail(page)
    assert detail.count("REGISTER sip:") == 1 and "Authorization: Digest" in detail
    assert page.locator("#timeline tbody tr").count() == len(rows(page))
    page.close()


def test_clicking_a_dns_query_shows_its_answer_and_a_tls_failure_its_reason(
        browser: Browser, catalogue_report: CatalogueReport):
    page, _ = browser.open(catalogue_report.page("auto-srv-failover"))
    dns = [r for r in rows(page) if r["style"] == "dns"]
    assert dns and all(r["x2"] == columns(page)["DNS"] + 4 for r in dns)
    page.locator("svg.ladder g.row.dns").first.click()
    detail = shown_detail(page)
    assert "NAPTR" in detail and "DNS answer" in detail and "NOERROR" in detail
    assert "refused" in [r["style"] for r in rows(page)]
    page.close()
    page, _ = browser.open(catalogue_report.page("tls-expired"))
    page.locator("svg.ladder g.row.tls-failed").first.click()
    detail = shown_detail(page)
    assert "TLS handshake" in detail and "expired" in detail
    page.close()


def test_the_index_filters_by_result_transport_and_row(browser: Browser,
                                                       catalogue_report: CatalogueReport):
    scenarios = catalogue_report.results["scenarios"]
    page, _ = browser.open(catalogue_report.folder / "index.html")
    visible = "#scenarios tbody tr:visible"
    assert page.locator(visible).count() == len(scenarios)
    page.select_option("#filter-transport", "TLS")
    tls = [s["name"] for s in scenarios if s["mode"] == "tls"]
    assert page.locator(f"{visible} a").all_inner_texts() == tls
    assert page.locator("#shown").inner_text() == str(len(tls))
    page.select_option("#filter-row", "tls-handshake-failure")
    both = [s["name"] for s in scenarios
            if s["mode"] == "tls" and s["troubleshooting"] == "tls-handshake-failure"]
    assert 0 < len(both) < len(tls)
    assert page.locator(f"{visible} a").all_inner_texts() == both
    page.select_option("#filter-transport", "")
    page.select_option("#filter-row", "")
    page.select_option("#filter-result", "passed")
    assert page.locator(visible).count() == sum(s["status"] == "passed" for s in scenarios)
    page.close()
