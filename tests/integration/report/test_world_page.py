"""``write_world_page``: the scenario page of what a served world saw (``testbed serve
--report-dir``), from the world's own records: an outside client (``testbed check``, as
a softphone would) registers, the page shows its exchanges with the registrar and DNS."""

from __future__ import annotations

import re

import pytest_twisted
from twisted.internet import reactor

from testbed.check import ProbeSettings, run_check
from testbed.dns.client import DnsClient
from testbed.report import write_world_page
from testbed.scenario import World, parse
from testbed.sip import Timers, parse_uri

from ..check.test_check import HEALTHY


@pytest_twisted.ensureDeferred
async def test_the_page_of_a_served_world_shows_what_its_visitors_did(tmp_path):
    world = World(parse(HEALTHY, "served.yaml"), reactor, workdir=tmp_path / "work")
    world.start()
    dns = DnsClient([world.dns_address], reactor)
    try:
        report = await run_check(reactor, ProbeSettings(
            parse_uri("sip:sip.example.com"), ca_file=str(world.ca_file), user="alice",
            password="secret", timers=Timers.scaled(0.02)), dns)
    finally:
        dns.close()
        await world.stop()
    assert report.ok

    path = write_world_page(tmp_path / "report", world, duration=1.5)
    assert path == tmp_path / "report" / "check-healthy" / "index.html"
    page = path.read_text(encoding="utf-8")
    assert "SERVED</span>" in page and "what testbed serve served" in page
    labels = re.findall(r'data-label="([^"]*)"', page)
    assert labels.count("REGISTER") >= 2 and "401 Unauthorized" in labels
    assert 'class="row dns"' in page  # the check's NAPTR/SRV/A queries
    assert "registrar pbx" in page and "<h2>World</h2>" in page
    assert (path.parent / "ladder.txt").read_text().count("REGISTER") >= 2
    assert "REGISTER sip:" in (path.parent / "messages.log").read_text()
