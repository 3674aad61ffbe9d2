"""The classifier: each kind of recorded failure lands on its row, with evidence."""

import pytest

from testbed.client import CallDetails, Exchange, Outcome
from testbed.diagnosis import ROW_IDS, diagnose
from testbed.transport import TlsFailure


def exchange(method="REGISTER", transport="UDP", error=None, status=None, transmissions=1,
             started=0.0, ended=1.0, detail=""):
    return Exchange(method, transport, ("127.0.0.7", 5060), started, ended=ended, error=error,
                    status=status, reason="", transmissions=transmissions, detail=detail)


def outcome(operation="register", ok=False, error=None, exchanges=(), **kw):
    return Outcome(operation, ok, f"{operation} {'ok' if ok else 'failed'}", error=error,
                   exchanges=list(exchanges), **kw)


REGISTERED = outcome(ok=True, transport="UDP", exchanges=[exchange(status=200)])


@pytest.mark.parametrize("outcomes, row", [
    ([outcome(error="timeout", exchanges=[exchange(error="timeout", transmissions=11)])],
     "registration-timeout"),
    ([outcome(error="refused", exchanges=[exchange(transport="TCP", error="refused")])],
     "connection-refused"),
    ([outcome(error="websocket", exchanges=[exchange(transport="WSS", error="websocket")])],
     "wss-no-websocket"),
    ([outcome(error="dns", resolution=["NAPTR x → NXDOMAIN"])], "dns-failure"),
    ([outcome(error="auth", exchanges=[exchange(status=401), exchange(status=401)])],
     "auth-failure"),
    ([REGISTERED, outcome("call", error="timeout", call=CallDetails(2100, "UDP"),
                          exchanges=[exchange("INVITE", error="timeout", transmissions=7)])],
     "message-too-large"),
    ([REGISTERED, outcome("call", error="timeout", call=CallDetails(900, "UDP"),
                          exchanges=[exchange("INVITE", error="timeout", transmissions=7)])],
     "registration-timeout"),
    ([REGISTERED, outcome("inbound", error="timeout")], "nat-timeout"),
    ([outcome(ok=True, exchanges=[exchange(status=200, transmissions=3)])],
     "intermittent-udp-loss"),
    ([outcome(ok=True, transport="UDP", exchanges=[exchange(status=200)],
              resolution=["no SRV: fell back to A example.com → UDP 5060"])], "auto-fallback-udp"),
    ([outcome("call", error="rejected", status=486, exchanges=[exchange("INVITE", status=486)])],
     "rejected"),
    ([REGISTERED], "healthy"),
    ([outcome(error="error")], "unclassified"),
])
def test_rows(outcomes, row):
    mode = "auto" if any(o.resolution for o in outcomes) else "udp"
    diagnosis = diagnose(outcomes, mode=mode)
    assert diagnosis.row == row
    assert diagnosis.row in ROW_IDS
    assert diagnosis.symptom and diagnosis.cause and diagnosis.solution


@pytest.mark.parametrize("kind, words", [
    ("expired", "expired"), ("not-yet-valid", "not valid yet"), ("self-signed", "self-signed"),
    ("untrusted-ca", "does not trust"), ("hostname-mismatch", "does not name"),
    ("protocol-version", "No common TLS version")])
def test_tls_cause_names_the_certificate_problem(kind, words):
    failed = outcome(error="tls", tls_failure=TlsFailure(kind, f"detail of {kind}"),
                     exchanges=[exchange(transport="TLS", error="tls")])
    diagnosis = diagnose([failed])
    assert diagnosis.row == "tls-handshake-failure"
    assert words in diagnosis.cause
    assert diagnosis.evidence[0] == f"{kind}: detail of {kind}"


def test_timeout_evidence_counts_transmissions():
    failed = outcome(error="timeout", exchanges=[
        exchange(error="timeout", transmissions=11, started=0.0, ended=32.0)])
    diagnosis = diagnose([failed])
    assert diagnosis.evidence == (
        "11 transmission(s) of REGISTER to 127.0.0.7:5060/UDP, no response in 32.0 s (Timer F)",)
    assert "Check firewall rules" in diagnosis.solution
    assert str(diagnosis).splitlines()[0] == "Symptom: Registration timeout"
