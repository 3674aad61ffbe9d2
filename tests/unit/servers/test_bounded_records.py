"""What a server left running remembers stays bounded: the registrar's record of the
requests it handled, its location table's expired bindings, the DNS server's query log,
a fault's log. Time from a Clock or passed as numbers; no sockets."""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.internet.task import Clock

from servers.dns import QUERY_LOG_LIMIT, DnsServer
from servers.faults import FAULT_LOG_LIMIT, FaultLog, FaultRecord
from servers.registrar import RECEIVED_LIMIT, LocationTable, Registrar
from servers.registrar._location import SWEEP_INTERVAL
from testbed.sip import Request, Transport


@dataclass
class Flow:
    transport: Transport = Transport.UDP
    local: tuple[str, int] = ("127.0.0.1", 5060)
    remote: tuple[str, int] = ("127.0.0.2", 5070)
    closed: bool = False


@dataclass
class Context:
    """A server transaction that drops the answers (the registrar only calls respond)."""

    request: Request
    flow: Flow = field(default_factory=Flow)

    def respond(self, status, reason=None, *, to_tag=None, headers=(), body=b""):
        pass


def options(n: int) -> Request:
    return Request("OPTIONS", "sip:pbx.example.com", [
        ("Via", f"SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK{n}"),
        ("From", "<sip:probe@example.com>;tag=1"), ("To", "<sip:pbx.example.com>"),
        ("Call-ID", f"{n}@probe"), ("CSeq", "1 OPTIONS")])


def register(user: str, expires: int) -> Request:
    aor = f"sip:{user}@example.com"
    return Request("REGISTER", "sip:example.com", [
        ("Via", "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKr"), ("From", f"<{aor}>;tag=1"),
        ("To", f"<{aor}>"), ("Call-ID", f"{user}@phone"), ("CSeq", "1 REGISTER"),
        ("Contact", f"<sip:{user}@127.0.0.2:5070>"), ("Expires", str(expires))])


def test_a_registrar_handling_many_requests_keeps_the_last_n_records():
    clock = Clock()
    registrar = Registrar(clock, received_limit=500)
    for n in range(20_000):
        clock.advance(1)
        registrar.request_received(Context(options(n)))  # type: ignore[arg-type]
    assert len(registrar.received) == 500
    assert [r.time for r in registrar.received] == [float(t) for t in range(19_501, 20_001)]
    assert Registrar(Clock()).received.maxlen == RECEIVED_LIMIT


def test_expired_bindings_of_aors_nobody_touches_again_are_swept():
    table = LocationTable()
    for n in range(1000):
        table.register(register(f"user{n}", expires=30), now=0.0)
    table.register(register("late", expires=3600), now=10.0)
    assert len(table.bindings) == 1001  # nothing expired yet, and no sweep is due
    table.register(register("later", expires=3600), now=SWEEP_INTERVAL - 1)
    assert len(table.bindings) == 1002  # expired, but the next sweep is not due
    table.register(register("last", expires=3600), now=SWEEP_INTERVAL + 1)
    assert sorted(table.bindings) == ["sip:last@example.com", "sip:late@example.com",
                                      "sip:later@example.com"]
    assert table.expire(now=10_000.0) == 3 and table.bindings == {}


def test_the_dns_query_log_keeps_the_last_n_queries():
    server = DnsServer([{"origin": "example.com", "records": []}], Clock(), log_limit=50)
    for n in range(5000):
        server.handle(b"x" * (n % 11), ("127.0.0.1", 40000 + n % 100), "udp", lambda _: None)
    assert len(server.log) == 50
    assert server.log[-1].note == "dropped 5 bytes: shorter than a DNS header"  # 4999 % 11
    assert DnsServer([], Clock()).log.maxlen == QUERY_LOG_LIMIT


def test_a_fault_log_keeps_the_last_n_records_and_listeners_see_all():
    log = FaultLog(limit=10)
    seen = []
    log.subscribe(seen.append)
    for n in range(1000):
        log.append(FaultRecord(float(n), "loss", "dropped", Transport.UDP, index=n))
    assert len(log) == 10 and log.dropped == 990 and len(seen) == 1000
    assert [r.index for r in log.of("dropped")] == list(range(990, 1000))
    assert log[0].index == 990
    assert FaultLog().records.maxlen == FAULT_LOG_LIMIT
