"""The README's worked example: baresip, a real softphone, registers to a world that
``testbed serve`` keeps up, found through the world's DNS server, over TLS with the CA
the world printed; serve shows it live and writes the report when it stops.
"""

from __future__ import annotations

import re
import signal
import subprocess

import pytest

from servers.loopback import find_free_loopback

from ..integration.cli.test_serve import Served, scenario_copy, unique
from .conftest import require_peer
from .test_baresip import BARESIP_CONFIG, baresip_modules

pytestmark = pytest.mark.interop


def test_baresip_registers_to_a_served_world_and_serve_shows_it(tmp_path):
    binary = require_peer("baresip")
    name = unique("serve-baresip")
    reports = tmp_path / "reports"
    served = Served(scenario_copy(tmp_path, "healthy/auto.yaml", name),
                    "--report-dir", str(reports))
    baresip = None
    try:
        account = re.search(r"account\s+(\S+) / (\S+)\s+(sip:\S+)", served.banner)
        assert account, served.banner
        user, password, aor = account.groups()
        dns_host, dns_port = served.dns
        confdir = tmp_path / "baresip"
        confdir.mkdir()
        listen = find_free_loopback([("UDP", 5060), ("TCP", 5060), ("TCP", 5061)])
        (confdir / "config").write_text(BARESIP_CONFIG.format(
            listen=listen, ca=served.ca, dns=f"{dns_host}:{dns_port}",
            modules=baresip_modules()))
        (confdir / "accounts").write_text(f"<{aor}>;auth_pass={password};regint=600\n")
        (confdir / "contacts").write_text("")
        baresip = subprocess.Popen([binary, "-4", "-f", str(confdir)], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)

        seen = "".join(served.wait_for(r"TLS  200 OK \(CSeq \d+ REGISTER\)"))
        assert re.search(r"DNS NAPTR sip\.example\.com -> NOERROR, 3 answers", seen)
        assert re.search(r"-> pbx \S+:5061  TLS  REGISTER sip:sip\.example\.com", seen)
        assert "401 Unauthorized" in seen  # our challenge, answered by baresip

        baresip.send_signal(signal.SIGTERM)  # baresip unregisters on its way out
        unregister = served.wait_for(r"TLS  REGISTER sip:sip\.example\.com")
        served.wait_for(r"TLS  200 OK \(CSeq \d+ REGISTER\)")
        assert unregister
        baresip.wait(timeout=30)
    finally:
        if baresip is not None and baresip.poll() is None:
            baresip.kill()
            baresip.wait()
    served.stop(signal.SIGINT)
    folder = reports / name
    messages = (folder / "messages.log").read_text()
    assert f'username="{user}"' in messages and ";expires=0" in messages  # unregistered
    assert "REGISTER sip:sip.example.com" in (folder / "ladder.txt").read_text()
