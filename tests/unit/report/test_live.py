"""The live lines of a served world: one per message, DNS query and fault event."""

from datetime import datetime
from pathlib import Path

from twisted.internet.task import Clock

from servers.dns import QueryLogEntry
from testbed.report import LiveLog, dns_line, live_line
from testbed.transport import TraceEvent

PHONE = ("127.0.0.1", 40312)
PBX = ("127.7.1.2", 5060)
REGISTER = b"REGISTER sip:x SIP/2.0\r\nCSeq: 1 REGISTER\r\n\r\n"


def event(kind, **fields):
    fields.setdefault("owner", "pbx")
    return TraceEvent(fields.pop("time", 0.0), kind, fields.pop("transport", "UDP"), **fields)


def test_a_message_line_says_when_who_to_whom_how_what_and_how_big():
    received = event("received", local=PBX, remote=PHONE, summary="REGISTER sip:x (CSeq 1 "
                     "REGISTER)", data=REGISTER)
    sent = event("sent", local=PBX, remote=PHONE, summary="401 Unauthorized (CSeq 1 REGISTER)",
                 data=b"x" * 300, transport="TLS")
    when = datetime.fromtimestamp(0.0).strftime("%H:%M:%S.%f")[:-3]  # local time of day
    assert live_line(received, {}) == (f"{when}  127.0.0.1:40312 -> pbx 127.7.1.2:5060  UDP  "
                                       f"REGISTER sip:x (CSeq 1 REGISTER)  {len(REGISTER)} B")
    assert live_line(sent, {}) == (f"{when}  pbx 127.7.1.2:5060 -> 127.0.0.1:40312  TLS  "
                                   "401 Unauthorized (CSeq 1 REGISTER)  300 B")


def test_events_and_fault_notes_are_lines_too():
    note = event("note", owner="faults", local=("127.7.1.3", 5060), remote=PHONE,
                 summary="fault firewall: dropped 376 bytes to-server", detail="drops")
    names = {"127.7.1.3": "fault proxy"}
    assert live_line(note, names).endswith(
        "127.0.0.1:40312 -> fault proxy 127.7.1.3:5060  UDP  fault firewall: dropped 376 "
        "bytes to-server (drops)")
    failed = event("tls-failed", local=PBX, remote=PHONE, summary="handshake failed",
                   transport="TLS")
    assert "[tls-failed] handshake failed" in live_line(failed, {})


def test_a_dns_line_has_the_query_and_the_answer():
    one = QueryLogEntry(0.0, ("127.0.0.1", 5353), "udp", "pbx.example.com", "A", "NOERROR",
                        ("pbx.example.com. 300 A 127.7.1.2",), size=53)
    many = QueryLogEntry(0.0, ("127.0.0.1", 5353), "udp", "example.com", "NAPTR", "NOERROR",
                         ("a", "b", "c"), size=284)
    lost = QueryLogEntry(0.0, ("127.0.0.1", 5353), "tcp", "example.com", "SRV", None,
                         fault="timeout")
    server = ("127.7.1.4", 53)
    assert dns_line(one, server).endswith("127.0.0.1:5353 -> dns 127.7.1.4:53  UDP  DNS A "
                                          "pbx.example.com -> NOERROR: 127.7.1.2  53 B")
    assert "DNS NAPTR example.com -> NOERROR, 3 answers  284 B" in dns_line(many, server)
    assert "TCP  DNS SRV example.com -> no answer (fault timeout)" in dns_line(lost, server)


def test_the_log_shows_only_the_servers_and_writes_every_message_in_full(tmp_path: Path):
    clock = Clock()
    shown: list[str] = []
    log = LiveLog({"pbx", "faults"}, {}, echo=shown.append,
                  messages=tmp_path / "messages.log", clock=clock)
    log.event(event("received", local=PBX, remote=PHONE, summary="REGISTER", data=REGISTER))
    log.event(event("sent", owner="client", local=PHONE, remote=PBX, summary="REGISTER"))
    log.event(event("listening", local=PBX))
    assert len(shown) == 1 and log.lines == 1
    clock.advance(1.0)  # the flush interval
    text = (tmp_path / "messages.log").read_text()
    assert text.startswith("=== ") and "REGISTER sip:x SIP/2.0\nCSeq: 1 REGISTER" in text
    log.close()
    log.event(event("received", local=PBX, remote=PHONE, summary="OPTIONS", data=b"OPTIONS"))
    assert len(shown) == 2  # the terminal goes on; the file is closed


def test_a_write_error_stops_the_file_and_the_lines_go_on(tmp_path: Path):
    import errno

    class FullDisk:
        def write(self, data=""):
            raise OSError(errno.ENOSPC, "No space left on device")

        flush = close = write

    shown: list[str] = []
    path = tmp_path / "m.log"
    log = LiveLog({"pbx"}, {}, echo=shown.append, messages=path, clock=Clock())
    log._out.file.close()
    log._out.file = FullDisk()  # the disk fills up
    for _ in range(2):
        log.event(event("received", local=PBX, remote=PHONE, summary="REGISTER", data=REGISTER))
    assert log.error == f"message log {path}: No space left on device; writing stopped"
    assert len(shown) == 2 and log.lines == 2  # the terminal goes on
    log.close()


def test_quiet_writes_the_file_only(tmp_path: Path):
    log = LiveLog({"pbx"}, {}, echo=None, messages=tmp_path / "m.log")
    log.event(event("received", local=PBX, remote=PHONE, summary="REGISTER", data=REGISTER))
    log.close()
    assert "REGISTER" in (tmp_path / "m.log").read_text()


def test_the_served_ladder_has_the_servers_events_and_says_what_left_the_ring(tmp_path):
    from testbed.report import write_served_ladder

    events = [event("received", local=PBX, remote=PHONE, summary="REGISTER sip:x (CSeq 1 "
                    "REGISTER)", data=REGISTER, time=1.0),
              event("sent", local=PBX, remote=PHONE, summary="200 OK (CSeq 1 REGISTER)",
                    data=b"SIP/2.0 200 OK\r\n\r\n", time=1.1),
              event("sent", owner="client", local=("127.0.0.1", 9), remote=PBX,
                    summary="OPTIONS sip:x (CSeq 1 OPTIONS)", time=1.2)]
    path = write_served_ladder(tmp_path, events, owners={"pbx"}, dropped=42)
    text = path.read_text()
    assert text.startswith("(the last 2 events; the 42 before them left the world's memory: "
                           "messages.log and capture.pcapng have every message)")
    assert "200 OK (CSeq 1 REGISTER)" in text and "not received" not in text
    assert "OPTIONS" not in text  # the world's own client is not what it serves
