"""Fault injectors between client and server: userland proxies on Twisted, from data.

A fault listens on a proxy address (point the client there) and carries the traffic to
the real server, doing to it what the configuration says; every kind produces, on real
sockets, the symptom a support engineer meets in the field. One proxy port number
serves UDP and TCP (TLS, WS and WSS ride on TCP), so a client that moves a large request
to TCP (RFC 3261 §18.1.1) still goes through it. Faults compose: give a list, and they
apply in the order listed, on the same proxy.

    fault = build_fault([{"kind": "nat", "timeout": 30}, {"kind": "loss", "fraction": 0.1}],
                        reactor=reactor, upstream=[("UDP", "127.0.0.7", 5060),
                                                   ("TCP", "127.0.0.7", 5060)],
                        listen_host="127.0.0.8", rng=random.Random(seed))
    fault.address      # ("127.0.0.8", 41234): where the client should send
    fault.log          # FaultRecords: time, fault, action, size, direction, addresses
    await fault.stop()

``build_fault(spec, *, reactor, upstream, rng, listen_host=..., listen_port=0 |
listen=(host, port), clock=None, name=None, trace=None, capture=None,
trace_upstream=False, path=())``:
``upstream`` is one ``(transport, host, port)`` or one per carrier (UDP; TCP, TLS, WS or
WSS: they ride on TCP), ``None`` when every fault closes its port; ``clock`` (an
``IReactorTime``, default ``reactor``) times delays and NAT bindings and stamps the log,
so a ``task.Clock`` can drive a 30 s NAT at no wall-time cost; ``trace`` (a
``testbed.transport.Trace``) gets a ``note`` for every record but
``forwarded``/``delayed``, drawn on the proxy's line of a ladder, and with
``trace_upstream`` what the relays send to and receive from the server; ``capture`` (a
``testbed.transport.Capture``) records both legs of every relay, for the pcap (the
upstream side binds the proxy's address, or the address the kernel routes from when the
server is not on loopback). :func:`validate_fault` checks data without opening anything;
:data:`FAULT_SCHEMA` describes each kind's fields (JSON-Schema-ish) for the scenario
schema.

Common fields: ``kind`` (required), ``name`` (for logs; default the kind), ``transports``
(``[udp, tcp]``: which carriers it acts on; default every one the kind applies to).
``registrar`` and ``transport`` (:data:`PLACEMENT_KEYS`) belong to the scenario, which
uses them to choose where the fault goes, and are ignored here.
``direction`` is ``to-server`` (client to server), ``to-client`` or ``both`` (default).
Durations are seconds, or strings such as ``300ms`` / ``1.5s``. ``seed`` defaults to a
draw from the scenario's seed, so a run repeats. Bad data raises
:class:`FaultConfigError` naming the field (``faults[1].fraction: ...``).

firewall: drop silently, or reject. UDP drop: datagrams vanish (the client retransmits
until Timer F/B: "timeout"); ``to-client`` drops only the answers (the server sees the
requests). TCP drop, any direction: SYNs go unanswered (the accept queue of a listening
socket is kept full, so the kernel drops them): the connect times out. reject (to the
server only): UDP gets ICMP port unreachable, TCP a RST: "refused"::

    - kind: firewall
      action: drop          # drop | reject
      direction: to-server  # to-server | to-client | both (drop on UDP only)
      transports: [udp]     # default: udp and tcp

not-listening: nothing listens on the port (it is reserved, so nothing else takes it):
ICMP port unreachable for UDP, RST for TCP, "refused"; needs no upstream::

    - kind: not-listening
      transports: [udp, tcp]

mtu: a path-MTU black hole for UDP. ``mtu`` is the IP packet size the path carries
(default 1500): a datagram passes when its UDP payload + 8 bytes of UDP header + 20
bytes of IPv4 header (40 for IPv6) is at most ``mtu``, i.e. a payload of at most 1472
bytes at 1500 over IPv4; larger ones vanish silently, as when a firewall drops the
fragments. TCP is carried untouched (it segments to the path MTU)::

    - kind: mtu
      mtu: 1500
      direction: both

loss: UDP datagrams lost, a seeded ``fraction`` per direction, or the ones numbered in
``drop`` (counted per direction from 1, among the datagrams that reach this fault). TCP
is not affected (the kernel retransmits; use latency for a slow path)::

    - kind: loss
      drop: [1, 3]          # or: fraction: 0.2
      direction: to-server
      seed: 7

latency: each packet (UDP datagram, TCP chunk) is held ``delay`` plus a seeded uniform
draw in [-jitter, +jitter]; UDP may be reordered by jitter, TCP keeps its order::

    - kind: latency
      delay: 80ms
      jitter: 20ms
      direction: both

nat: each client address gets its own external port on the proxy (what the server sees
as the source). A binding expires ``timeout`` seconds after the last outbound packet
(``refresh: both`` also counts inbound ones, as some NATs do for TCP). After expiry,
packets to the old external port are dropped ("dropped: no binding") and the client's
next UDP datagram gets a new external port, so the registrar sees a new source. A TCP
connection idle that long is blackholed in both directions (both ends keep it open and
hear nothing, which is what a NAT that forgot the mapping does); a new connection is a
new mapping. Keep-alives (CRLF over UDP, CRLFCRLF over TCP) are outbound traffic and
keep a binding alive::

    - kind: nat
      timeout: 30
      refresh: outbound     # outbound | both

relay: no fault, the proxy only forwards (a clean hop; what the other listeners of a
registrar get when a fault takes its address)::

    - kind: relay

Kinds that leave packets to the kernel (not-listening, reject, TCP drop) own their port:
combined with another fault on the same carrier they raise :class:`FaultConfigError`
(limit one of them with ``transports``). A userland proxy has limits: it accepts a TCP
connection before it knows the server will (a refused upstream resets the client's
accepted connection, logged ``rejected``), and it never sees the packets the kernel
answers for it, hence one ``policy`` record for those.

Log actions (:data:`ACTIONS`): ``policy`` (what a port does, one record when it starts;
for the kernel-carried kinds the proxy never sees single packets), ``forwarded``,
``delayed``, ``dropped``, ``rejected`` (a TCP connection the proxy could not carry
upstream), ``new-binding`` and ``expired``.
"""

from ._build import Fault, build_fault
from ._log import ACTIONS, FAULT_LOG_LIMIT, FaultLog, FaultRecord
from ._policy import (
    EXPIRED_KEPT,
    Binding,
    FirewallDrop,
    Latency,
    Loss,
    MtuLimit,
    NatTable,
    Pipeline,
    Stage,
    Verdict,
    stage_for,
)
from ._ports import ClosedPort, SynDropPort
from ._spec import (
    DIRECTIONS,
    FAULT_KINDS,
    FAULT_SCHEMA,
    PLACEMENT_KEYS,
    FaultConfigError,
    FaultSpec,
    parse_fault,
    parse_faults,
    validate_fault,
)
from ._tcp import TcpRelay
from ._udp import UdpRelay

__all__ = [
    "ACTIONS", "DIRECTIONS", "EXPIRED_KEPT", "FAULT_KINDS", "FAULT_LOG_LIMIT", "FAULT_SCHEMA",
    "PLACEMENT_KEYS",
    "Binding", "ClosedPort", "Fault", "FaultConfigError", "FaultLog", "FaultRecord",
    "FaultSpec", "FirewallDrop", "Latency", "Loss", "MtuLimit", "NatTable", "Pipeline",
    "Stage", "SynDropPort", "TcpRelay", "UdpRelay", "Verdict", "build_fault", "parse_fault",
    "parse_faults", "stage_for", "validate_fault",
]
