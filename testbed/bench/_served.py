"""A world served by ``testbed serve`` in a process of its own, for the soak and barrage.

The world is what a lab leaves running: one registrar (UDP and TCP) with digest
authentication and :data:`ACCOUNTS` accounts ``alice0..`` (password ``secret``) and a
DNS server with the NAPTR, SRV and A records that lead to it, written
as a scenario file in a work folder and served with ``python -m testbed.cli serve``. Its
resident set size is read from ``/proc``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from testbed.load import ProcessError, rss_kib

ACCOUNTS = 1000
PASSWORD = "secret"
DOMAIN = "example.com"
_LISTENER = re.compile(r"registrar pbx\s+(UDP|TCP)\s+(\S+):(\d+)")
_DNS = re.compile(r"^\s*dns\s+UDP\+TCP\s+(\S+):(\d+)", re.MULTILINE)
_ZONE = [
    {"name": DOMAIN, "type": "NAPTR", "order": 10, "preference": 10, "flags": "s",
     "service": "SIP+D2U", "regexp": "", "replacement": f"_sip._udp.{DOMAIN}"},
    {"name": f"_sip._udp.{DOMAIN}", "type": "SRV", "priority": 10, "weight": 10,
     "port": 5060, "target": f"pbx.{DOMAIN}"},
    {"name": f"pbx.{DOMAIN}", "type": "A", "address": "${pbx}"},
]


def scenario_text(t1: float, accounts: int = ACCOUNTS) -> str:
    """The served world's scenario (YAML is a superset of JSON: the accounts are JSON)."""
    users = json.dumps({f"alice{n}": PASSWORD for n in range(accounts)})
    return (f"name: bench-served\n"
            f"description: The world the soak and the barrage keep busy.\n"
            f"troubleshooting: healthy\n"
            f"timers: {{t1: {t1 * 1000:g}ms}}\n"
            f"dns: {{zones: [{{origin: {DOMAIN}, records: {json.dumps(_ZONE)}}}]}}\n"
            f"registrars:\n"
            f"  - name: pbx\n"
            f"    domain: {DOMAIN}\n"
            f"    listen: [{{transport: udp}}, {{transport: tcp}}]\n"
            f"    users: {users}\n"
            f"client: {{transport: udp, registrar: 'sip:{DOMAIN}', user: alice0, "
            f"password: {PASSWORD}}}\n"
            f"steps: [register]\n")


class ServedWorld:
    """``testbed serve`` of :func:`scenario_text` in ``folder``; a context manager.

    What serve prints (its addresses and any error; ``-q``: no live line per message)
    goes to ``folder/serve.log`` (read for the addresses), so that nothing it might print
    later can block it on a pipe nobody reads.
    """

    def __init__(self, folder: Path, *, t1: float = 0.5, seconds: float = 3600.0) -> None:
        self.folder = folder
        self.t1 = t1
        self.seconds = seconds
        self.process: subprocess.Popen[bytes] | None = None
        self.addresses: dict[str, tuple[str, int]] = {}
        self.dns: tuple[str, int] | None = None
        self.domain = DOMAIN

    def start(self, timeout: float = 60.0) -> None:
        """Start serving and read the addresses (blocking: call it off the reactor)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "served.yaml"
        path.write_text(scenario_text(self.t1), encoding="utf-8")
        log = self.folder / "serve.log"
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "testbed.cli", "serve", str(path), "-q",
                 "--for", f"{self.seconds:g}s"], stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline and self.process.poll() is None:
            text = log.read_text(encoding="utf-8", errors="replace")
            if "Ctrl-C stops" in text:
                break
            time.sleep(0.1)
        self.addresses = {m.group(1): (m.group(2), int(m.group(3)))
                          for m in _LISTENER.finditer(text)}
        found = _DNS.search(text)
        self.dns = (found.group(1), int(found.group(2))) if found else None
        if not {"UDP", "TCP"} <= set(self.addresses) or self.dns is None \
                or "Ctrl-C stops" not in text:
            self.stop()
            lines = text.strip().splitlines()
            raise ProcessError("testbed serve did not start: "
                               + (lines[-1] if lines else "no output"))

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def tracebacks(self) -> int:
        """Tracebacks serve printed so far (peer input must never cause one)."""
        try:
            text = (self.folder / "serve.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return 0
        return text.count("Traceback (most recent call last)")

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it; killed if it does not stop in time."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def __enter__(self) -> ServedWorld:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
