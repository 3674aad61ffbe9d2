"""`testbed serve` for real: a process, real sockets on loopback, real traffic.

The world prints a live line per message, DNS query and fault event; ``--report-dir``
leaves the capture, ladder and message log when it stops; its addresses are the same at
every start (or the pinned one); it prints its accounts; and ``testbed load`` runs
against it with the accounts it printed, or says in one line why every attempt failed.
Every wait is on the process's output (a line, or its exit), never a sleep.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from servers.loopback import find_free_loopback
from testbed.scenario import AddressPlan

ROOT = Path(__file__).resolve().parents[3]
WAIT = 60.0  # seconds any expected line may take on a loaded 2-core machine
TIME = r"\d\d:\d\d:\d\d\.\d{3}"
HOST = r"127\.\d+\.\d+\.\d+"


def scenario_copy(tmp_path: Path, source: str, name: str) -> Path:
    """``scenarios/SOURCE`` renamed ``NAME`` (a unique name: its own stable addresses)."""
    text = (ROOT / "scenarios" / source).read_text(encoding="utf-8")
    text = re.sub(r"^name: .*$", f"name: {name}", text, count=1, flags=re.MULTILINE)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def unique(stem: str) -> str:
    return f"{stem}-{os.getpid()}"


class Served:
    """``testbed serve`` in a process; its output read line by line on a thread."""

    def __init__(self, path: Path, *flags: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "testbed.cli", "serve", str(path), *flags],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.banner = "".join(self.wait_for(r"^Ctrl-C stops"))

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str) -> list[str]:
        """The lines printed up to the first matching ``pattern`` (re.search)."""
        seen = []
        while True:
            try:
                line = self._queue.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in {WAIT} s:\n"
                                     + "".join(self.lines)) from None
            if line is None:
                raise AssertionError(f"serve ended before {pattern!r}:\n" + "".join(self.lines)
                                     + self.process.stderr.read())  # type: ignore[union-attr]
            self.lines.append(line)
            seen.append(line)
            if re.search(pattern, line):
                return seen

    def address(self, transport: str) -> tuple[str, int]:
        found = re.search(rf"register to\s+{transport}\s+(\S+):(\d+)", self.banner)
        assert found, self.banner
        return found.group(1), int(found.group(2))

    @property
    def dns(self) -> tuple[str, int]:
        found = re.search(r"^\s*dns\s+UDP\+TCP\s+(\S+):(\d+)", self.banner, re.MULTILINE)
        assert found, self.banner
        return found.group(1), int(found.group(2))

    @property
    def ca(self) -> str:
        found = re.search(r"CA certificate\s+(\S+)", self.banner)
        assert found, self.banner
        return found.group(1)

    def stop(self, signum: int = signal.SIGINT) -> tuple[str, str]:
        """Signal it and return the rest of its output (stdout, stderr)."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        code = self.process.wait(timeout=WAIT)
        self._reader.join(timeout=WAIT)
        while (line := self._queue.get_nowait() if not self._queue.empty() else None):
            self.lines.append(line)
        err = self.process.stderr.read()  # type: ignore[union-attr]
        self.process.stderr.close()  # type: ignore[union-attr]
        self.process.stdout.close()  # type: ignore[union-attr]
        assert code == 0, "".join(self.lines) + err
        return "".join(self.lines), err


@pytest.fixture
def serve():
    started: list[Served] = []

    def start(path: Path, *flags: str) -> Served:
        served = Served(path, *flags)
        started.append(served)
        return served

    yield start
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait(timeout=WAIT)


def run_testbed(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "testbed.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def require(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{program} is not installed in CI (.ci/run installs {package})")
        pytest.skip(f"{program} not installed: apt-get install {package}")
    return path


def test_live_lines_accounts_and_report_dir(tmp_path, serve):
    """A registration through NAPTR/SRV/A over TLS: every DNS query and SIP message is a
    live line as it happens; when serving stops, the report dir has the ladder, the
    full message log and a pcapng that tshark decrypts with the keys in it."""
    name = unique("serve-live")
    reports = tmp_path / "reports"
    served = serve(scenario_copy(tmp_path, "healthy/auto.yaml", name),
                   "--report-dir", str(reports))
    banner = served.banner
    tls_host, tls_port = served.address("TLS")
    assert tls_port == 5061
    assert "account            alice / secret   sip:alice@sip.example.com" in banner
    assert "accounts of registrar pbx (domain sip.example.com):" in banner
    for transport, port in (("TLS", 5061), ("TCP", 5060), ("UDP", 5060)):
        assert re.search(rf"register to\s+{transport}\s+{tls_host}:{port}\n", banner), banner
    dns_host, dns_port = served.dns
    assert f"or by DNS          {dns_host}:{dns_port} resolves sip.example.com" in banner

    register = run_testbed("register", "sip:sip.example.com", "--transport", "auto", "--dns",
                       f"{dns_host}:{dns_port}", "--user", "alice", "--password", "secret",
                       "--ca", served.ca, "--t1", "20ms")
    assert register.returncode == 0, register.stdout + register.stderr

    naptr = served.wait_for(r"DNS NAPTR sip\.example\.com")[-1]
    assert re.fullmatch(rf"{TIME}  {HOST}:\d+ -> dns {dns_host}:{dns_port}  UDP  DNS NAPTR "
                        r"sip\.example\.com -> NOERROR, 3 answers  \d+ B\n", naptr), naptr
    a_record = served.wait_for(r"DNS A pbx\.sip\.example\.com")[-1]
    assert a_record.split("  ")[-2].endswith(f"NOERROR: {tls_host}"), a_record
    first = served.wait_for(r"REGISTER sip:sip\.example\.com \(CSeq 1 REGISTER\)")[-1]
    assert re.fullmatch(rf"{TIME}  127\.0\.0\.1:\d+ -> pbx {tls_host}:5061  TLS  REGISTER "
                        r"sip:sip\.example\.com \(CSeq 1 REGISTER\)  \d+ B\n", first), first
    challenge = served.wait_for(r"401 Unauthorized")[-1]
    assert re.fullmatch(rf"{TIME}  pbx {tls_host}:5061 -> 127\.0\.0\.1:\d+  TLS  401 "
                        r"Unauthorized \(CSeq 1 REGISTER\)  \d+ B\n", challenge), challenge
    served.wait_for(r"TLS  200 OK \(CSeq 2 REGISTER\)")

    out, _ = served.stop(signal.SIGINT)
    folder = reports / name
    assert f"report written to {folder}: index.html, ladder.txt, messages.log" in out
    page = (folder / "index.html").read_text()
    assert "what testbed serve served" in page and "REGISTER" in page  # the served page
    ladder = (folder / "ladder.txt").read_text()
    assert "NAPTR sip.example.com? → 3 answers" in ladder
    assert "200 OK (CSeq 2 REGISTER)" in ladder and "not received" not in ladder
    messages = (folder / "messages.log").read_text()
    assert re.search(r"^=== .* REGISTER sip:sip\.example\.com \(CSeq 2 REGISTER\)", messages,
                     re.MULTILINE)
    assert 'Authorization: Digest username="alice"' in messages  # each message in full
    assert '"SIPS+D2T"' in messages  # the DNS answers in full

    tshark = require("tshark", "tshark")
    fields = subprocess.run([tshark, "-n", "-r", str(folder / "capture.pcapng"), "-Y",
                             "sip || dns.flags.response == 0", "-T", "fields", "-e",
                             "sip.Method", "-e", "sip.Status-Code", "-e", "dns.qry.name"],
                            capture_output=True, text=True, timeout=60).stdout.split()
    assert [f for f in fields if f in ("REGISTER", "401", "200")] == [
        "REGISTER", "401", "REGISTER", "200"]  # decrypted with the keys in the file
    assert "sip.example.com" in fields and "pbx.sip.example.com" in fields


def raw_register(tag: str) -> bytes:
    return (b"REGISTER sip:sip.example.com SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK" + tag.encode() + b";rport\r\n"
            b"From: <sip:alice@sip.example.com>;tag=1\r\nTo: <sip:alice@sip.example.com>\r\n"
            b"Call-ID: " + tag.encode() + b"@test\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
            b"Content-Length: 0\r\n\r\n")


def test_a_fault_event_is_a_live_line(tmp_path, serve):
    """A firewall in front of the registrar: the REGISTER it drops is a live line."""
    path = scenario_copy(tmp_path, "faults/firewall-drop-udp.yaml", unique("serve-drop"))
    served = serve(path)
    assert re.search(r"fault proxy\s+UDP\s+\S+:5060\s+firewall in front of pbx", served.banner)
    proxy = served.address("UDP")
    register = raw_register("drop1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
        phone.bind(("127.0.0.1", 0))
        phone.sendto(register, proxy)
        port = phone.getsockname()[1]
        dropped = served.wait_for(r"fault firewall: dropped")[-1]
    assert re.fullmatch(rf"{TIME}  127\.0\.0\.1:{port} -> fault proxy {proxy[0]}:5060  UDP  "
                        rf"fault firewall: dropped {len(register)} bytes to-server \(.*\)\n",
                        dropped), dropped
    served.stop(signal.SIGTERM)


def test_quiet_prints_no_live_lines_and_the_message_log_has_them(tmp_path, serve):
    name = unique("serve-quiet")
    reports = tmp_path / "reports"
    served = serve(scenario_copy(tmp_path, "healthy/udp.yaml", name), "-q",
                   "--report-dir", str(reports))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
        phone.bind(("127.0.0.1", 0))
        phone.settimeout(WAIT)
        phone.sendto(raw_register("quiet1"), served.address("UDP"))
        answer = phone.recv(65536)  # the server handled it: the 401 is here
    assert answer.startswith(b"SIP/2.0 401 ")
    out, _ = served.stop(signal.SIGTERM)
    after = out.split("Ctrl-C stops.\n", 1)[1]
    # no live line: only the closing one (whose folder name may hold any digits)
    assert after.splitlines() == [after.splitlines()[0]], after
    assert after.startswith(f"report written to {reports / name}: "), after
    messages = (reports / name / "messages.log").read_text()
    assert "REGISTER sip:sip.example.com (CSeq 1 REGISTER)" in messages
    assert "401 Unauthorized (CSeq 1 REGISTER)" in messages
    assert "Call-ID: quiet1@test" in messages


def registrar_host(banner: str) -> str:
    found = re.search(r"registrar pbx\s+UDP\s+(\S+):5060", banner)
    assert found, banner
    return found.group(1)


def test_the_address_is_the_same_at_every_start_and_moves_deterministically(tmp_path, serve):
    name = unique("serve-stable")
    path = scenario_copy(tmp_path, "healthy/udp.yaml", name)
    plan = AddressPlan.stable(name)
    first = serve(path)
    host = registrar_host(first.banner)
    assert host in plan.public[:5]  # 127.A.B.N of the name (N past 2 if one was taken)
    assert re.search(rf"address\s+{re.escape(host.rsplit('.', 1)[0])}\.x: the same at every "
                     f"start of {name}", first.banner)
    first.stop(signal.SIGTERM)
    again = serve(path)
    assert registrar_host(again.banner) == host
    again.stop(signal.SIGTERM)

    # Something else holds UDP 5060 there: the world takes the next address of the
    # name's plan, the same one every time.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind((host, 5060))
        moved = serve(path)
        following = registrar_host(moved.banner)
        moved.stop(signal.SIGTERM)
        assert plan.public.index(following) > plan.public.index(host)
        moved_again = serve(path)
        assert registrar_host(moved_again.banner) == following
        moved_again.stop(signal.SIGTERM)


def test_address_pins_the_world_and_refuses_an_address_not_on_this_machine(tmp_path, serve):
    path = scenario_copy(tmp_path, "healthy/auto.yaml", unique("serve-pinned"))
    pinned = find_free_loopback([("UDP", 5060), ("TCP", 5060), ("TCP", 5061), ("UDP", 53),
                                 ("TCP", 53)])
    served = serve(path, "--address", pinned, "-q")
    for transport, port in (("TLS", 5061), ("TCP", 5060), ("UDP", 5060)):
        assert served.address(transport) == (pinned, port)
    assert served.dns[0] == pinned
    assert f"address            {pinned} (--address)" in served.banner
    _, err = served.stop(signal.SIGTERM)
    assert "warning" not in err  # a loopback address needs none

    elsewhere = run_testbed("serve", str(path), "--address", "203.0.113.7", "--for", "1s")
    assert elsewhere.returncode == 1
    assert elsewhere.stderr == ("testbed serve: --address 203.0.113.7: not an address of this "
                                "machine (`ip -brief address` lists them)\n")
    assert "world of" not in elsewhere.stdout


def test_load_runs_against_a_served_world_with_its_accounts(tmp_path, serve):
    """`testbed load` with the account serve printed succeeds; with the default users
    alice0.. every REGISTER is refused and one line says why and what to pass."""
    served = serve(scenario_copy(tmp_path, "healthy/udp.yaml", unique("serve-load")), "-q")
    account = re.search(r"account\s+(\S+) / (\S+)\s+sip:\S+@(\S+)", served.banner)
    assert account, served.banner
    user, password, domain = account.groups()
    host, port = served.address("UDP")
    common = ["load", f"sip:{host}:{port}", "--domain", domain, "--endpoints", "3",
              "--count", "6", "--no-progress", "--t1", "20ms"]

    good = run_testbed(*common, "--user", user, "--password", password)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "6 attempted, 6 succeeded, 0 failed" in good.stdout
    assert good.stderr == ""

    wrong = run_testbed(*common, "--password", password)
    assert wrong.returncode == 1
    assert "6 attempted, 0 succeeded, 6 failed" in wrong.stdout
    lines = wrong.stderr.splitlines()
    assert len(lines) == 1, wrong.stderr
    assert lines[0].startswith("testbed load: the server rejected the credentials of every "
                               "REGISTER (users alice0..alice2, 401)")
    assert "--user NAME" in lines[0] and "--password" in lines[0]

    listed = run_testbed(*common, "--users", f"{user},mallory", "--password", password)
    assert listed.returncode == 1  # mallory has no account: alice's succeed, his fail
    counts = re.search(r"6 attempted, (\d) succeeded, (\d) failed", listed.stdout)
    assert counts and int(counts.group(1)) > 0 and int(counts.group(2)) > 0, listed.stdout
    assert "rejected the credentials" not in listed.stderr

    no_password = run_testbed(*common, "--user", user)
    assert no_password.returncode == 1
    assert no_password.stderr == (
        "testbed load: every REGISTER was challenged for credentials and no --password "
        "was given (users alice): pass the account's --password\n")


def test_the_report_is_written_when_the_duration_ends(tmp_path):
    name = unique("serve-for")
    reports = tmp_path / "reports"
    done = run_testbed("serve", str(scenario_copy(tmp_path, "healthy/udp.yaml", name)),
                       "--for", "10ms", "--report-dir", str(reports))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == (
        f"report written to {reports / name}: index.html, ladder.txt, messages.log (0 lines), "
        "capture.pcapng (0 packets), keys.log")
    assert sorted(p.name for p in (reports / name).iterdir()) == [
        "capture.pcapng", "index.html", "keys.log", "ladder.txt", "messages.log"]
