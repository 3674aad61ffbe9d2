"""The capture says what the faults did: each packet a fault dropped, delayed or
rewrote, and each one sent to a port the kernel refuses, carries a pcapng packet comment
naming the fault and the action, read back by tshark (``frame.comment``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .test_artefacts import tshark_fields

ROOT = Path(__file__).resolve().parents[3]
SCENARIOS = ["firewall-drop-udp", "latency", "nat-timeout", "firewall-reject-tcp"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("faults")
    files = [str(ROOT / "scenarios" / "faults" / f"{name}.yaml") for name in SCENARIOS]
    done = subprocess.run([sys.executable, "-m", "testbed.cli", "run", *files,
                           "--report-dir", str(folder)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


def frames(report: Path, name: str, *fields: str) -> list[list[str]]:
    return tshark_fields(report / name / "capture.pcapng", "frame.comment", "sip.Method",
                         "sip.Status-Code", *fields)


def test_every_datagram_the_firewall_dropped_says_so(report: Path):
    rows = frames(report, "firewall-drop-udp")
    registers = [r for r in rows if r[1] == "REGISTER"]
    assert len(registers) == 11 == len(rows)  # nothing else crossed, nothing reached pbx
    assert all(r[0].startswith("fault firewall: dropped (376 bytes to-server)")
               for r in registers)


def test_a_delayed_packet_and_its_late_copy_are_both_marked(report: Path):
    rows = [r for r in frames(report, "latency-jitter") if r[0]]
    delayed = [r for r in rows if "delayed by" in r[0]]
    late = [r for r in rows if "late (delayed)" in r[0]]
    assert all(r[0].startswith("fault latency: delayed by ") for r in delayed)

    def ms(comment: str, before: str) -> str:
        return comment.split(before, 1)[1].split(" ms", 1)[0]

    # each held packet's copy left as late as it says, carrying the same SIP message
    # (jitter reorders them: pair them by delay)
    assert len(delayed) > 10
    assert sorted((ms(r[0], "delayed by "), r[1], r[2]) for r in delayed) == \
        sorted((ms(r[0], "forwarded "), r[1], r[2]) for r in late)


def test_the_nat_marks_its_rewrites_and_the_packets_it_dropped_after_expiry(report: Path):
    rows = frames(report, "nat-timeout", "ip.src", "udp.srcport")
    rewritten = [r for r in rows if " rewritten as " in r[0]]
    assert rewritten and all(r[0].startswith("fault nat: source ") for r in rewritten)
    for row in rewritten:  # the comment names the address the packet carries
        assert row[0].endswith(f"rewritten as {row[3]}:{row[4]}")
    dropped = [r for r in rows if "dropped" in r[0]]
    assert dropped and {r[1] for r in dropped} == {"OPTIONS"}  # the registrar's, inbound
    assert all("no binding for" in r[0] for r in dropped)


def test_a_refused_connection_carries_the_fault_that_refused_it(report: Path):
    rows = tshark_fields(report / "firewall-reject-tcp" / "capture.pcapng", "frame.comment",
                         "tcp.flags.syn", "tcp.flags.reset", "tcp.flags.ack")
    commented = [r for r in rows if r[0]]
    assert commented, rows
    assert all(r[0] == "fault firewall: the kernel answers every SYN with a RST "
                       "(connection refused)" for r in commented)
    assert all(r[1:] == ["1", "0", "0"] for r in commented)  # each on the SYN
    assert len([r for r in rows if r[2] == "1"]) == len(commented)  # each SYN got a RST
