"""One ladder model, two renderings: the SVG view draws the same rows as the text ladder,
each in its style (retransmission, drop by a fault, refused, TLS failure, DNS query),
with a detail for each; the faults' records mark the messages they dropped or delayed."""

from __future__ import annotations

from servers.faults import FaultRecord
from testbed.report import ladder_model
from testbed.report._ladder_svg import ROLE_ORDER, ladder_view, row_detail, row_label
from testbed.sip import Transport

from .test_ladder import CLIENT, DNS_LOG, EVENTS, R1, REG1, REGISTRAR, ev

PROXY = ("127.0.0.9", 5060)
OPT = b"OPTIONS sip:x SIP/2.0\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n"


def test_the_svg_draws_every_row_of_the_text_ladder_in_its_style():
    model = ladder_model(EVENTS, DNS_LOG)
    view = ladder_view(model)
    assert len(view.arrows) == len(model.rows) == 16
    assert [c.name for c in view.columns] == ["DNS", "client", "registrar"]  # by role
    assert [a.style for a in view.arrows] == [
        "dns", "dns", "dns", "message", "retransmission", "message", "lost", "timeout",
        "connection", "message", "keepalive", "keepalive", "connection", "tls-failed",
        "refused", "note"]
    assert [a.y for a in view.arrows] == sorted(a.y for a in view.arrows)
    x = {c.name: c.x for c in view.columns}
    first = next(a for a in view.arrows if a.style == "message")
    assert (first.x1, first.x2, first.label) == (x["client"], x["registrar"], "REGISTER")
    assert first.text == f"REGISTER · UDP · {len(REG1)} B"
    retransmitted = next(a for a in view.arrows if a.style == "retransmission")
    assert retransmitted.text.startswith("↻1 REGISTER") and "retransmission" in \
        retransmitted.classes
    dns = view.arrows[0]
    assert (dns.x1, dns.x2) == (x["client"], x["DNS"]) and dns.x2 < dns.x1  # leftwards


def test_a_rows_detail_holds_the_whole_message_the_dns_answer_or_the_tls_failure():
    model = ladder_model(EVENTS, DNS_LOG)
    details: dict = {}
    for row in model.rows:  # the first row of each style
        details.setdefault(row.style, row_detail(row, model.t0))
    message = details["message"]
    assert message.body == REG1.decode().replace("\r\n", "\n") and message.body_label == "message"
    assert ("size", f"{len(REG1)} bytes") in message.facts
    assert details["dns"].body == "a\nb\nc" and details["dns"].body_label == "DNS answer"
    assert ("answer", "NOERROR") in details["dns"].facts
    assert details["tls-failed"].body_label == "TLS handshake"
    assert "expired" in details["tls-failed"].body
    assert details["lost"].facts[-1] == ("received", "never")


def relayed(*records: FaultRecord) -> list:
    """The client sends three REGISTERs through a proxy that judges each."""
    events = [ev(10.0 + 0.1 * n, "sent", "client", CLIENT, PROXY, R1, REG1) for n in range(2)]
    events.append(ev(10.25, "sent", "client", CLIENT, PROXY, "OPTIONS sip:x (CSeq 7 OPTIONS)",
                     OPT))
    events += [ev(r.time, "note", "faults", PROXY, r.source,
                  f"fault {r.fault}: {r.action} {r.size} bytes {r.direction}")
               for r in records if r.action == "dropped"]
    return events


def record(time, action, size, **extra) -> FaultRecord:
    return FaultRecord(time, extra.pop("fault", "loss"), action, Transport.UDP, "to-server",
                       size, CLIENT, REGISTRAR, **extra)


def test_the_faults_records_mark_the_messages_they_dropped_or_delayed_in_order():
    records = [record(10.0005, "forwarded", len(REG1), fault="relay"),
               record(10.1005, "dropped", len(REG1), detail="loss pattern [2]"),
               record(10.2505, "delayed", len(OPT), delay=0.2, fault="latency")]
    model = ladder_model(relayed(*records), names={PROXY: "fault proxy"}, fault_log=records)
    marks = [(row.label.split(" ")[0], row.fault, row.fault_action, row.style)
             for row in model.rows]
    # the first REGISTER was forwarded, the identical second one is the one dropped
    assert marks == [("REGISTER", "", "", "message"),
                     ("REGISTER", "loss", "dropped", "dropped"),
                     ("OPTIONS", "latency", "delayed", "delayed")]
    assert all(row.kind != "note" for row in model.rows)  # the drop's note is the mark
    texts = [row_label(row, short=True) for row in model.rows]
    assert texts[1] == f"↻1 REGISTER · UDP · {len(REG1)} B ✗ loss"
    assert texts[2] == f"OPTIONS · UDP · {len(OPT)} B ⏱+200 ms latency"
    assert row_label(model.rows[1]) == \
        f"↻ REGISTER · UDP · {len(REG1)} B (retransmission 1) ✗ dropped by loss"
    fault = dict(row_detail(model.rows[1], model.t0).facts)["fault"]
    assert fault == "loss: dropped (loss pattern [2])"


def test_columns_run_dns_client_faults_registrars_whatever_the_order_seen():
    model = ladder_model(relayed(), names={PROXY: "fault proxy"})
    assert [p.name for p in model.parties] == ["fault proxy", "client"]  # names first
    view = ladder_view(model)  # roles guessed: the client, then a fault
    assert [(c.name, c.role) for c in view.columns] == [("client", "client"),
                                                        ("fault proxy", "fault")]
    view = ladder_view(model, {"client": "registrar"})
    assert [c.name for c in view.columns] == ["fault proxy", "client"]
    assert list(ROLE_ORDER) == ["dns", "client", "fault", "registrar", "other"]
