"""Judging a client program from what our side observed: fabricated observations, no I/O."""

import pytest

from servers.dns import QueryLogEntry
from servers.faults import FaultRecord
from testbed.client import Outcome
from testbed.diagnosis import (
    NOTE_IDS,
    Handshake,
    Listener,
    Observed,
    diagnose,
    observed_inbound,
    observed_registration,
    program_notes,
)
from testbed.sip import Transport, parse_message
from testbed.transport import TlsHandshakeRecord, TraceEvent, TransactionFailed
from testbed.transport.tls import TlsAlert

CLIENT = ("127.0.0.1", 40000)
PBX1 = Listener("pbx1", "UDP", ("127.0.0.11", 5060), ("127.0.0.11", 5060))
PBX2 = Listener("pbx2", "UDP", ("127.0.0.12", 5060), ("127.0.0.12", 5060))
TLS = Listener("pbx", "TLS", ("127.0.0.13", 5061), ("127.0.0.13", 5061), "expired")
NATTED = Listener("pbx", "UDP", ("127.0.0.14", 5060), ("127.0.0.15", 5060))


def register(branch, cseq=1, auth=False, transport="UDP"):
    lines = ["REGISTER sip:sip.example.com SIP/2.0",
             f"Via: SIP/2.0/{transport} 127.0.0.1:40000;branch=z9hG4bK{branch}",
             "From: <sip:alice@sip.example.com>;tag=1", "To: <sip:alice@sip.example.com>",
             "Call-ID: c1", f"CSeq: {cseq} REGISTER", "Contact: <sip:alice@127.0.0.1:40000>"]
    if auth:
        lines.append('Authorization: Digest username="alice", realm="x", nonce="n", '
                     'uri="sip:sip.example.com", response="r"')
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


def answer(branch, status, reason, cseq=1, method="REGISTER", transport="UDP"):
    lines = [f"SIP/2.0 {status} {reason}",
             f"Via: SIP/2.0/{transport} 127.0.0.1:40000;branch=z9hG4bK{branch}",
             "From: <sip:alice@sip.example.com>;tag=1", "To: <sip:alice@sip.example.com>;tag=2",
             "Call-ID: c1", f"CSeq: {cseq} {method}"]
    if status == 200 and method == "REGISTER":
        lines.append("Contact: <sip:alice@127.0.0.1:40000>;expires=3600")
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


def event(time, kind, listener, data, owner=None):
    message = parse_message(data)
    summary = getattr(message, "method", None) or f"{message.status} {message.reason}"
    return TraceEvent(time, kind, listener.transport, listener.address, CLIENT,
                      f"{summary} (CSeq 1 REGISTER)", data, owner=owner or listener.registrar)


def srv_query(time=0.0):
    return QueryLogEntry(time, CLIENT, "udp", "_sip._udp.sip.example.com", "SRV", "NOERROR", (
        "_sip._udp.sip.example.com. 300 SRV 10 10 5060 pbx1.sip.example.com.",
        "_sip._udp.sip.example.com. 300 SRV 20 10 5060 pbx2.sip.example.com."))


SRV = {"_sip._udp.sip.example.com": [(10, 10, 5060, "pbx1.sip.example.com"),
                                     (20, 10, 5060, "pbx2.sip.example.com")]}
HOSTS = {"pbx1.sip.example.com": "127.0.0.11", "pbx2.sip.example.com": "127.0.0.12"}


def test_a_registration_with_digest_is_the_last_accepted_register():
    observed = Observed([PBX1], [
        event(0.1, "received", PBX1, register("a")),
        event(0.1, "sent", PBX1, answer("a", 401, "Unauthorized")),
        event(0.2, "received", PBX1, register("b", 2, auth=True)),
        event(0.2, "sent", PBX1, answer("b", 200, "OK", 2))])
    outcome = observed_registration(observed, since=0, until=1, registered=True, waited=5)
    assert outcome.ok and outcome.status == 200 and outcome.transport == "UDP"
    assert [e.status for e in outcome.exchanges] == [401, 200]
    assert diagnose([outcome]).row == "healthy"


def test_retransmissions_count_as_transmissions_of_one_exchange():
    observed = Observed([PBX1], [event(t, "received", PBX1, register("a")) for t in (0, .1, .3)])
    outcome = observed_registration(observed, since=0, until=5, registered=False, waited=5)
    assert not outcome.ok and outcome.error == "timeout"
    assert [e.transmissions for e in outcome.exchanges] == [3]


def test_nothing_seen_is_a_timeout_and_failed_dns_is_a_dns_error():
    assert observed_registration(Observed([PBX1], []), since=0, until=5, registered=False,
                                 waited=5).error == "timeout"
    nx = QueryLogEntry(0.1, CLIENT, "udp", "sip.example.com", "A", "NXDOMAIN")
    outcome = observed_registration(Observed([PBX1], [], queries=[nx], dns_server="x:53"),
                                    since=0, until=5, registered=False, waited=5)
    assert outcome.error == "dns"
    assert diagnose([outcome]).row == "dns-failure"


def test_a_client_that_never_tries_the_second_srv_target():
    observed = Observed([PBX1, PBX2], [
        event(0.1, "received", PBX1, register("a")),
        event(0.1, "sent", PBX1, answer("a", 503, "Service Unavailable"))],
        queries=[srv_query()], dns_server="127.0.0.2:53", srv=SRV, hosts=HOSTS)
    outcome = observed_registration(observed, since=0, until=3, registered=False, waited=3)
    notes = program_notes(observed, outcome, since=0, until=3, waited=3)
    assert [n.id for n in notes] == ["no-srv-failover"]
    assert "pbx2.sip.example.com:5060" in notes[0].text and "503" in notes[0].text
    outcome.notes += notes
    diagnosis = diagnose([outcome])
    assert diagnosis.row == "rejected"
    assert "no-srv-failover" in [f.id for f in diagnosis.findings]


def test_a_client_that_fails_over_gets_no_failover_note():
    observed = Observed([PBX1, PBX2], [
        event(0.1, "received", PBX1, register("a")),
        event(0.1, "sent", PBX1, answer("a", 503, "Service Unavailable")),
        event(0.2, "received", PBX2, register("b")),
        event(0.2, "sent", PBX2, answer("b", 200, "OK"))],
        queries=[srv_query()], srv=SRV, hosts=HOSTS)
    outcome = observed_registration(observed, since=0, until=3, registered=True)
    assert outcome.ok and outcome.remote == PBX2.public
    assert program_notes(observed, outcome, since=0, until=3) == []
    assert "failover" in [f.id for f in diagnose([outcome]).findings]


def test_a_request_over_tls_to_an_expired_certificate_was_accepted():
    observed = Observed([TLS], [event(0.1, "received", TLS, register("a", transport="TLS"))])
    outcome = observed_registration(observed, since=0, until=1, registered=False)
    notes = program_notes(observed, outcome, since=0, until=1)
    assert [n.id for n in notes] == ["accepted-bad-certificate"]
    assert "an expired certificate" in notes[0].text


def test_a_handshake_the_client_refused_is_a_tls_failure_of_its_kind():
    record = TlsHandshakeRecord(role="server", alerts=[TlsAlert(2, 45, sent=False)])
    observed = Observed([TLS], [], handshakes=[Handshake(TLS, 0.1, CLIENT, record)])
    outcome = observed_registration(observed, since=0, until=1, registered=False)
    assert outcome.error == "tls" and outcome.tls_failure is not None
    assert outcome.tls_failure.kind == "expired"
    assert "certificate_expired (45)" in outcome.summary
    diagnosis = diagnose([outcome])
    assert diagnosis.row == "tls-handshake-failure" and "expired" in diagnosis.cause
    assert program_notes(observed, outcome, since=0, until=1) == []


@pytest.mark.parametrize("sizes, expected", [((600,), ["nat-no-keepalive"]), ((600, 4), [])])
def test_a_nat_binding_that_expired_without_keepalives(sizes, expected):
    records = [FaultRecord(0.1 * i, "nat", "forwarded", Transport.UDP, "to-server", size,
                           CLIENT, NATTED.address) for i, size in enumerate(sizes)]
    records.append(FaultRecord(2.0, "nat", "expired", Transport.UDP, "", 0, CLIENT,
                               ("127.0.0.15", 30000)))
    observed = Observed([NATTED], [], faults=records)
    outcome = observed_registration(observed, since=0, until=3, registered=False)
    notes = program_notes(observed, outcome, since=0, until=3)
    assert [n.id for n in notes] == expected


def test_datagrams_a_fault_dropped_before_the_registrar_are_attempts():
    records = [FaultRecord(t, "firewall", "dropped", Transport.UDP, "to-server", 500, CLIENT,
                           NATTED.address, "drop") for t in (0.0, 0.1, 0.3)]
    outcome = observed_registration(Observed([NATTED], [], faults=records), since=0,
                                    until=5, registered=False, waited=5)
    assert [(e.remote, e.transmissions) for e in outcome.exchanges] == [(NATTED.public, 3)]
    assert "dropped by the firewall fault" in outcome.exchanges[0].detail
    assert diagnose([outcome]).row == "registration-timeout"


def invite_sent(time, size=600):
    data = ("INVITE sip:alice@127.0.0.1:40000 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.11:5060;branch=z9hG4bKinv\r\n"
            "From: <sip:pbx>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: i1\r\n"
            "CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {size}\r\n\r\n").encode() + b"v" * size
    return TraceEvent(time, "sent", "UDP", PBX1.address, CLIENT, "INVITE (CSeq 1 INVITE)",
                      data, owner="pbx1")


def test_an_inbound_invite_answered():
    response = parse_message(answer("inv", 200, "OK", method="INVITE"))
    outcome = observed_inbound(Observed([PBX1], [invite_sent(0.1)]), method="INVITE",
                               registrar="pbx1", since=0, until=1, result=response, waited=3)
    assert outcome.ok and outcome.status == 200 and outcome.received


REGISTERED = Outcome("register", True, "registered over UDP", status=200, transport="UDP")


def test_a_large_inbound_invite_lost_over_udp_is_too_large_a_message():
    dropped = FaultRecord(0.1, "mtu", "dropped", Transport.UDP, "to-client", 1900)
    sends = [invite_sent(t, 1600) for t in (0.1, 0.2, 0.4)]
    outcome = observed_inbound(Observed([PBX1], sends, faults=[dropped]), method="INVITE",
                               registrar="pbx1", since=0, until=1,
                               result=TransactionFailed("timeout", "Timer B"), waited=1)
    assert not outcome.ok and outcome.received is False
    assert outcome.exchanges[0].transmissions == 3
    assert diagnose([REGISTERED, outcome]).row == "message-too-large"
    small = observed_inbound(Observed([PBX1], [invite_sent(0.1)], faults=[dropped]),
                             method="INVITE", registrar="pbx1", since=0, until=1,
                             result=None, waited=1)
    assert diagnose([REGISTERED, small]).row == "nat-timeout"


def test_note_ids_are_findings():
    assert set(NOTE_IDS) == {"accepted-bad-certificate", "no-srv-failover", "nat-no-keepalive"}
