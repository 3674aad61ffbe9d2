"""Our DNS server in forwarding mode, in front of a real DNS server, over real sockets.

The "real" upstream here is another of our DNS servers (tests/interop/test_nsd.py puts
NSD there): what the client gets through the relay must be byte for byte what the
upstream sends, the faults must act before anything is relayed, and the relay's state
must stay bounded when the upstream is silent or gone.
"""

import socket

import pytest
import pytest_twisted
from dnslib import RCODE, DNSRecord
from twisted.internet import defer, reactor
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock

from testbed.dns.client import DnsTimeout
from testbed.dns.wire import encode_query
from testbed.transport import Capture

from .test_dns import BIG_ZONE, SEED_ZONE

TRANSPORTS = pytest.mark.parametrize("transport", ["udp", "tcp"])


def relay_of(world, upstream_port, **options):
    """Our DNS server with no zones, relaying to ``127.0.0.1:upstream_port``."""
    return world.server([], forward=("127.0.0.1", upstream_port), **options)


async def ask(world, port, query, transport):
    """Send ``query`` to ``port`` over ``transport``; the raw answer."""
    peer = await (world.udp_peer(port) if transport == "udp" else world.tcp_peer(port))
    if transport == "udp":
        peer.transport.write(query)
    else:
        peer.send(query)
    return await peer.messages.get()


@pytest_twisted.ensureDeferred
@TRANSPORTS
async def test_answers_come_back_byte_for_byte(world, transport):
    upstream = world.server([SEED_ZONE])
    relay = relay_of(world, upstream.port)
    query = encode_query("_sips._tcp.sip.example.com", "SRV", 4242, edns_payload=1232)

    direct = await ask(world, upstream.port, query, transport)
    relayed = await ask(world, relay.port, query, transport)

    assert relayed == direct  # the ID, the flags (aa), the records: nothing rewritten
    (entry,) = relay.log
    assert (entry.qname, entry.qtype, entry.transport, entry.rcode) == (
        "_sips._tcp.sip.example.com", "SRV", transport, "NOERROR")
    assert entry.authoritative and entry.qid == 4242
    assert entry.answer == (
        "_sips._tcp.sip.example.com. 300 SRV 10 60 5061 pbx1.sip.example.com.",)
    assert entry.note == f"relayed to 127.0.0.1:{upstream.port} over {transport.upper()}"
    asked = upstream.log[-1]
    assert asked.transport == transport and asked.client[1] != relay.port


@pytest_twisted.ensureDeferred
async def test_a_truncated_answer_passes_unchanged_and_tcp_gets_the_whole(world):
    upstream = world.server([BIG_ZONE])
    relay = relay_of(world, upstream.port)
    client = world.client(relay)

    answer = await client.query("big.test", "SRV")

    assert answer.transport == "tcp" and len(answer.records) == 30
    assert [(e.transport, e.truncated, e.rcode) for e in relay.log] == [
        ("udp", True, "NOERROR"), ("tcp", False, "NOERROR")]
    assert [(e.transport, e.truncated) for e in upstream.log] == [("udp", True),
                                                                  ("tcp", False)]


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("kind", ["servfail", "refused"])
async def test_rcode_faults_are_answered_without_asking_the_upstream(world, kind):
    upstream = world.server([SEED_ZONE])
    relay = relay_of(world, upstream.port, faults=[{"name": "sip.example.com",
                                                    "type": "NAPTR", "fault": kind}])
    query = encode_query("sip.example.com", "NAPTR", 7)

    answer = DNSRecord.parse(await ask(world, relay.port, query, "udp"))
    spared = DNSRecord.parse(await ask(world, relay.port,
                                       encode_query("sip.example.com", "A", 8), "udp"))

    assert answer.header.rcode == getattr(RCODE, kind.upper()) and answer.header.id == 7
    assert spared.header.rcode == RCODE.NOERROR  # the fault matched NAPTR only
    assert [(e.qtype, e.fault) for e in relay.log] == [("NAPTR", kind), ("A", None)]
    assert [e.qtype for e in upstream.log] == ["A"]


@pytest_twisted.ensureDeferred
async def test_a_timeout_fault_is_never_relayed(world):
    upstream = world.server([SEED_ZONE])
    relay = relay_of(world, upstream.port, faults=[{"name": "*.sip.example.com",
                                                    "fault": "timeout"}])
    client = world.client(relay, timeout=0.2, attempts=1)

    with pytest.raises(DnsTimeout):
        await client.query("_sip._udp.sip.example.com", "SRV")

    assert [(e.rcode, e.note) for e in relay.log] == [(None, "not answered (timeout fault)")]
    assert not upstream.log


@pytest_twisted.ensureDeferred
async def test_a_delay_fault_holds_the_relayed_answer_on_the_servers_clock(world):
    clock = Clock()
    upstream = world.server([SEED_ZONE])
    relay = relay_of(world, upstream.port, clock=clock,
                     faults=[{"name": "sip.example.com", "fault": "delay", "seconds": 3}])
    peer = await world.udp_peer(relay.port)

    peer.transport.write(encode_query("sip.example.com", "NAPTR", 9))
    await world.logged(relay, 1)  # the upstream has answered; the relay holds it

    assert peer.messages.pending == [] and relay.log[0].fault == "delay 3s"
    clock.advance(3)
    answer = DNSRecord.parse(await peer.messages.get())
    assert answer.header.id == 9 and len(answer.rr) == 3


class Silent(DatagramProtocol):
    """An upstream that reads queries and never answers."""

    def __init__(self):
        self.received = defer.DeferredQueue()

    def datagramReceived(self, data, addr):
        self.received.put(data)


@pytest_twisted.ensureDeferred
async def test_a_silent_upstream_ends_in_a_logged_timeout_and_frees_the_query(world):
    clock = Clock()
    silent = Silent()
    port = reactor.listenUDP(0, silent, interface="127.0.0.1")
    world.ports.append(port)
    relay = relay_of(world, port.getHost().port, clock=clock, forward_timeout=2)
    peer = await world.udp_peer(relay.port)

    peer.transport.write(encode_query("sip.example.com", "A", 11))
    await silent.received.get()

    (forwarder,) = relay._forwarders.values()
    assert len(forwarder.pending) == 1 and not relay.log
    clock.advance(2)
    assert forwarder.pending == set()
    (entry,) = relay.log
    assert entry.rcode is None and entry.note == (
        f"no answer from 127.0.0.1:{port.getHost().port} in 2 s")
    assert peer.messages.pending == []


@pytest_twisted.ensureDeferred
async def test_no_more_than_max_pending_queries_wait_on_the_upstream(world):
    silent = Silent()
    port = reactor.listenUDP(0, silent, interface="127.0.0.1")
    world.ports.append(port)
    relay = relay_of(world, port.getHost().port, forward_max_pending=2)
    peer = await world.udp_peer(relay.port)

    for qid in (1, 2, 3):
        peer.transport.write(encode_query(f"q{qid}.sip.example.com", "A", qid))
    answer = DNSRecord.parse(await peer.messages.get())

    assert answer.header.id == 3 and answer.header.rcode == RCODE.SERVFAIL
    assert relay.log[-1].note == "not relayed: 2 queries already in flight"
    assert [DNSRecord.parse(await silent.received.get()).header.id for _ in range(2)] == [1, 2]


@pytest_twisted.ensureDeferred
@TRANSPORTS
async def test_an_upstream_with_nothing_listening_is_logged(world, transport):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]  # closed again below: nothing listens there
    relay = relay_of(world, dead)
    peer = await (world.udp_peer(relay.port) if transport == "udp"
                  else world.tcp_peer(relay.port))
    query = encode_query("sip.example.com", "A", 12)
    if transport == "udp":
        peer.transport.write(query)
    else:
        peer.send(query)

    await world.logged(relay, 1)

    (entry,) = relay.log
    assert entry.rcode is None
    if transport == "udp":
        assert entry.note == f"not answered: 127.0.0.1:{dead} refused it (ICMP port unreachable)"
    else:
        assert entry.note.startswith(f"not answered: cannot connect to 127.0.0.1:{dead} over "
                                     "TCP (Connection was refused")
    assert relay._forwarders["127.0.0.1"].pending == set()


@pytest_twisted.ensureDeferred
@TRANSPORTS
async def test_the_capture_holds_both_legs(world, transport):
    upstream = world.server([SEED_ZONE])
    capture = Capture(reactor.seconds)
    relay = relay_of(world, upstream.port, capture=capture)

    await ask(world, relay.port, encode_query("sip.example.com", "A", 13), transport)
    await world.logged(relay, 1)

    legs = {(s.dst[1] == upstream.port, s.src[1] == upstream.port) for s in capture
            if s.data}
    assert legs >= {(True, False), (False, True)}  # the query out, the answer back
    to_relay = [s for s in capture if s.data and s.dst[1] == relay.port]
    assert to_relay, "the client's leg is captured by the relay's own sockets"
