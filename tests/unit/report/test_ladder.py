"""The ladder diagram and the message log of a small synthetic trace, as golden text."""

from servers.dns import QueryLogEntry
from testbed.report import ladder, message_log
from testbed.transport import TraceEvent

CLIENT, CLIENT_TCP, CLIENT_TLS = ("127.0.0.1", 40000), ("127.0.0.1", 40001), ("127.0.0.1", 40002)
REGISTRAR, REGISTRAR_TLS = ("127.0.0.7", 5060), ("127.0.0.7", 5061)
REG1 = b"REGISTER sip:example.com SIP/2.0\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
R401 = b"SIP/2.0 401 Unauthorized\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
REG2 = b"REGISTER sip:example.com SIP/2.0\r\nCSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n"
OPT = b"OPTIONS sip:example.com SIP/2.0\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
R1 = "REGISTER sip:example.com (CSeq 1 REGISTER)"
R2 = "REGISTER sip:example.com (CSeq 2 REGISTER)"


def ev(time, kind, owner, local, remote, summary="", data=b"", detail="", transport="UDP"):
    return TraceEvent(time, kind, transport, local, remote, summary, data, detail, owner)


EVENTS = [
    ev(100.0, "listening", "registrar", REGISTRAR, None, "listening on 127.0.0.7:5060/UDP"),
    ev(100.03, "sent", "client", CLIENT, REGISTRAR, R1, REG1),
    ev(100.031, "received", "registrar", REGISTRAR, CLIENT, R1, REG1),
    ev(100.05, "sent", "client", CLIENT, REGISTRAR, R1, REG1),
    ev(100.051, "received", "registrar", REGISTRAR, CLIENT, R1, REG1),
    ev(100.052, "sent", "registrar", REGISTRAR, CLIENT, "401 Unauthorized (CSeq 1 REGISTER)", R401),
    ev(100.053, "received", "client", CLIENT, REGISTRAR, "401 Unauthorized (CSeq 1 REGISTER)", R401),
    ev(100.06, "sent", "client", CLIENT, REGISTRAR, R2, REG2),
    ev(101.34, "timeout", "client", None, REGISTRAR, f"Timer F fired: {R2}"),
    ev(101.5, "connecting", "client", None, REGISTRAR, "connecting to 127.0.0.7:5060/TCP",
       transport="TCP"),
    ev(101.501, "connected", "client", CLIENT_TCP, REGISTRAR, "TCP connection (client)",
       transport="TCP"),
    ev(101.502, "connected", "registrar", REGISTRAR, CLIENT_TCP, "TCP connection (server)",
       transport="TCP"),
    ev(101.503, "sent", "client", CLIENT_TCP, REGISTRAR, "OPTIONS sip:example.com (CSeq 1 OPTIONS)",
       OPT, transport="TCP"),
    ev(101.504, "received", "registrar", REGISTRAR, CLIENT_TCP,
       "OPTIONS sip:example.com (CSeq 1 OPTIONS)", OPT, transport="TCP"),
    ev(101.6, "keepalive-sent", "client", CLIENT_TCP, REGISTRAR, "CRLFCRLF ping", b"\r\n\r\n",
       transport="TCP"),
    ev(101.601, "keepalive-received", "registrar", REGISTRAR, CLIENT_TCP,
       "CRLFCRLF ping (answered)", transport="TCP"),
    ev(101.602, "keepalive-received", "client", CLIENT_TCP, REGISTRAR, "CRLF pong",
       transport="TCP"),
    ev(101.7, "closed", "client", CLIENT_TCP, REGISTRAR, "connection closed",
       detail="Connection was closed cleanly.", transport="TCP"),
    ev(101.701, "closed", "registrar", REGISTRAR, CLIENT_TCP, "connection closed",
       detail="Connection was closed cleanly.", transport="TCP"),
    ev(102.01, "tls-failed", "client", CLIENT_TLS, REGISTRAR_TLS,
       "TLS handshake failed: expired", transport="TLS"),
    ev(102.2, "connect-failed", "client", None, ("127.0.0.7", 5062),
       "connection refused by 127.0.0.7:5062", detail="refused", transport="TCP"),
    ev(102.5, "note", "client", None, None, "switching to TCP (RFC 3261 §18.1.1)"),
]
DNS_LOG = [
    QueryLogEntry(99.99, ("127.0.0.1", 53000), "udp", "sip.example.com", "NAPTR", "NOERROR",
                  ("a", "b", "c")),
    QueryLogEntry(99.995, ("127.0.0.1", 53000), "udp", "_sip._udp.sip.example.com", "SRV",
                  "NXDOMAIN"),
    QueryLogEntry(99.998, ("127.0.0.1", 53001), "tcp", "sip.example.com", "A", None,
                  fault="timeout", note="not answered (timeout fault)"),
]

GOLDEN_LADDER = """\
Participants:
  client     127.0.0.1 (DNS queries), 127.0.0.1:40000/UDP, 127.0.0.1:40001/TCP, 127.0.0.1:40002/TLS
  registrar  127.0.0.7:5060/UDP, 127.0.0.7:5060/TCP, 127.0.0.7:5061/TLS, 127.0.0.7:5062/TCP
  DNS        the DNS server (its query log)
Times in seconds from the first row; ✗ failed, [retransmission N] repeats an identical packet.

            client      registrar       DNS
 time(s)       │            │            │
   0.000       │───────────UDP──────────▶│        NAPTR sip.example.com? → 3 answers
   0.005       │───────────UDP──────────▶│        SRV _sip._udp.sip.example.com? → NXDOMAIN
   0.008       │───────────TCP──────────▶│        A sip.example.com? → no answer [fault: timeout]
   0.040       │────UDP────▶│            │        REGISTER sip:example.com (CSeq 1 REGISTER)
   0.060       │────UDP────▶│            │        REGISTER sip:example.com (CSeq 1 REGISTER)
               │            │            │        [retransmission 1]
   0.062       │◀───UDP─────│            │        401 Unauthorized (CSeq 1 REGISTER)
   0.070       │────UDP────✗│            │        REGISTER sip:example.com (CSeq 2 REGISTER) (not
               │            │            │        received)
   1.350       ✗            │            │        ✗ Timer F fired: REGISTER sip:example.com (CSeq 2
               │            │            │        REGISTER)
   1.511       │┄┄┄┄TCP┄┄┄┄▶│            │        TCP connected
   1.513       │────TCP────▶│            │        OPTIONS sip:example.com (CSeq 1 OPTIONS)
   1.610       │────TCP────▶│            │        CRLFCRLF ping
   1.612       │◀───TCP─────│            │        CRLF pong
   1.710       │┄┄┄┄TCP┄┄┄┄▶│            │        TCP connection closed: Connection was closed
               │            │            │        cleanly.
   2.020       │────TLS────✗│            │        ✗ TLS handshake failed: expired
   2.210       │────TCP────✗│            │        ✗ connection refused by 127.0.0.7:5062
   2.510       ●            │            │        · switching to TCP (RFC 3261 §18.1.1)
"""


def test_ladder_golden():
    assert ladder(EVENTS, DNS_LOG) == GOLDEN_LADDER


def test_ladder_fits_in_100_columns_and_is_deterministic():
    text = ladder(EVENTS, DNS_LOG)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert ladder(list(EVENTS), list(DNS_LOG)) == text


def test_names_override_owners_and_order_the_columns():
    text = ladder(EVENTS, DNS_LOG, {"127.0.0.7": "PBX", ("127.0.0.1", 40000): "alice"})
    header = text.splitlines()[text.splitlines().index("") + 1]
    assert header.split() == ["PBX", "alice", "client", "DNS"]


def test_long_names_are_staggered_not_cut():
    hosts = [(f"127.0.0.{i}", 5060) for i in range(1, 6)]
    names = dict(zip(hosts, ["softphone-alice", "fault proxy", "registrar", "pbx-backup", "x"],
                     strict=True))
    events = [ev(float(i), "sent", "", a, b, "OPTIONS sip:x (CSeq 1 OPTIONS)", b"x")
              for i, (a, b) in enumerate(zip(hosts, hosts[1:] + hosts[:1], strict=True))]
    lines = ladder(events, names=names).splitlines()
    header = lines[lines.index("") + 1:lines.index("") + 3]
    assert header == ["      softphone-alice      registrar             x",
                      "                 fault proxy       pbx-backup"]


def test_a_message_seen_only_by_its_receiver_is_a_row_of_its_own():
    events = [ev(1.0, "received", "registrar", REGISTRAR, ("127.0.0.9", 5999), R1, REG1)]
    text = ladder(events, names={("127.0.0.9", 5999): "softphone"})
    assert "softphone" in text and R1 in text and "not received" not in text


def test_an_empty_trace():
    assert ladder([]) == "(no messages)\n" == message_log([])


GOLDEN_LOG = """\
--- +0.000  client → DNS  UDP  127.0.0.1:53000  NAPTR sip.example.com? → 3 answers
--- +0.005  client → DNS  UDP  127.0.0.1:53000  SRV _sip._udp.sip.example.com? → NXDOMAIN
--- +0.008  client → DNS  TCP  127.0.0.1:53001  A sip.example.com? → no answer [fault: timeout]
=== +0.040  client → registrar  UDP  127.0.0.1:40000 → 127.0.0.7:5060  (73 bytes; sent by client, received by registrar at +0.041)
    REGISTER sip:example.com (CSeq 1 REGISTER)
REGISTER sip:example.com SIP/2.0
CSeq: 1 REGISTER
Content-Length: 0

=== +0.060  client → registrar  UDP  127.0.0.1:40000 → 127.0.0.7:5060  (73 bytes; sent by client, received by registrar at +0.061)
    REGISTER sip:example.com (CSeq 1 REGISTER) [retransmission 1]
REGISTER sip:example.com SIP/2.0
CSeq: 1 REGISTER
Content-Length: 0

=== +0.062  registrar → client  UDP  127.0.0.7:5060 → 127.0.0.1:40000  (65 bytes; sent by registrar, received by client at +0.063)
    401 Unauthorized (CSeq 1 REGISTER)
SIP/2.0 401 Unauthorized
CSeq: 1 REGISTER
Content-Length: 0

=== +0.070  client → registrar  UDP  127.0.0.1:40000 → 127.0.0.7:5060  (73 bytes; sent by client, not received)
    REGISTER sip:example.com (CSeq 2 REGISTER)
REGISTER sip:example.com SIP/2.0
CSeq: 2 REGISTER
Content-Length: 0

--- +1.350  client  UDP  -  ✗ Timer F fired: REGISTER sip:example.com (CSeq 2 REGISTER)
--- +1.511  client → registrar  TCP  127.0.0.1:40001 → 127.0.0.7:5060  TCP connected
=== +1.513  client → registrar  TCP  127.0.0.1:40001 → 127.0.0.7:5060  (71 bytes; sent by client, received by registrar at +1.514)
    OPTIONS sip:example.com (CSeq 1 OPTIONS)
OPTIONS sip:example.com SIP/2.0
CSeq: 1 OPTIONS
Content-Length: 0

--- +1.610  client → registrar  TCP  127.0.0.1:40001 → 127.0.0.7:5060  CRLFCRLF ping
--- +1.612  registrar → client  TCP  127.0.0.7:5060 → 127.0.0.1:40001  CRLF pong
--- +1.710  client → registrar  TCP  127.0.0.1:40001 → 127.0.0.7:5060  TCP connection closed: Connection was closed cleanly.
--- +2.020  client → registrar  TLS  127.0.0.1:40002 → 127.0.0.7:5061  ✗ TLS handshake failed: expired
--- +2.210  client → registrar  TCP  - → 127.0.0.7:5062  ✗ connection refused by 127.0.0.7:5062
--- +2.510  client  UDP  -  · switching to TCP (RFC 3261 §18.1.1)
"""


def test_message_log_golden():
    assert message_log(EVENTS, dns_log=DNS_LOG) == GOLDEN_LOG


def test_message_log_shows_every_message_once_in_full():
    text = message_log(EVENTS)
    assert text.count("REGISTER sip:example.com SIP/2.0") == 3  # two copies of CSeq 1, CSeq 2
    assert text.count("SIP/2.0 401 Unauthorized") == 1
    assert "\r" not in text
