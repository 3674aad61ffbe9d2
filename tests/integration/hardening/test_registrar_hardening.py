"""Every way a layer refuses peer input, on loopback: the answer (or the drop), at most
one log line, and never a traceback.

The peer is a SIP stack of ours writing raw bytes on its flows: what comes back reaches
it as stray responses (it started no transaction), and a connection the server closes
as ``flow_closed``. A probe request after a dropped input shows that nothing came back
for it (the server handles one flow's input in order) without waiting for a timeout.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.logger import globalLogPublisher

from testbed.sip import Challenge, Request, Response, Timers, build_authorization
from testbed.transport import Flow, ServerContext, SipStack

FAST = Timers(t1=0.02, t2=0.16, t4=0.2)
WAIT = 5.0  # a bound on every wait: a broken server fails the test instead of hanging it
ACCOUNTS = {"alice": "secret", "bob": "hunter2"}
_SEQUENCE = itertools.count(1)


# -- the peer, the log and the server's flow ------------------------------------------------


@dataclass
class Peer:
    """A stack that sends raw bytes and records the responses and closes it gets back."""

    stack: SipStack = field(init=False)
    responses: list[Response] = field(default_factory=list)
    closed: list[Flow] = field(default_factory=list)
    _waiting: list[tuple[int, defer.Deferred]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stack = SipStack(reactor, self, timers=FAST, name="peer")

    def request_received(self, context: ServerContext) -> None:
        pass

    def ack_received(self, ack: Request, flow: Flow) -> None:
        pass

    def stray_response(self, response: Response, flow: Flow) -> None:
        self.responses.append(response)
        self._wake()

    def flow_closed(self, flow: Flow, reason: str) -> None:
        self.closed.append(flow)
        self._wake()

    def _wake(self) -> None:
        count = len(self.responses) + len(self.closed)
        for waiting in [w for w in self._waiting if w[0] <= count]:
            self._waiting.remove(waiting)
            waiting[1].callback(None)

    def events(self, count: int) -> defer.Deferred:
        """Fires once ``count`` responses and closes arrived in all."""
        waiter: defer.Deferred = defer.Deferred()
        self._waiting.append((count, waiter))
        self._wake()
        return waiter.addTimeout(WAIT, reactor)


def request_bytes(method: str, peer_flow: Flow, *, branch: str | None = "", uri: str = "",
                  call_id: str = "", cseq: int = 1, headers: tuple[str, ...] = (),
                  to_user: str = "alice", host: str = "127.0.0.1") -> bytes:
    """A well-formed request from the peer's flow (branch None: an RFC 2543 Via)."""
    local_host, local_port = peer_flow.local
    if branch == "":
        branch = f"z9hG4bKprobe{next(_SEQUENCE)}"
    via = f"SIP/2.0/{peer_flow.transport} {local_host}:{local_port};rport"
    if branch is not None:
        via += f";branch={branch}"
    lines = [f"{method} {uri or f'sip:{host}'} SIP/2.0", f"Via: {via}",
             f"From: <sip:{to_user}@{host}>;tag=f{cseq}", f"To: <sip:{to_user}@{host}>",
             f"Call-ID: {call_id or f'c{next(_SEQUENCE)}@peer'}", f"CSeq: {cseq} {method}",
             *headers, "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


@pytest.fixture
def rejected_lines(caplog: pytest.LogCaptureFixture):
    """The ``testbed.rejected`` lines logged so far (a function: read them when due)."""
    caplog.set_level(logging.WARNING, logger="testbed.rejected")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "testbed.rejected"]


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture):
    """Fails the test if anything logged a failure (Twisted) or an exception (logging)."""
    failures: list[dict] = []

    def observer(event: dict) -> None:
        if "log_failure" in event:
            failures.append(event)

    globalLogPublisher.addObserver(observer)
    yield
    globalLogPublisher.removeObserver(observer)
    assert failures == [], [e["log_failure"].getTraceback() for e in failures]
    assert [r for r in caplog.records if r.exc_info] == []


@pytest.fixture
def peer():
    created = Peer()
    created.stack.listen_udp("127.0.0.1", 0)
    yield created
    pytest_twisted.blockon(created.stack.stop())


async def connect(peer: Peer, transport: str, bound: dict) -> Flow:
    host, port = bound[transport]
    return await peer.stack.connect(transport, host, port)


# -- the parser and the flows: malformed input -------------------------------------------------

def bad_request(flow: Flow) -> bytes:
    """A request the parser refuses, whose 400 still names the peer (Via is fine)."""
    return request_bytes("OPTIONS", flow, headers=("Max-Forwards: many",))


def bad_response(flow: Flow) -> bytes:
    return b"SIP/2.0 200 OK\r\n" + bad_request(flow).split(b"\r\n", 1)[1]


def unframed_request(flow: Flow) -> bytes:
    return request_bytes("OPTIONS", flow).replace(b"Content-Length: 0\r\n", b"")


def bad_length(flow: Flow) -> bytes:
    return request_bytes("OPTIONS", flow).replace(b"Content-Length: 0", b"Content-Length: x")


def endless_head(flow: Flow) -> bytes:
    return request_bytes("OPTIONS", flow).rstrip(b"\r\n") + b"\r\nX-Pad: " + b"a" * 70_000


CASES = [
    # (transport, input, answer: status or None for a drop, connection closed, log says)
    ("UDP", bad_request, 400, False, "400 Invalid Max-Forwards: 'many' (answered)"),
    ("UDP", bad_response, None, False, "(dropped)"),
    ("UDP", lambda flow: b"garbage\r\n\r\n", None, False, "(dropped)"),
    ("TCP", bad_request, 400, False, "400 Invalid Max-Forwards: 'many' (answered)"),
    ("TCP", unframed_request, 400, True, "400 Missing Content-Length on stream transport"),
    ("TCP", bad_length, 400, True, "400 Invalid Content-Length on stream transport"),
    ("TCP", endless_head, 513, True, "513 Message headers too large (answered)"),
    ("WS", bad_request, 400, False, "400 Invalid Max-Forwards: 'many' (answered)"),
    ("WS", bad_response, None, False, "(dropped)"),
]


@pytest.mark.parametrize(("transport", "make_input", "status", "closes", "logged"), CASES,
                         ids=[f"{c[0]}-{c[1].__name__}-{c[2]}" for c in CASES])
@pytest_twisted.ensureDeferred
async def test_malformed_input_is_answered_or_dropped_in_one_line(
        servers, peer, rejected_lines, no_tracebacks, transport, make_input, status, closes,
        logged):
    _, bound = servers.registrar({transport: 0})
    flow = await connect(peer, transport, bound)
    flow.write(make_input(flow))
    if closes:
        await peer.events(2)  # the answer, then the close
        assert [r.status for r in peer.responses] == [status] and peer.closed == [flow]
    else:
        flow.write(request_bytes("OPTIONS", flow, call_id="probe@peer"))
        await peer.events(2 if status else 1)
        answers = [(r.status, r.call_id) for r in peer.responses]
        assert answers[-1] == (200, "probe@peer")  # the probe: the flow still serves
        assert [s for s, _ in answers[:-1]] == ([status] if status else [])
    (line,) = rejected_lines()
    assert logged in line


# -- RFC 2543 requests (RFC 3261 §17.2.3) ----------------------------------------------------


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
@pytest_twisted.ensureDeferred
async def test_a_request_without_branch_is_answered_and_its_retransmission_too(
        servers, peer, rejected_lines, no_tracebacks, transport):
    registrar, bound = servers.registrar({transport: 0})
    flow = await connect(peer, transport, bound)
    old = request_bytes("OPTIONS", flow, branch=None, call_id="old@peer")
    flow.write(old)
    await peer.events(1)
    flow.write(old)  # over UDP the transaction answers it again; over TCP a new one does
    await peer.events(2)
    assert [(r.status, r.call_id) for r in peer.responses] == [(200, "old@peer")] * 2
    assert "branch" not in peer.responses[0].headers.get("Via", "")
    assert peer.closed == [] and rejected_lines() == []
    handled = [r for r in registrar.received if r.method == "OPTIONS"]
    assert len(handled) == (1 if transport == "UDP" else 2)  # UDP: a retransmission


@pytest_twisted.ensureDeferred
async def test_a_merged_rfc2543_request_is_482(servers, peer, rejected_lines, no_tracebacks):
    _, bound = servers.registrar({"UDP": 0})
    flow = await connect(peer, "UDP", bound)
    flow.write(request_bytes("OPTIONS", flow, branch=None, call_id="m@peer"))
    flow.write(request_bytes("OPTIONS", flow, branch=None, call_id="m@peer",
                             uri="sip:carol@127.0.0.1"))
    await peer.events(2)
    assert [r.status for r in peer.responses] == [200, 482]
    (line,) = rejected_lines()
    assert "482 Loop Detected" in line


# -- the registrar: refusals of malformed or forbidden REGISTERs -----------------------------


async def challenged(peer: Peer, flow: Flow, to_user: str, **fields) -> Challenge:
    before = len(peer.responses)
    flow.write(request_bytes("REGISTER", flow, to_user=to_user, call_id=f"{to_user}@peer",
                             **fields))
    await peer.events(before + 1)
    (value,) = peer.responses[-1].headers.get_all("WWW-Authenticate")
    return Challenge.parse(value)


def register_with(flow: Flow, challenge: Challenge, user: str, to_user: str, *,
                  contacts: int = 1, digest_uri: str = "sip:127.0.0.1", cseq: int = 2,
                  uri: str = "") -> bytes:
    credentials = build_authorization(challenge, username=user, password=ACCOUNTS[user],
                                      method="REGISTER", uri=digest_uri, cnonce="c0ffee")
    headers = tuple(f"Contact: <sip:dev{i}@192.0.2.1>" for i in range(contacts))
    return request_bytes("REGISTER", flow, to_user=to_user, call_id=f"{to_user}@peer",
                         cseq=cseq, uri=uri,
                         headers=(*headers, f"Authorization: {credentials.to_header()}"))


REFUSALS = [
    # (what alice sends, status, the log line says)
    ({"to_user": "bob"}, 403, "REGISTER 403 Forbidden"),
    ({"to_user": "alice", "digest_uri": "sip:elsewhere.example.com"}, 400,
     "REGISTER 400 digest uri"),
    ({"to_user": "alice", "contacts": 3}, 503, "REGISTER 503 Service Unavailable"),
]


@pytest.mark.parametrize(("sent", "status", "logged"), REFUSALS,
                         ids=[str(r[1]) for r in REFUSALS])
@pytest_twisted.ensureDeferred
async def test_a_refused_register_is_answered_and_logged_once(
        servers, peer, rejected_lines, no_tracebacks, sent, status, logged):
    registrar, bound = servers.registrar({"UDP": 0}, users=dict(ACCOUNTS), max_contacts=2)
    flow = await connect(peer, "UDP", bound)
    challenge = await challenged(peer, flow, sent["to_user"])
    flow.write(register_with(flow, challenge, "alice", **sent))
    await peer.events(2)
    assert peer.responses[-1].status == status
    assert registrar.location.bindings == {}
    (line,) = rejected_lines()
    assert logged in line


@pytest_twisted.ensureDeferred
async def test_malformed_credentials_are_400_in_one_line(servers, peer, rejected_lines,
                                                          no_tracebacks):
    _, bound = servers.registrar({"TCP": 0}, users=dict(ACCOUNTS))
    flow = await connect(peer, "TCP", bound)
    flow.write(request_bytes("REGISTER", flow, headers=('Authorization: Digest username="a',)))
    await peer.events(1)
    assert peer.responses[0].status == 400 and peer.closed == []
    (line,) = rejected_lines()
    assert "REGISTER 400" in line and "quoted" in line


# -- the stack's boundary: a transaction user that fails -----------------------------------


class FailingUser:
    """A transaction user that raises, after answering or not (``answer_first``)."""

    def __init__(self, answer_first: bool) -> None:
        self.answer_first = answer_first

    def request_received(self, context: ServerContext) -> None:
        if self.answer_first:
            context.respond(200)
        raise RuntimeError("the TU failed")

    def ack_received(self, ack: Request, flow: Flow) -> None:
        raise RuntimeError("the TU failed on an ACK")

    def stray_response(self, response: Response, flow: Flow) -> None:
        raise RuntimeError("the TU failed on a response")

    def flow_closed(self, flow: Flow, reason: str) -> None:
        pass


@pytest.mark.parametrize(("transport", "answer_first", "method", "statuses", "logged"), [
    ("UDP", False, "OPTIONS", [500], "500 Server Internal Error (answered): internal error: "
                                     "RuntimeError: the TU failed at test_registrar_hardening"),
    ("TCP", False, "OPTIONS", [500], "500 Server Internal Error (answered)"),
    ("UDP", True, "OPTIONS", [200], "RuntimeError: the TU failed at"),
    ("TCP", True, "OPTIONS", [200], "(not answered)"),  # over TCP the transaction is gone
    ("UDP", False, "ACK", [], "RuntimeError: the TU failed on an ACK at"),
    ("TCP", False, "SIP/2.0", [], "RuntimeError: the TU failed on a response at"),
])
@pytest_twisted.ensureDeferred
async def test_a_failing_transaction_user_costs_one_line_and_at_most_one_500(
        peer, rejected_lines, no_tracebacks, transport, answer_first, method, statuses,
        logged):
    server = SipStack(reactor, FailingUser(answer_first), timers=FAST, name="failing")
    try:
        bound = {"UDP": server.listen_udp("127.0.0.1", 0)} if transport == "UDP" else \
            {"TCP": server.listen_stream("TCP", "127.0.0.1", 0)}
        flow = await connect(peer, transport, bound)
        if method == "SIP/2.0":  # a response to nothing: stray, and the TU fails on it
            flow.write(b"SIP/2.0 200 OK\r\n" + request_bytes("OPTIONS", flow).split(b"\r\n", 1)[1])
        else:
            flow.write(request_bytes(method, flow))
        flow.write(request_bytes("OPTIONS", flow, call_id="probe@peer"))  # fails as well
        probe = 200 if answer_first else 500
        await peer.events(len(statuses) + 1)
        assert [r.status for r in peer.responses] == [*statuses, probe]
        assert peer.responses[-1].call_id == "probe@peer"  # so nothing else came first
        first, _ = rejected_lines()  # one line each, no more
        assert logged in first
    finally:
        await server.stop()


# -- answers that fit their transport; bindings stored only behind a sent answer ----------


def many_contacts(flow: Flow, first: int, count: int, call_id: str) -> bytes:
    headers = tuple(f"Contact: <sip:device-{i:05}-{'x' * 30}@192.0.2.1:5060>"
                    for i in range(first, first + count))
    return request_bytes("REGISTER", flow, call_id=call_id, headers=headers)


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
@pytest_twisted.ensureDeferred
async def test_800_contacts_more_get_a_503_that_fits_and_nothing_is_stored(
        servers, peer, rejected_lines, no_tracebacks, transport):
    # No cap on contacts (Kamailio's default): only the size of the answer stops them.
    registrar, bound = servers.registrar({transport: 0}, max_contacts=0)
    flow = await connect(peer, transport, bound)
    flow.write(many_contacts(flow, 0, 700, "first@peer"))
    await peer.events(1)
    assert peer.responses[0].status == 200 and len(peer.responses[0].contacts) == 700
    flow.write(many_contacts(flow, 700, 800, "more@peer"))  # each fits; the 200 would not
    await peer.events(2)
    refused = peer.responses[1]
    assert refused.status == 503
    assert refused.headers.get("P-Registrar-Error") == "Too many registered contacts"
    assert len(registrar.bindings("sip:alice@127.0.0.1")) == 700  # the second not stored
    (line,) = rejected_lines()
    assert "REGISTER 503 Service Unavailable (the 200 OK would not fit" in line


@pytest_twisted.ensureDeferred
async def test_the_default_cap_refuses_800_contacts_at_once(servers, peer, rejected_lines,
                                                           no_tracebacks):
    registrar, bound = servers.registrar({"UDP": 0})
    flow = await connect(peer, "UDP", bound)
    flow.write(many_contacts(flow, 0, 800, "all@peer"))
    await peer.events(1)
    assert peer.responses[0].status == 503 and registrar.location.bindings == {}


@pytest.mark.parametrize(("names", "status"), [("server", 200), ("other", 400), ("user", 400)])
@pytest_twisted.ensureDeferred
async def test_a_digest_uri_naming_the_server_itself_is_let_through(
        servers, peer, no_tracebacks, names, status):
    # SIPp answers every challenge with uri="sip:<server address>:<port>".
    registrar, bound = servers.registrar({"UDP": 0}, users=dict(ACCOUNTS))
    host, port = bound["UDP"]
    digest_uri = {"server": f"sip:{host}:{port}", "other": f"sip:192.0.2.99:{port}",
                  "user": f"sip:bob@{host}:{port}"}[names]
    flow = await connect(peer, "UDP", bound)
    challenge = await challenged(peer, flow, "alice", uri="sip:example.com")
    flow.write(register_with(flow, challenge, "alice", "alice", digest_uri=digest_uri,
                             uri="sip:example.com"))
    await peer.events(2)
    assert peer.responses[-1].status == status
    assert len(registrar.location.bindings) == (status == 200)
