"""A small world for DNS integration tests: real servers and clients on 127.0.0.1 port 0,
everything closed in cleanup."""

import pytest_twisted
from twisted.internet import defer, endpoints, reactor
from twisted.internet.protocol import DatagramProtocol, Protocol

from servers.dns import DnsServer
from testbed.dns.client import DnsClient


class FramedTcp(Protocol):
    """A raw TCP DNS peer: collects length-prefixed messages (RFC 1035 §4.2.2)."""

    def __init__(self):
        self.buffer = b""
        self.messages = defer.DeferredQueue()

    def dataReceived(self, data):
        self.buffer += data
        while len(self.buffer) >= 2:
            size = int.from_bytes(self.buffer[:2], "big")
            if len(self.buffer) < 2 + size:
                return
            self.messages.put(self.buffer[2:2 + size])
            self.buffer = self.buffer[2 + size:]

    def send(self, message):
        self.transport.write(len(message).to_bytes(2, "big") + message)


class RawUdp(DatagramProtocol):
    """A raw UDP peer connected to one server: what it receives goes to a queue."""

    def __init__(self, port):
        self.port = port
        self.messages = defer.DeferredQueue()

    def startProtocol(self):
        self.transport.connect("127.0.0.1", self.port)

    def datagramReceived(self, data, addr):
        self.messages.put(data)


class World:
    def __init__(self):
        self.servers = []
        self.clients = []
        self.ports = []
        self.connections = []
        self.udp_peers = []
        self._waiters = []

    def server(self, zones, **options):
        """A DnsServer listening on 127.0.0.1, port 0; ``server.port`` is the real port."""
        user_callback = options.pop("on_query", None)

        def on_query(entry):
            if user_callback is not None:
                user_callback(entry)
            self._wake()

        server = DnsServer(zones, reactor, on_query=on_query, **options)
        server.port = server.listen("127.0.0.1", 0).port
        self.servers.append(server)
        return server

    def client(self, *servers, **options):
        client = DnsClient([f"127.0.0.1:{s.port}" if isinstance(s, DnsServer) else s
                            for s in servers], reactor, **options)
        self.clients.append(client)
        return client

    def logged(self, server, count):
        """Fires once ``server`` has logged ``count`` queries (no sleeping, no polling)."""
        waiter = defer.Deferred()
        self._waiters.append((server, count, waiter))
        self._wake()
        return waiter

    def _wake(self):
        for item in list(self._waiters):
            server, count, waiter = item
            if len(server.log) >= count:
                self._waiters.remove(item)
                waiter.callback(None)

    async def udp_peer(self, port):
        peer = RawUdp(port)
        self.udp_peers.append(peer)
        self.ports.append(reactor.listenUDP(0, peer, interface="127.0.0.1"))
        return peer

    async def tcp_peer(self, port):
        peer = FramedTcp()
        endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port)
        await endpoints.connectProtocol(endpoint, peer)
        self.connections.append(peer)
        return peer

    def abort(self, why):
        """Fail whatever a test still awaits, so a broken test fails instead of hanging."""
        for _server, _count, waiter in self._waiters:
            waiter.errback(TimeoutError(why))
        self._waiters.clear()
        for client in self.clients:
            client.close()
        for peer in [*self.connections, *self.udp_peers]:
            for waiting in list(peer.messages.waiting):
                waiting.errback(TimeoutError(why))

    async def close(self):
        for peer in self.connections:
            peer.transport.loseConnection()
        for client in self.clients:
            await client.close()
        for server in self.servers:
            await server.stop()
        for port in self.ports:
            await defer.maybeDeferred(port.stopListening)


GUARD_SECONDS = 20.0
"""A safety net in wall-clock time: no test here needs more than a fraction of a second."""


@pytest_twisted.async_yield_fixture
async def world():
    w = World()
    guard = reactor.callLater(GUARD_SECONDS, w.abort, f"test still waiting after "
                              f"{GUARD_SECONDS:g}s: aborted")
    yield w
    if guard.active():
        guard.cancel()
    await w.close()
