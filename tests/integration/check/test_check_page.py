"""``testbed check --report-dir DIR``: the real command against a live world writes one
self-contained page for the deployment (its verdict, discovery, matrix, each check)."""

from __future__ import annotations

import sys

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.utils import getProcessOutputAndValue

from testbed.scenario import World, parse

from .test_check import BROKEN


@pytest_twisted.ensureDeferred
async def test_the_command_writes_the_deployments_page(tmp_path):
    world = World(parse(BROKEN, "check.yaml"), reactor, workdir=tmp_path)
    world.start()
    try:
        host, port = world.dns_address[:2]
        out, err, code = await getProcessOutputAndValue(sys.executable, [
            "-m", "testbed.cli", "check", "sip:sip.example.com", "--dns", f"{host}:{port}",
            "--ca", str(world.ca_file), "--t1", "20ms", "--user", "alice", "--password",
            "secret", "--report-dir", str(tmp_path / "report")], env=None, reactor=reactor)
    finally:
        await world.stop()
    assert code == 1, err.decode()
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "FAIL</span>" in page and "0 of 2 checks passed" in page
    assert "<code>message-too-large</code>" in page and "<code>tls-handshake-failure</code>" in page
    assert page.count('<section class="check"') == 2
    assert "expired" in page and "NAPTR sip.example.com: SIPS+D2T" in page
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    assert "default-src 'none'" in page
