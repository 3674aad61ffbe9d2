"""The relays driven by ``task.Clock``: latency and jitter scheduled with callLater, NAT
expiry, new external ports, TCP order. Sockets are recording fakes of the interfaces the
relays use (a UDP port's ``write`` / ``getHost``; Twisted's MemoryReactorClock and
StringTransport for TCP); no wall time passes."""

from __future__ import annotations

import itertools

import pytest
from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from servers.faults import FaultLog, NatTable, Pipeline, TcpRelay, UdpRelay, parse_fault, stage_for

PROXY = "192.0.2.1"
SERVER = ("192.0.2.9", 5060)
CLIENT = ("10.0.0.2", 5062)


class FakeUdpPort:
    """What a relay needs from a listening UDP port, recording what it sends."""

    numbers = itertools.count(40000)

    def __init__(self, proto: object, port: int, host: str) -> None:
        self.proto = proto
        self.host = host
        self.port = port or next(self.numbers)
        self.sent: list[tuple[bytes, tuple]] = []
        self.stopped = False

    def write(self, data: bytes, addr: tuple) -> None:
        self.sent.append((data, addr))

    def getHost(self) -> IPv4Address:
        return IPv4Address("UDP", self.host, self.port)

    def stopListening(self) -> None:
        self.stopped = True


class UdpWorld:
    def __init__(self, *specs: dict, seed: int = 1) -> None:
        self.clock = Clock()
        self.ports: list[FakeUdpPort] = []
        self.log = FaultLog()
        parsed = [parse_fault(s) for s in specs]
        nat = next((s for s in parsed if s.kind == "nat"), None)
        stages = [stage_for(s, seed) for s in parsed if s.kind not in ("nat", "relay")]
        self.relay = UdpRelay(reactor=None, clock=self.clock, listen=(PROXY, 5060),
                              upstream=SERVER, pipeline=Pipeline(stages),
                              nat=NatTable(nat.timeout, nat.refresh) if nat else NatTable(),
                              log=self.log, name="test", open_udp=self.open)
        self.relay.start()

    def open(self, proto: object, port: int, host: str) -> FakeUdpPort:
        fake = FakeUdpPort(proto, port, host)
        self.ports.append(fake)
        return fake

    @property
    def listening(self) -> FakeUdpPort:
        return self.ports[0]

    @property
    def external(self) -> list[FakeUdpPort]:
        return self.ports[1:]

    def from_server(self, data: bytes, port: FakeUdpPort | None = None) -> None:
        port = port or self.external[-1]
        port.proto.datagramReceived(data, SERVER)

    def from_client(self, data: bytes) -> None:
        self.listening.proto.datagramReceived(data, CLIENT)


def test_latency_holds_each_datagram_for_its_delay_in_each_direction():
    world = UdpWorld({"kind": "latency", "delay": 0.1, "direction": "to-server"},
                     {"kind": "latency", "delay": 0.03, "direction": "to-client"})
    world.from_client(b"REGISTER")
    assert world.external == []  # not even bound yet: nothing has left
    world.clock.advance(0.099)
    assert world.external == []
    world.clock.advance(0.001)
    (external,) = world.external
    assert external.sent == [(b"REGISTER", SERVER)]

    world.from_server(b"200 OK")
    world.clock.advance(0.029)
    assert world.listening.sent == []
    world.clock.advance(0.001)
    assert world.listening.sent == [(b"200 OK", CLIENT)]
    delayed = world.log.of("delayed")
    assert [(r.direction, r.delay, r.time) for r in delayed] == [
        ("to-server", 0.1, 0.0), ("to-client", 0.03, pytest.approx(0.1))]


def test_jitter_is_seeded_and_can_reorder_udp():
    def arrival_order(seed: int) -> tuple[list[bytes], list[float]]:
        world = UdpWorld({"kind": "latency", "delay": 0.05, "jitter": 0.05}, seed=seed)
        for n in range(10):
            world.from_client(b"%d" % n)
            world.clock.advance(0.01)
        world.clock.advance(1)
        return ([data for data, _ in world.external[0].sent],
                [r.delay for r in world.log.of("delayed")])

    first, second = arrival_order(3), arrival_order(3)
    assert first == second
    assert sorted(first[0]) != first[0]  # jitter larger than the spacing reorders
    assert all(0.0 <= d <= 0.1 for d in first[1])
    assert arrival_order(4)[1] != first[1]


def test_a_nat_binding_expires_without_outbound_traffic_and_a_new_port_follows():
    world = UdpWorld({"kind": "nat", "timeout": 30})
    world.from_client(b"REGISTER")
    (first,) = world.external
    world.clock.advance(20)
    world.from_server(b"OPTIONS")  # inbound: forwarded, but no refresh
    assert world.listening.sent == [(b"OPTIONS", CLIENT)]
    world.clock.advance(10)  # 30 s after the REGISTER

    (expired,) = world.log.of("expired")
    assert expired.time == 30 and expired.source == CLIENT
    assert expired.destination == (PROXY, first.port)
    world.from_server(b"OPTIONS again", first)
    (lost,) = world.log.of("dropped")
    assert lost.direction == "to-client" and "no binding" in lost.detail
    assert world.listening.sent == [(b"OPTIONS", CLIENT)]  # nothing more reached the client

    world.from_client(b"REGISTER again")
    (_, second) = world.external
    assert second.port != first.port and second.sent == [(b"REGISTER again", SERVER)]
    made = world.log.of("new-binding")
    assert [r.destination for r in made] == [(PROXY, first.port), (PROXY, second.port)]
    assert not first.stopped  # a NAT drops silently: the old port stays open and deaf


def test_outbound_keepalives_keep_the_binding():
    world = UdpWorld({"kind": "nat", "timeout": 30})
    world.from_client(b"REGISTER")
    for _ in range(10):
        world.clock.advance(25)
        world.from_client(b"\r\n")  # a CRLF keep-alive every 25 s
    world.from_server(b"INVITE")
    assert world.log.of("expired") == []
    assert world.listening.sent == [(b"INVITE", CLIENT)]
    assert len(world.external) == 1


def test_stopping_cancels_what_is_still_delayed():
    world = UdpWorld({"kind": "latency", "delay": 1}, {"kind": "nat", "timeout": 5})
    world.from_client(b"late")
    world.relay.stop()
    assert world.clock.getDelayedCalls() == []
    assert world.listening.stopped


# -- TCP ------------------------------------------------------------------------------------


class TcpWorld:
    def __init__(self, *specs: dict, seed: int = 1) -> None:
        self.reactor = MemoryReactorClock()
        self.log = FaultLog()
        parsed = [parse_fault(s) for s in specs]
        nat = next((s for s in parsed if s.kind == "nat"), None)
        stages = [stage_for(s, seed) for s in parsed if s.kind not in ("nat", "relay")]
        self.relay = TcpRelay(reactor=self.reactor, clock=self.reactor, listen=(PROXY, 5060),
                              upstream=SERVER, pipeline=Pipeline(stages),
                              nat=NatTable(nat.timeout, nat.refresh) if nat else NatTable(),
                              log=self.log, name="test")
        self.relay.start()

    def connect(self) -> tuple[object, StringTransport, object, StringTransport]:
        """A client connection accepted, and the proxy's upstream connection made."""
        factory = self.reactor.tcpServers[-1][1]
        client = factory.buildProtocol(IPv4Address("TCP", *CLIENT))
        client_transport = StringTransport(peerAddress=IPv4Address("TCP", *CLIENT))
        client.makeConnection(client_transport)
        host, port, upstream_factory, timeout, bind = self.reactor.tcpClients[-1]
        assert (host, port) == SERVER and bind == (PROXY, 0)
        server = upstream_factory.buildProtocol(IPv4Address("TCP", *SERVER))
        server_transport = StringTransport(hostAddress=IPv4Address("TCP", PROXY, 41000),
                                           peerAddress=IPv4Address("TCP", *SERVER))
        server.makeConnection(server_transport)
        return client, client_transport, server, server_transport


def test_tcp_jitter_never_reorders_the_stream():
    world = TcpWorld({"kind": "latency", "delay": 0.05, "jitter": 0.05}, seed=2)
    client, _, _, server_transport = world.connect()
    for n in range(20):
        client.dataReceived(b"%02d," % n)
        world.reactor.advance(0.005)
    world.reactor.advance(1)
    assert server_transport.value() == b"".join(b"%02d," % n for n in range(20))
    delays = [r.delay for r in world.log.of("delayed")]
    assert len(delays) == 20 and all(d <= 0.1 + 1e-9 for d in delays)


def test_tcp_data_waits_for_the_upstream_connection():
    world = TcpWorld({"kind": "relay"})
    factory = world.reactor.tcpServers[-1][1]
    client = factory.buildProtocol(IPv4Address("TCP", *CLIENT))
    client.makeConnection(StringTransport(peerAddress=IPv4Address("TCP", *CLIENT)))
    client.dataReceived(b"REGISTER early")
    _, _, upstream_factory, _, _ = world.reactor.tcpClients[-1]
    server = upstream_factory.buildProtocol(IPv4Address("TCP", *SERVER))
    server_transport = StringTransport(hostAddress=IPv4Address("TCP", PROXY, 41000))
    server.makeConnection(server_transport)
    assert server_transport.value() == b"REGISTER early"


def test_an_idle_tcp_mapping_is_blackholed_both_ways():
    world = TcpWorld({"kind": "nat", "timeout": 60})
    client, client_transport, server, server_transport = world.connect()
    client.dataReceived(b"REGISTER")
    world.reactor.advance(59)
    server.dataReceived(b"OPTIONS")  # reaches the client, does not refresh
    assert client_transport.value() == b"OPTIONS"
    world.reactor.advance(1)

    (expired,) = world.log.of("expired")
    assert expired.time == 60 and "blackholed" in expired.detail
    server.dataReceived(b"INVITE")
    client.dataReceived(b"\r\n\r\n")
    assert client_transport.value() == b"OPTIONS"
    assert server_transport.value() == b"REGISTER"
    assert [r.direction for r in world.log.of("dropped")] == ["to-client", "to-server"]
    assert not client_transport.disconnecting and not server_transport.disconnecting


# -- bounded: a relay left running holds what is open, and a few expired mappings -------


def test_expired_nat_bindings_beyond_the_last_few_are_released_and_their_ports_closed():
    world = UdpWorld({"kind": "nat", "timeout": 30})
    world.relay.nat.keep_expired = 2
    clients = [("10.0.0.2", 6000 + n) for n in range(5)]
    for client in clients:
        world.listening.proto.datagramReceived(b"REGISTER", client)
        world.clock.advance(1)
    world.clock.advance(30)  # every binding expired
    assert len(world.log.of("expired")) == 5
    assert [port.stopped for port in world.external] == [True, True, True, False, False]
    assert [world.relay.nat.known((PROXY, p.port)) is not None for p in world.external] == [
        False, False, False, True, True]
    world.from_server(b"OPTIONS", world.external[-1])  # still recognised: "no binding"
    assert "no binding" in world.log.of("dropped")[-1].detail


def test_a_closed_tcp_connection_and_its_mapping_are_forgotten():
    world = TcpWorld({"kind": "relay"})
    for _ in range(3):
        client, _, server, _ = world.connect()
        client.connectionLost(Failure(error.ConnectionDone()))
        server.connectionLost(Failure(error.ConnectionDone()))
    assert world.relay.connections == set() and world.relay.connections_by_external == {}
    assert world.relay.nat.live(CLIENT) is None
    assert world.relay.nat.known((PROXY, 41000)) is None
    assert len(world.log.of("new-binding")) == 3
