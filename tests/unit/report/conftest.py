"""Results to render: a real scenario, a diagnosis with findings, a trace for a ladder."""

from __future__ import annotations

from pathlib import Path

from testbed.diagnosis import Diagnosis, Finding
from testbed.scenario import ScenarioResult, parse
from testbed.transport import TraceEvent

ROOT = Path(__file__).resolve().parents[3]
HEALTHY = (ROOT / "scenarios" / "healthy" / "udp.yaml").read_text(encoding="utf-8")

CLIENT, REGISTRAR = ("127.0.0.1", 40000), ("127.0.0.7", 5060)
REFUSED = Finding("connection-refused", "127.0.0.7:5061/TLS refused the connection",
                  ("REGISTER to 127.0.0.7:5061/TLS: refused after 0 transmission(s)",))
FAILOVER = Finding("failover", "after 127.0.0.7:5061/TLS failed, the client tried "
                   "127.0.0.7:5060/TCP", ("REGISTER to 127.0.0.7:5060/TCP: 200 OK",))
LONG_CAUSE = ("The server certificate names the SIP domain only in its subject common name, "
              "without any subjectAltName, which RFC 5922 section 7.1 and every current TLS "
              "library refuse, so the handshake ends with a certificate alert at the client")


def scenario(name: str = "healthy-udp"):
    return parse(HEALTHY.replace("name: healthy-udp", f"name: {name}"), f"{name}.yaml")


def diagnosis(row: str = "healthy", cause: str = "Registration and calls work",
              findings: tuple[Finding, ...] = (REFUSED, FAILOVER)) -> Diagnosis:
    symptom = "No problem" if row == "healthy" else "TLS handshake failure"
    return Diagnosis(row, symptom, cause, "Nothing to fix." if row == "healthy"
                     else "Install a certificate that names the domain.",
                     ("REGISTERED via 127.0.0.7:5060/TCP",), findings)


def result(name: str = "healthy-udp", passed: bool = True, duration: float = 0.0123,
           failures: tuple[str, ...] = (), events: tuple[TraceEvent, ...] = (),
           **diagnosis_args) -> ScenarioResult:
    return ScenarioResult(scenario(name), passed, [], diagnosis(**diagnosis_args),
                          list(failures), duration, trace_events=list(events))


def register_events(count: int) -> list[TraceEvent]:
    """``count`` REGISTER/200 rounds between the client and the registrar."""
    events = []
    for index in range(count):
        request = f"REGISTER sip:example.com (CSeq {index + 1} REGISTER)"
        answer = f"200 OK (CSeq {index + 1} REGISTER)"
        at = 100.0 + index * 0.01
        events += [TraceEvent(at, "sent", "UDP", CLIENT, REGISTRAR, request, owner="client"),
                   TraceEvent(at + 0.001, "received", "UDP", REGISTRAR, CLIENT, request,
                              owner="registrar"),
                   TraceEvent(at + 0.002, "sent", "UDP", REGISTRAR, CLIENT, answer,
                              owner="registrar"),
                   TraceEvent(at + 0.003, "received", "UDP", CLIENT, REGISTRAR, answer,
                              owner="client")]
    return events
