"""The decisions of the faults, without sockets or a clock: time comes in as ``now``.

A :class:`Pipeline` judges each packet (UDP datagram or TCP chunk) in one direction:
its stages run in the order the faults were listed; the first that drops it wins, and
the delays of the latency stages add up. A :class:`NatTable` keeps the NAT bindings and
says when the next one expires (``next_deadline``), for the relay to arm one timer.

Randomness is per stage and per direction (``random.Random(f"{seed}/{direction}")``):
what happens to the n-th datagram to the server depends only on the seed and n, never on
how the two directions interleave, so a run repeats.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from testbed.sip import Transport

from ._log import FAULT_LOG_LIMIT, HostPort
from ._spec import FaultSpec

TO_SERVER, TO_CLIENT = "to-server", "to-client"
UDP_HEADER = 8
IP_HEADER = {4: 20, 6: 40}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one packet: ``dropped`` (the reason) or forward after ``delay``."""

    dropped: str | None = None
    by: str = ""
    delay: float = 0.0
    delayed_by: str = ""


class Stage:
    """One fault acting packet by packet. Subclasses implement :meth:`judge`."""

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.directions = frozenset(spec.directions())
        self.transports = frozenset(spec.transports)

    def applies(self, transport: Transport, direction: str) -> bool:
        return transport in self.transports and direction in self.directions

    def judge(self, direction: str, size: int) -> tuple[str | None, float]:
        """``(reason it is dropped or None, delay in seconds)``."""
        raise NotImplementedError  # pragma: no cover


class FirewallDrop(Stage):
    def judge(self, direction: str, size: int) -> tuple[str | None, float]:
        return f"firewall drops {direction} traffic", 0.0


class MtuLimit(Stage):
    """A datagram passes when ``size + 8 (UDP) + 20 (IPv4) or 40 (IPv6) <= mtu``."""

    def __init__(self, spec: FaultSpec, ip_version: int = 4) -> None:
        super().__init__(spec)
        self.mtu = spec.mtu
        self.headers = UDP_HEADER + IP_HEADER[ip_version]
        self.ip_version = ip_version
        self.max_payload = self.mtu - self.headers

    def judge(self, direction: str, size: int) -> tuple[str | None, float]:
        if size <= self.max_payload:
            return None, 0.0
        return (f"larger than the path MTU: {size} bytes of UDP payload + {self.headers} "
                f"bytes of UDP/IPv{self.ip_version} headers = {size + self.headers} > "
                f"{self.mtu}"), 0.0


class Loss(Stage):
    """Drops the datagrams numbered in ``drop``, or each with probability ``fraction``."""

    def __init__(self, spec: FaultSpec, seed: int) -> None:
        super().__init__(spec)
        self.pattern = frozenset(spec.drop)
        self.fraction = spec.fraction
        self.rngs = {d: random.Random(f"{seed}/{d}") for d in (TO_SERVER, TO_CLIENT)}
        self.seen = {TO_SERVER: 0, TO_CLIENT: 0}
        # the numbers of the last datagrams dropped each way (a bounded record)
        self.dropped: dict[str, deque[int]] = {TO_SERVER: deque(maxlen=FAULT_LOG_LIMIT),
                                               TO_CLIENT: deque(maxlen=FAULT_LOG_LIMIT)}

    def judge(self, direction: str, size: int) -> tuple[str | None, float]:
        self.seen[direction] += 1
        number = self.seen[direction]
        if self.fraction is not None:
            lost = self.rngs[direction].random() < self.fraction  # one draw per datagram
            why = f"random loss ({self.fraction:.0%}), datagram #{number} {direction}"
        else:
            lost = number in self.pattern
            why = f"loss pattern {sorted(self.pattern)}: datagram #{number} {direction}"
        if lost:
            self.dropped[direction].append(number)
            return why, 0.0
        return None, 0.0


class Latency(Stage):
    """Holds each packet ``delay`` ± a uniform draw within ``jitter``."""

    def __init__(self, spec: FaultSpec, seed: int) -> None:
        super().__init__(spec)
        self.delay = spec.delay
        self.jitter = spec.jitter
        self.rngs = {d: random.Random(f"{seed}/{d}") for d in (TO_SERVER, TO_CLIENT)}

    def judge(self, direction: str, size: int) -> tuple[str | None, float]:
        if not self.jitter:
            return None, self.delay
        return None, max(0.0, self.delay + self.rngs[direction].uniform(-self.jitter,
                                                                         self.jitter))


@dataclass
class Pipeline:
    """The packet-by-packet stages of a fault, in the order they were listed."""

    stages: list[Stage] = field(default_factory=list)

    def judge(self, transport: Transport, direction: str, size: int) -> Verdict:
        delay = 0.0
        delayed_by: list[str] = []
        for stage in self.stages:
            if not stage.applies(transport, direction):
                continue
            dropped, extra = stage.judge(direction, size)
            if dropped is not None:
                return Verdict(dropped, stage.name)
            if extra:
                delay += extra
                delayed_by.append(stage.name)
        return Verdict(None, "", delay, "+".join(delayed_by))


def stage_for(spec: FaultSpec, seed: int, ip_version: int = 4) -> Stage:
    """The :class:`Stage` of a packet-by-packet fault."""
    if spec.kind == "firewall":
        return FirewallDrop(spec)
    if spec.kind == "mtu":
        return MtuLimit(spec, ip_version)
    if spec.kind == "loss":
        return Loss(spec, seed)
    if spec.kind == "latency":
        return Latency(spec, seed)
    raise ValueError(f"{spec.kind} is not a packet-by-packet fault")


# -- NAT ----------------------------------------------------------------------------------


@dataclass
class Binding:
    """A NAT mapping: ``internal`` (the client) is seen outside as ``external``."""

    internal: HostPort
    external: HostPort
    created: float
    refreshed: float
    expired_at: float | None = None
    number: int = 0

    @property
    def live(self) -> bool:
        return self.expired_at is None


EXPIRED_KEPT = 1000
"""Expired NAT bindings a :class:`NatTable` remembers (the last ones), so that packets
to their old external ports are recognised as "no binding"; older ones are released."""


class NatTable:
    """Bindings that expire ``timeout`` seconds after their last refresh.

    Outbound packets (client to server) refresh a binding; with ``refresh="both"``
    inbound ones do too. ``timeout=None`` keeps bindings for ever (a plain relay).
    The last ``keep_expired`` expired bindings are kept, so that inbound packets to
    their old external port are recognised and dropped as "no binding"; :meth:`release`
    gives back the older ones, whose external ports the relay may close.
    """

    def __init__(self, timeout: float | None = None, refresh: str = "outbound", *,
                 keep_expired: int = EXPIRED_KEPT) -> None:
        self.timeout = timeout
        self.refresh = refresh
        self.keep_expired = keep_expired
        self._by_internal: dict[HostPort, Binding] = {}
        self._by_external: dict[HostPort, Binding] = {}
        self._expired: deque[Binding] = deque()
        self.made = 0

    def expire(self, now: float) -> list[Binding]:
        """Forget every binding idle for ``timeout`` or more; returns them."""
        if self.timeout is None:
            return []
        gone = [b for b in self._by_internal.values()
                if now >= b.refreshed + self.timeout]
        for binding in gone:
            binding.expired_at = binding.refreshed + self.timeout
            del self._by_internal[binding.internal]
            self._expired.append(binding)
        return gone

    def release(self) -> list[Binding]:
        """The expired bindings beyond the last ``keep_expired``, forgotten for good."""
        released = []
        while len(self._expired) > self.keep_expired:
            binding = self._expired.popleft()
            if self._by_external.get(binding.external) is binding:
                del self._by_external[binding.external]
                released.append(binding)
        return released

    def discard(self, binding: Binding) -> None:
        """Forget ``binding`` now, live or expired (its TCP connection closed)."""
        if self._by_internal.get(binding.internal) is binding:
            del self._by_internal[binding.internal]
        if self._by_external.get(binding.external) is binding:
            del self._by_external[binding.external]

    def live(self, internal: HostPort) -> Binding | None:
        return self._by_internal.get(internal)

    def outbound(self, internal: HostPort, now: float) -> Binding | None:
        """The live binding of ``internal``, refreshed; ``None`` when it has none."""
        binding = self._by_internal.get(internal)
        if binding is not None:
            binding.refreshed = now
        return binding

    def add(self, internal: HostPort, external: HostPort, now: float) -> Binding:
        self.made += 1
        binding = Binding(internal, external, now, now, number=self.made)
        self._by_internal[internal] = binding
        self._by_external[external] = binding
        return binding

    def inbound(self, external: HostPort, now: float) -> Binding | None:
        """The live binding behind ``external``; ``None`` if it expired or never was."""
        binding = self._by_external.get(external)
        if binding is None or not binding.live:
            return None
        if self.refresh == "both":
            binding.refreshed = now
        return binding

    def known(self, external: HostPort) -> Binding | None:
        """The binding (live or expired) that ``external`` belongs to."""
        return self._by_external.get(external)

    def next_deadline(self) -> float | None:
        if self.timeout is None or not self._by_internal:
            return None
        return min(b.refreshed for b in self._by_internal.values()) + self.timeout

    def __iter__(self) -> Iterator[Binding]:
        return iter(self._by_external.values())
