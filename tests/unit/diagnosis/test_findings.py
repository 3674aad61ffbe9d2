"""Findings: every notable event of the journey is listed, healthy or not, with evidence."""

import pytest

from testbed.client import Exchange, Note, Outcome
from testbed.diagnosis import FINDING_IDS, ROW_IDS, diagnose
from testbed.dns import QueryRecord
from testbed.transport import TlsFailure

PRIMARY = ("127.0.0.7", 5061)
SECONDARY = ("127.0.0.8", 5060)


def exchange(remote=PRIMARY, transport="TLS", error=None, status=None, transmissions=1,
             detail="", **kw):
    return Exchange("REGISTER", transport, remote, 0.0, ended=0.1, error=error, status=status,
                    reason="OK" if status == 200 else "", transmissions=transmissions,
                    detail=detail, **kw)


def registered(*exchanges, **kw):
    last = exchanges[-1]
    return Outcome("register", True, "REGISTERED", status=200, transport=last.transport,
                   remote=last.remote, exchanges=list(exchanges), **kw)


def query(outcome, name="sip.example.com", type_="NAPTR", transport="udp", note=""):
    return QueryRecord(0.0, name, type_, "127.0.0.9:53", transport, outcome, note=note)


@pytest.mark.parametrize("error, finding", [
    ("refused", "connection-refused"), ("timeout", "registration-timeout"),
    ("tls", "tls-handshake-failure"), ("websocket", "wss-no-websocket"),
    ("transport", "transport-error")])
def test_a_dead_primary_before_failover_is_a_finding_of_a_healthy_run(error, finding):
    outcome = registered(exchange(error=error, transmissions=0, detail="why"),
                         exchange(SECONDARY, "TCP", status=200))
    diagnosis = diagnose([outcome])
    assert diagnosis.row == "healthy"
    assert diagnosis.finding_ids == (finding, "failover")
    failover = diagnosis.findings[1]
    assert "127.0.0.7:5061/TLS" in failover.sentence and "127.0.0.8:5060/TCP" in failover.sentence


def test_503_with_retry_after_before_failover():
    outcome = registered(exchange(status=503, retry_after=30),
                         exchange(SECONDARY, "TCP", status=200))
    diagnosis = diagnose([outcome])
    assert diagnosis.finding_ids == ("server-unavailable", "failover")
    assert "Retry-After 30 s" in diagnosis.findings[0].sentence


@pytest.mark.parametrize("rcode, finding", [
    ("SERVFAIL", "dns-servfail"), ("REFUSED", "dns-refused"), ("TIMEOUT", "dns-timeout"),
    ("ERROR", "dns-error")])
def test_dns_server_failures_survived_are_findings(rcode, finding):
    outcome = registered(exchange(status=200), queries=[query(rcode), query("NOERROR", type_="SRV")])
    diagnosis = diagnose([outcome], mode="auto")
    assert diagnosis.row == "healthy" and diagnosis.finding_ids == (finding,)
    assert "@127.0.0.9:53" in diagnosis.findings[0].evidence[0]


def test_cached_answers_and_nxdomain_are_not_findings():
    outcome = registered(exchange(status=200), queries=[
        query("SERVFAIL", transport="cache"), query("NXDOMAIN")])
    assert diagnose([outcome]).findings == ()


def test_truncation_retried_over_tcp():
    outcome = registered(exchange(status=200), queries=[
        query("NOERROR", type_="SRV", note="truncated (TC): retrying over TCP"),
        query("NOERROR", type_="SRV", transport="tcp")])
    assert diagnose([outcome]).finding_ids == ("dns-truncated",)


def test_retransmissions_and_notes():
    outcome = registered(exchange(transport="UDP", status=200, transmissions=3),
                         notes=[Note("stale-nonce", "401 with stale=true"),
                                Note("udp-to-tcp-switch", "INVITE of 1400 bytes ...")])
    diagnosis = diagnose([outcome])
    assert diagnosis.row == "intermittent-udp-loss"
    assert diagnosis.finding_ids == ("retransmissions", "stale-nonce", "udp-to-tcp-switch")


def test_insecure_trust_is_a_finding():
    outcome = registered(exchange(status=200), notes=[Note(
        "insecure-trust", "127.0.0.7:5061/TLS: certificate accepted only because trust is "
        "insecure; with verification: expired")])
    assert diagnose([outcome]).finding_ids == ("insecure-trust",)


def test_the_same_event_twice_is_one_finding():
    first = registered(exchange(status=200), queries=[query("SERVFAIL")])
    again = registered(exchange(status=200), queries=[query("SERVFAIL")])
    assert len(diagnose([first, again]).findings) == 1


def test_naptr_servfail_with_no_srv_is_a_server_failure_not_missing_records():
    outcome = registered(exchange(SECONDARY, "UDP", status=200),
                         queries=[query("SERVFAIL"), query("NXDOMAIN", type_="SRV")],
                         resolution=["NAPTR sip.example.com → SERVFAIL",
                                     "no SRV: fell back to A sip.example.com → UDP 5060 "
                                     "(RFC 3263 §4.2 default)"])
    diagnosis = diagnose([outcome], mode="auto")
    assert diagnosis.row == "dns-server-failure"
    assert "failed the NAPTR/SRV lookups" in diagnosis.cause
    assert "Missing" not in diagnosis.cause
    assert diagnosis.finding_ids == ("dns-servfail", "auto-fallback-udp")


@pytest.mark.parametrize("queries, row, solution", [
    ([query("TIMEOUT"), query("TIMEOUT", type_="A")], "dns-server-failure", "Fix the DNS server"),
    ([query("REFUSED")], "dns-server-failure", "REFUSED"),
    ([query("NXDOMAIN"), query("NXDOMAIN", type_="A")], "dns-failure", "Publish the records"),
])
def test_unresolved_names_tell_server_failure_from_missing_records(queries, row, solution):
    failed = Outcome("register", False, "register failed", error="dns", queries=queries,
                     resolution=["no targets: nothing to contact"])
    diagnosis = diagnose([failed], mode="auto")
    assert diagnosis.row == row and row in ROW_IDS
    assert solution in diagnosis.solution


def test_tls_failure_finding_names_the_kind():
    outcome = registered(exchange(error="tls", transmissions=0,
                                  tls_failure=TlsFailure("expired", "notAfter 2024-01-01")),
                         exchange(SECONDARY, "TCP", status=200))
    assert "expired" in diagnose([outcome]).findings[0].sentence


def test_every_finding_id_is_documented():
    for row in ("connection-refused", "registration-timeout", "tls-handshake-failure",
                "wss-no-websocket", "auto-fallback-udp"):
        assert row in ROW_IDS and row in FINDING_IDS
    assert all(text for text in FINDING_IDS.values())
