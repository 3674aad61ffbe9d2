"""SIPp (sip-tester) as a reference peer: its UAC registering, its UAS answering.

The two XML scenarios are written into a work folder at run time (and copied next to
the report so a run can be repeated by hand):

* ``register.xml`` (UAC): REGISTER for ``[field0]`` of an injection file of users
  ``alice0..aliceN-1`` (sequential), a new Call-ID per registration, 200 expected.
* ``uas_register.xml`` (UAS): answers every REGISTER with 200 OK (Contact and Expires
  echoed), which is what ``sipp -sn uas`` does for INVITEs.

Throughput is read from SIPp's own statistics file (``-trace_stat -fd 1``): the
successful calls between the first sample and the last one of the measured window,
over the time between them. SIPp's ``-timeout`` does not stop a UDP UAC whose last
calls never end, so every SIPp process is also terminated by its PID after its time.
"""

from __future__ import annotations

import errno
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from testbed.load import stop_process

REGISTER_UAC = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- sip-transport-testbed: REGISTER, 200 expected (no digest). Users from -inf. -->
<scenario name="REGISTER (testbed bench)">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      Max-Forwards: 70
      From: <sip:[field0]@example.com>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field0]@example.com>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>
      Expires: 3600
      User-Agent: SIPp
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" rtd="true" />
</scenario>
"""

REGISTER_UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- sip-transport-testbed: answer every REGISTER with 200 OK. -->
<scenario name="REGISTER UAS (testbed bench)">
  <recv request="REGISTER" />
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Contact:];expires=3600
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""

TRANSPORT_FLAGS = {"UDP": "u1", "TCP": "t1"}


def sipp_binary() -> str | None:
    return shutil.which("sipp")


def sipp_version() -> str | None:
    binary = sipp_binary()
    if binary is None:
        return None
    try:
        out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        if "SIPp v" in line:
            return line.strip()
    return None


def write_sipp_scenarios(folder: Path, users: int) -> dict[str, Path]:
    """The XML scenarios and the injection file of ``users`` users, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"uac": folder / "register.xml", "uas": folder / "uas_register.xml",
             "users": folder / "users.csv"}
    paths["uac"].write_text(REGISTER_UAC, encoding="ascii")
    paths["uas"].write_text(REGISTER_UAS, encoding="ascii")
    paths["users"].write_text("SEQUENTIAL\n" + "".join(f"alice{i}\n" for i in range(users)),
                              encoding="ascii")
    return paths


@dataclass
class SippRun:
    """What one SIPp UAC run achieved."""

    successful: int
    failed: int
    retransmissions: int
    seconds: float
    rate: float
    error: str = ""


def run_uac(folder: Path, target: tuple[str, int], transport: str, *, seconds: float,
            limit: int = 200, local: str = "127.0.0.1") -> SippRun:
    """SIPp's UAC registering as fast as ``limit`` calls in flight allow, for ``seconds``."""
    binary = sipp_binary()
    if binary is None:
        return SippRun(0, 0, 0, 0.0, 0.0, "sipp not installed")
    stat = folder / f"stat-{transport.lower()}-{time.monotonic_ns()}.csv"
    host, port = target
    command = [binary, f"{host}:{port}", "-sf", str(folder / "register.xml"),
               "-inf", str(folder / "users.csv"), "-t", TRANSPORT_FLAGS[transport],
               "-i", local, "-p", "0", "-r", "100000", "-l", str(limit),
               "-timeout", f"{seconds:g}s", "-trace_stat", "-stf", str(stat), "-fd", "1",
               "-nostdin", "-max_socket", "1000"]
    process = subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        process.wait(seconds + 1.5)
    except subprocess.TimeoutExpired:
        stop(process)
    return read_sipp_stats(stat, seconds)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a SIPp process by its PID (it exits at once), kill it if it lingers."""
    stop_process(process, timeout=0)


def read_sipp_stats(path: Path, seconds: float) -> SippRun:
    try:
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError as exc:
        return SippRun(0, 0, 0, 0.0, 0.0, f"no statistics: {exc}")
    rows = [line.split(";") for line in lines if line.strip()]
    if len(rows) < 3:
        return SippRun(0, 0, 0, 0.0, 0.0, "too few statistics samples")
    header = rows[0]
    column = {name: i for i, name in enumerate(header)}

    def value(row: list[str], name: str) -> float:
        return float(row[column[name]].strip() or 0)

    def clock(row: list[str]) -> float:
        return float(row[column["CurrentTime"]].split()[-1])

    first = rows[1]
    window = [row for row in rows[1:] if clock(row) <= clock(first) + seconds + 0.5]
    last = window[-1]
    elapsed = clock(last) - clock(first)
    done = value(last, "SuccessfulCall(C)") - value(first, "SuccessfulCall(C)")
    return SippRun(int(value(last, "SuccessfulCall(C)")), int(value(last, "FailedCall(C)")),
                   int(value(last, "Retransmissions(C)")), elapsed,
                   done / elapsed if elapsed > 0 else 0.0)


class SippUas:
    """SIPp's UAS answering REGISTERs on ``host:port`` until :meth:`stop` (or its bound)."""

    def __init__(self, folder: Path, host: str, transport: str, *, seconds: float) -> None:
        self.folder = folder
        self.host = host
        self.transport = transport
        self.seconds = seconds
        self.port = _free_port(host, transport)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        binary = sipp_binary()
        if binary is None:
            raise RuntimeError("sipp not installed")
        self.process = subprocess.Popen(
            [binary, "-sf", str(self.folder / "uas_register.xml"), "-i", self.host,
             "-p", str(self.port), "-t", TRANSPORT_FLAGS[self.transport], "-nostdin",
             "-timeout", f"{self.seconds:g}s", "-max_socket", "1000",
             # a refresh reuses its Call-ID (RFC 3261 §10.2.4): not a dead call to ignore
             "-deadcall_wait", "0"],
            cwd=self.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while not _bound(self.host, self.port, self.transport):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"SIPp UAS did not listen on {self.host}:{self.port}")
            time.sleep(0.05)  # polling a child's readiness, not synchronising a test

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
        self.process = None


def _free_port(host: str, transport: str) -> int:
    kind = socket.SOCK_DGRAM if transport == "UDP" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _bound(host: str, port: int, transport: str) -> bool:
    """True once someone holds ``host:port`` (a bind of our own fails), without traffic."""
    kind = socket.SOCK_DGRAM if transport == "UDP" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False
